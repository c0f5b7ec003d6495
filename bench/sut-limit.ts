// The limit: the same echo written by hand with nothing but node:http in and one undici Pool out
// (secret check, JSON.parse, one sendMessage POST). No framework, store or library can beat it
// on this machine, so every other row is also read as a share of it.
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { env, ready, webhookByHand } from './sut.js';

interface Update {
  message?: { message_id: number; chat: { id: number }; text?: string };
}

const api = new Pool(env.apiRoot, { keepAliveTimeout: 60_000 });
const sendMessage = `/bot${env.token}/sendMessage`;

const server = createServer((req, res) =>
  webhookByHand(req, res, (body) => {
    const { message } = JSON.parse(body) as Update;
    res.writeHead(200).end();
    if (!message?.text) return;
    const text = message.text.startsWith('/echo ') ? message.text.slice('/echo '.length) : message.text;
    api.request({ method: 'POST', path: sendMessage, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat_id: message.chat.id, text, reply_parameters: { message_id: message.message_id } }) }).then(
      (answer) => answer.body.dump(),
      (error: Error) => console.error(`sendMessage failed: ${error.message}`),
    );
  }),
);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
