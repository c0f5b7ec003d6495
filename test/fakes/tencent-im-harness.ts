// A runtime with one Tencent IM platform pointed at a fresh FakeTencentIM, for the end-to-end
// test files: `tim()` starts both, `stopAll()` (in afterEach) stops whatever was started.

import type { Bot } from '../../src/bot/bot.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { startRuntime, waitFor } from '../helpers.js';
import { FakeTencentIM, type CallbackOptions } from './tencent-im.js';

/** The core's retry policy, fast: a failing send is tried four times within a fraction of a second. */
export const fastDelivery = 'delivery: { attempts: 4, initialDelay: 10ms, maxDelay: 50ms }\n';

const running: { stop(): Promise<void> }[] = [];

export async function stopAll(): Promise<void> {
  for (const thing of running.splice(0).reverse()) await thing.stop();
}

/** Stops `thing` after the test, with everything tim() started. */
export function cleanUp<T extends { stop(): Promise<void> }>(thing: T): T {
  running.push(thing);
  return thing;
}

/**
 * A runtime and a fake. `yaml` is added to the config (the fast `delivery:` policy unless it
 * says its own); `storePath` reuses a store file, as a restart would; `fake` reuses a fake.
 */
export async function tim(options: { bot?: Bot; extra?: string; yaml?: string; storePath?: string; fake?: FakeTencentIM } = {}) {
  const f = options.fake ?? cleanUp(await new FakeTencentIM().start());
  const extraYaml = options.yaml ?? '';
  const yaml = `platforms:\n  - { id: tim, type: tencent-im, sdkAppId: ${f.sdkAppId}, secretKey: "${f.secretKey}", adminIdentifier: ${f.admin}, botAccount: ${f.bot}, callbackToken: "${f.callbackToken}", apiRoot: "${f.url}"${options.extra ?? ''} }\n${/^delivery:/m.test(extraYaml) ? '' : fastDelivery}${extraYaml}`;
  const started = await startRuntime(yaml, { bot: options.bot, ...(options.storePath ? { storePath: options.storePath } : {}) });
  const runtime: Runtime = cleanUp(started.runtime);
  const hook = `${started.url}/webhooks/tim`;
  const post = (command: string, body: object, opts?: CallbackOptions) => f.callback(hook, command, body, opts);
  return { fake: f, runtime, url: started.url, logs: started.logs, post };
}

export const sentCount = (f: FakeTencentIM, n: number) => waitFor(() => f.sent.length >= n && f.sent, 4000, `${n} messages at the fake`);
export const okAnswer = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };
