// Lark in websocket mode: the SDK's real long-connection client against the fake's
// /callback/ws/endpoint and protobuf frames -> echo bot -> the reply at the fake open API.

import { afterEach, describe, expect, it } from 'vitest';
import { defineBot, type Bot } from '../src/bot/bot.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { FakeLark, messageEvent, textEvent } from './fakes/lark.js';
import { startRuntime, waitFor } from './helpers.js';

const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

let runtime: Runtime | undefined;
let fake: FakeLark | undefined;
afterEach(async () => {
  await runtime?.stop();
  await fake?.stop();
  runtime = fake = undefined;
});

async function larkWebsocket(bot?: Bot) {
  const f = (fake = await new FakeLark().start());
  const started = await startRuntime(`platforms:\n  - { id: lark, type: lark, domain: "${f.url}", appId: "${f.appId}", appSecret: "${f.appSecret}", mode: websocket }\n`, { bot });
  runtime = started.runtime;
  // Ready once the SDK's client has its frame handler in place (frames sent before that are lost).
  await waitFor(() => started.logs.some((l) => l.msg === 'Lark long connection open'), 4000, 'the long connection');
  return { fake: f, logs: started.logs };
}

describe('lark websocket mode (long connection)', () => {
  it('receives events as protobuf frames, ACKs them with code 200, and the echo reaches the fake', async () => {
    const { fake: f } = await larkWebsocket();
    expect(f.endpointRequests).toBe(1);
    const ping = textEvent(f, '/ping');
    const image = messageEvent(f, 'image', { image_key: 'img_v3_ws' }, { chatId: 'oc_p2p0000000000000000000000000002' });
    f.addResource(image.event.message.message_id, 'img_v3_ws', 'image', png, 'image/png');
    const frameIds = [f.ws.pushEvent(ping), f.ws.pushEvent(image)];
    const sent = await waitFor(() => f.sent.length >= 2 && f.sent, 4000, 'two replies');
    const byTarget = Object.fromEntries(sent.map((s) => [s.target, [s.msgType, s.content]]));
    expect(byTarget[ping.event.message.message_id]).toEqual(['text', { text: 'pong' }]);
    expect(byTarget[image.event.message.message_id]).toEqual(['image', { image_key: f.uploads[0]!.key }]);
    expect(f.uploads[0]!.bytes.equals(png)).toBe(true);
    const acks = await waitFor(() => f.ws.acks.length >= 2 && f.ws.acks, 2000, 'two ACKs');
    expect(acks.map((a) => a.messageId).sort()).toEqual([...frameIds].sort());
    expect(acks.every((a) => a.body.code === 200 && a.headers.biz_rt !== undefined)).toBe(true);
  });

  it('ACKs an event while the handler is still working, and the reply follows when it is done', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const bot = defineBot((b) =>
      b.on('message', async (ctx) => {
        await gate;
        return ctx.reply('done');
      }),
    );
    const { fake: f } = await larkWebsocket(bot);
    const frameId = f.ws.pushEvent(textEvent(f, 'slow work'));
    const [ack] = await waitFor(() => f.ws.acks.length >= 1 && f.ws.acks, 1000, 'the ACK');
    expect(ack).toMatchObject({ messageId: frameId, body: { code: 200 } });
    expect(f.sent).toEqual([]);
    release();
    const [sent] = await waitFor(() => f.sent.length >= 1 && f.sent, 2000, 'the reply');
    expect(sent!.content).toEqual({ text: 'done' });
  });

  it('handles an event Lark pushes twice (same message_id) once', async () => {
    const { fake: f } = await larkWebsocket();
    const event = textEvent(f, '/ping');
    f.ws.pushEvent(event);
    f.ws.pushEvent(textEvent(f, '/ping', { messageId: event.event.message.message_id }));
    await waitFor(() => f.ws.acks.length >= 2, 2000, 'two ACKs');
    await waitFor(() => f.sent.length >= 1, 2000, 'the reply');
    await new Promise((r) => setTimeout(r, 150));
    expect(f.sent).toHaveLength(1);
  });

  it('leaves an event it cannot take unacknowledged (code 500), so Lark pushes it again, and then handles it once', async () => {
    const { fake: f } = await larkWebsocket();
    const { inbox } = runtime!.store;
    const admit = inbox.admit.bind(inbox);
    inbox.admit = () => Promise.reject(new Error('disk I/O error'));
    const event = textEvent(f, '/ping');
    const refused = f.ws.pushEvent(event);
    const [nack] = await waitFor(() => f.ws.acks.length >= 1 && f.ws.acks, 2000, 'the refusal');
    expect(nack).toMatchObject({ messageId: refused, body: { code: 500 } });
    inbox.admit = admit;
    const again = f.ws.pushEvent(event);
    const acks = await waitFor(() => f.ws.acks.length >= 2 && f.ws.acks, 2000, 'the second ACK');
    expect(acks[1]).toMatchObject({ messageId: again, body: { code: 200 } });
    f.ws.pushEvent(textEvent(f, 'after'));
    const sent = await waitFor(() => f.sent.length >= 2 && f.sent, 2000, 'both replies');
    expect(sent.map((s) => s.content.text)).toEqual(['pong', 'after']);
  });

  it('stops retrying, and says why, when Lark refuses the credentials', async () => {
    const f = (fake = await new FakeLark().start());
    const started = await startRuntime(`platforms:\n  - { id: lark, type: lark, domain: "${f.url}", appId: "${f.appId}", appSecret: "not-the-app-secret", mode: websocket }\n`);
    runtime = started.runtime;
    const line = await waitFor(() => started.logs.find((l) => l.msg === 'connection failed for good; not retrying'), 4000, 'the fatal log line');
    expect(line.err).toMatch(/code=514.*check appId and appSecret/);
    await new Promise((r) => setTimeout(r, 200));
    expect(f.endpointRequests).toBe(1);
    expect(f.ws.connections).toBe(0);
    expect(JSON.stringify(started.logs)).not.toContain('not-the-app-secret');
  });

  it('keeps retrying, with backoff, while Lark answers the endpoint with "system busy" or too many connections', async () => {
    const f = (fake = await new FakeLark().start());
    f.endpointRefusals.push({ code: 1, msg: 'system busy' }, { code: 1000040350, msg: 'exceed connection limit' });
    const started = await startRuntime(`platforms:\n  - { id: lark, type: lark, domain: "${f.url}", appId: "${f.appId}", appSecret: "${f.appSecret}", mode: websocket }\n`);
    runtime = started.runtime;
    await waitFor(() => started.logs.some((l) => l.msg === 'Lark long connection open'), 6000, 'the long connection');
    expect(f.endpointRequests).toBe(3);
    expect(started.logs.some((l) => l.msg === 'connection failed for good; not retrying')).toBe(false);
    const event = textEvent(f, '/ping');
    f.ws.pushEvent(event);
    await waitFor(() => f.sent.length >= 1, 2000, 'the reply');
  });

  it('reconnects a dropped socket and goes on receiving', async () => {
    const { fake: f, logs } = await larkWebsocket();
    f.ws.drop();
    await waitFor(() => f.ws.connected && f.ws.connections === 2, 4000, 'a second connection');
    await waitFor(() => logs.some((l) => l.msg === 'Lark long connection re-established'), 2000, 'the reconnect log line');
    f.ws.pushEvent(textEvent(f, '/ping'));
    const [sent] = await waitFor(() => f.sent.length >= 1 && f.sent, 2000, 'the reply');
    expect(sent!.content).toEqual({ text: 'pong' });
    expect(f.endpointRequests).toBe(2);
    // The connect URL carries a short-lived access key and ticket: never logged.
    expect(JSON.stringify(logs)).not.toMatch(/access_key|ticket=/);
  });

  it('closes the long connection on stop', async () => {
    const { fake: f } = await larkWebsocket();
    await runtime!.stop();
    runtime = undefined;
    await waitFor(() => !f.ws.connected, 2000, 'the socket to close');
  });
});
