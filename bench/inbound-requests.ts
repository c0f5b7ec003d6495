// The webhook platforms of the inbound bench: the `platforms:` entry pointing Switchboard at the
// project's fakes (test/every-platform.ts), and requests signed, encrypted and shaped as each
// platform sends them, built before the clock starts. Where a fake has a sender (`deliver`,
// `callback`), its fetch is captured instead of sent: the bench replays exactly what the tests POST.
// Every request carries a dedup key of its own (update_id, event id, msg id …) and one of 1,000
// users, so the store's dedup does real work and the chats are many.

import { everyPlatform, type EveryFake } from '../test/every-platform.js';
import { robotText } from '../testing/fakes/wecom.js';
import { messageEvent } from '../testing/fakes/lark.js';
import { groupAt } from '../testing/fakes/qq.js';
import { c2c, text } from '../testing/fakes/tencent-im.js';
import { messageNew } from '../testing/fakes/vk.js';
import { community } from '../test/every-platform.js';

export interface Prebuilt {
  /** Path and query, on the system's own address. */
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface InboundPlatform {
  key: string;
  /** What the request proves, as the row names it. */
  name: string;
  /** The `platforms:` entry. */
  config: string;
  build(count: number): Promise<Prebuilt[]>;
}

const users = 1000;
const tgSecret = 'bench-inbound-secret';
const apiKey = 'sk-bench-inbound-0123456789abcdef';
/** Where the captured senders post; only the path and query are kept. */
const base = 'http://sut.invalid';

let serial = 0;

/** Runs `send` with fetch recording instead of sending: the request a fake's sender makes. */
async function captured(count: number, send: (i: number) => Promise<unknown>): Promise<Prebuilt[]> {
  const requests: Prebuilt[] = [];
  const real = globalThis.fetch;
  globalThis.fetch = (async (url: string | URL, init: RequestInit) => {
    const { pathname, search } = new URL(String(url));
    requests.push({ path: pathname + search, headers: init.headers as Record<string, string>, body: String(init.body) });
    return new Response('{}', { status: 200 });
  }) as typeof fetch;
  try {
    for (let i = 0; i < count; i++) await send(i);
  } finally {
    globalThis.fetch = real;
  }
  return requests;
}

function entry(f: EveryFake, id: string, keyFile: string): string {
  const line = everyPlatform(f, { apiKey, keyFile }).find((l) => l.startsWith(`  - { id: ${id},`));
  if (!line) throw new Error(`test/every-platform.ts has no platform ${id}`);
  return line;
}

/** The platforms, against started fakes `f` (`keyFile`: where the HTTP endpoint keeps its key). */
export function inboundPlatforms(f: EveryFake, keyFile: string): InboundPlatform[] {
  return [
    {
      key: 'tg',
      name: 'Telegram, secret header',
      config: `  - { id: tg, type: telegram, token: "${f.telegram.token}", apiRoot: "${f.telegram.url}", mode: webhook, secretToken: ${tgSecret}, limits: false }`,
      build: async (count) =>
        Array.from({ length: count }, (_, i) => {
          const id = ++serial;
          const chat = { id: 10_000 + (i % users), type: 'private', first_name: 'Bench' };
          return {
            path: '/webhooks/tg',
            headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': tgSecret },
            body: JSON.stringify({ update_id: id, message: { message_id: id, date: 1_700_000_000, chat, from: { id: chat.id, is_bot: false, first_name: 'Bench' }, text: `message ${i}` } }),
          };
        }),
    },
    {
      key: 'qq',
      name: 'QQ, Ed25519 signature',
      config: entry(f, 'qq', keyFile),
      build: (count) => captured(count, (i) => f.qq.deliver(`${base}/webhooks/qq`, groupAt(`message ${i}`, { member: `MEMBER${i % users}` }))),
    },
    {
      key: 'lark',
      name: 'Lark, signature + AES',
      config: entry(f, 'lark', keyFile),
      build: (count) =>
        captured(count, (i) => {
          const event = messageEvent(f.lark, 'text', { text: `message ${i}` });
          event.event.sender.sender_id = { open_id: `ou_bench${i % users}`, union_id: '', user_id: '' };
          return f.lark.deliver(`${base}/webhooks/lark`, event);
        }),
    },
    {
      key: 'wecom',
      name: 'WeCom, signature + AES',
      config: entry(f, 'wecom', keyFile),
      build: (count) => captured(count, (i) => f.wecom.deliver(`${base}/webhooks/wecom`, robotText(f.wecom.webhookUrl, `message ${i}`, { chatType: 'single', userId: `user${i % users}`, chatId: `chat${i % users}` }), { receiveId: '' })),
    },
    {
      key: 'vk',
      name: 'VK, secret',
      config: entry(f, 'vk', keyFile),
      build: (count) => captured(count, (i) => f.vk.deliver(`${base}/webhooks/vk`, messageNew(community, `message ${i}`, { fromId: 5000 + (i % users) }))),
    },
    {
      key: 'tim',
      name: 'Tencent IM, sign',
      config: entry(f, 'tim', keyFile),
      build: (count) => captured(count, (i) => f.tim.callback(`${base}/webhooks/tim`, 'C2C.CallbackAfterSendMsg', c2c(`user${i % users}`, f.tim.bot, [text(`message ${i}`)]))),
    },
    {
      key: 'api',
      name: 'HTTP endpoint, API key',
      config: entry(f, 'api', keyFile),
      build: async (count) =>
        Array.from({ length: count }, (_, i) => ({
          path: '/api/plug/v1/chat',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
          body: JSON.stringify({ msg_id: `bench-${++serial}`, type: 'text', query: `message ${i}`, sender_id: `user${i % users}`, wait: 0 }),
        })),
    },
  ];
}
