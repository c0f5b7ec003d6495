// A runtime with one Tencent IM platform pointed at a fresh FakeTencentIM, for the end-to-end
// test files: `tim()` starts both, `stopAll()` (in afterEach) stops whatever was started.

import tencentIm, { TencentImAdapter } from '../../adapters/tencent-im/index.js';
import { defineAdapter, type AdapterDefinition } from '../../src/adapter.js';
import type { Bot } from '../../src/bot/bot.js';
import { definitions } from '../../src/runtime/registry.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { startRuntime, waitFor } from '../helpers.js';
import { FakeTencentIM, type CallbackOptions } from './tencent-im.js';

/** The adapter with short backoff, so rate-limit tests take milliseconds. */
const fastTim = defineAdapter({ ...tencentIm, create: (config) => new TencentImAdapter(config, { userSigTtlMs: 86_400_000, backoffMs: 20 }) }) as unknown as AdapterDefinition;

const running: { stop(): Promise<void> }[] = [];

export async function stopAll(): Promise<void> {
  for (const thing of running.splice(0).reverse()) await thing.stop();
}

/** Stops `thing` after the test, with everything tim() started. */
export function cleanUp<T extends { stop(): Promise<void> }>(thing: T): T {
  running.push(thing);
  return thing;
}

export async function tim(options: { bot?: Bot; extra?: string; yaml?: string } = {}) {
  const f = cleanUp(await new FakeTencentIM().start());
  const yaml = `platforms:\n  - { id: tim, type: tencent-im, sdkAppId: ${f.sdkAppId}, secretKey: "${f.secretKey}", adminIdentifier: ${f.admin}, botAccount: ${f.bot}, callbackToken: "${f.callbackToken}", apiRoot: "${f.url}"${options.extra ?? ''} }\n${options.yaml ?? ''}`;
  const started = await startRuntime(yaml, { bot: options.bot, definitions: [...definitions.filter((d) => d.type !== 'tencent-im'), fastTim] });
  const runtime: Runtime = cleanUp(started.runtime);
  const hook = `${started.url}/webhooks/tim`;
  const post = (command: string, body: object, opts?: CallbackOptions) => f.callback(hook, command, body, opts);
  return { fake: f, runtime, url: started.url, logs: started.logs, post };
}

export const sentCount = (f: FakeTencentIM, n: number) => waitFor(() => f.sent.length >= n && f.sent, 4000, `${n} messages at the fake`);
export const okAnswer = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };
