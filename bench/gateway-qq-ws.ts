// The ceiling of the QQ gateway row: a bare `ws` client that takes a token, identifies with the
// intents Switchboard asks for, heartbeats, and JSON.parses every frame, counting the messages.
import WebSocket from 'ws';
import { gatewayEnv, reached } from './gateway-sut.js';

const { url, appId, appSecret } = gatewayEnv.qq;
const messages = new Set(['AT_MESSAGE_CREATE', 'GROUP_AT_MESSAGE_CREATE']);
const { access_token: token } = (await (await fetch(`${url}/app/getAppAccessToken`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ appId, clientSecret: appSecret }) })).json()) as { access_token: string };
const headers = { authorization: `QQBot ${token}`, 'x-union-appid': appId };
const { url: gateway } = (await (await fetch(`${url}/gateway/bot`, { headers })).json()) as { url: string };
const socket = new WebSocket(gateway);
let seq: number | null = null;
socket.on('message', (data: Buffer) => {
  const frame = JSON.parse(data.toString()) as { op: number; s?: number; t?: string; d?: { heartbeat_interval?: number } };
  if (frame.s !== undefined) seq = frame.s;
  if (frame.op === 0 && messages.has(frame.t!)) reached();
  else if (frame.op === 10) {
    socket.send(JSON.stringify({ op: 2, d: { token: `QQBot ${token}`, intents: (1 << 30) | (1 << 25), shard: [0, 1] } }));
    setInterval(() => socket.send(JSON.stringify({ op: 1, d: seq })), frame.d!.heartbeat_interval!).unref();
  }
});
