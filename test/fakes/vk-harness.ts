// The VK end-to-end tests' shared setup: two communities on one fake VK, the real adapter, and a
// runtime started from YAML with short retry waits (the core's delivery policy, and autoSetup's);
// stopVk stops what a test started.

import { VkAdapter } from '../../adapters/vk/index.js';
import { vkConfig } from '../../adapters/vk/schema.js';
import { defineAdapter, type AdapterDefinition } from '../../src/adapter.js';
import type { RetryPolicy } from '../../src/delivery/retry.js';
import { defineBot, type Bot } from '../../src/bot/bot.js';
import type { Message } from '../../src/message.js';
import { definitions } from '../../src/runtime/registry.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { startRuntime, waitFor, type LogLine } from '../helpers.js';
import { FakeVK, type FakeCommunity } from './vk.js';

export const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201ee9c8a9b0000000049454e44ae426082', 'hex');

export const alpha: FakeCommunity = { groupId: 123456, token: `vk1.a.${'A1'.repeat(40)}`, confirmation: 'a1b2c3d4', secret: 'alphaSecret1' };
export const beta: FakeCommunity = { groupId: 654321, token: `vk1.a.${'B2'.repeat(40)}`, confirmation: 'ffee0099', secret: 'betaSecret2' };

/** autoSetup's calls tried again within milliseconds. */
export const fastRetry: RetryPolicy = { attempts: 4, initialDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 2000 };

/** The real adapter, its autoSetup retrying within milliseconds. */
export const fastVk = defineAdapter({ type: 'vk', configSchema: vkConfig, create: (config) => new VkAdapter(config, { setupRetry: fastRetry }) });

/** The core's delivery policy, shortened: four tries within milliseconds, then a dead letter. */
export const fastDelivery = 'delivery:\n  attempts: 4\n  initialDelay: 10ms\n  maxDelay: 50ms\n';

/** What a test started; stopVk (afterEach) stops it. */
export const running: { runtime?: Runtime; fake?: FakeVK } = {};

export async function stopVk(): Promise<void> {
  await running.runtime?.stop();
  await running.fake?.stop();
  running.runtime = running.fake = undefined;
}

/** `storePath`: the store file, for a test that restarts Switchboard on it (see restart()). */
export async function vk(options: { bot?: Bot; extra?: string; platformExtra?: string; communityExtra?: string; storePath?: string } = {}) {
  const f = (running.fake = await new FakeVK([alpha, beta]).start());
  const community = (c: FakeCommunity) => `      - { groupId: ${c.groupId}, token: "${c.token}", confirmation: "${c.confirmation}", secret: "${c.secret}"${options.communityExtra ?? ''} }\n`;
  const yaml = `${fastDelivery}${options.extra ?? ''}platforms:\n  - id: vk\n    type: vk\n    apiRoot: ${f.apiRoot}\n${options.platformExtra ?? ''}    communities:\n${community(alpha)}${community(beta)}`;
  const start = async () => {
    const started = await startRuntime(yaml, { bot: options.bot, definitions: withVk(), storePath: options.storePath });
    running.runtime = started.runtime;
    const hook = `${started.url}/webhooks/vk`;
    return { fake: f, url: started.url, hook, logs: started.logs, deliver: (body: object, opts?: Parameters<FakeVK['deliver']>[2]) => f.deliver(hook, body, opts) };
  };
  const started = await start();
  /** Stops Switchboard and starts it again on the same store file, against the same fake VK. */
  const restart = async () => {
    await running.runtime?.stop();
    return start();
  };
  return { ...started, restart };
}

export const sentCount = (f: FakeVK, n: number) => waitFor(() => f.sent.length >= n && f.sent, 4000, `${n} messages at the fake`);

export function recordingBot(seen: Message[]) {
  return defineBot((b) => {
    b.on('message', (ctx) => {
      seen.push(ctx.message);
      // Back what was said, mentions included (quotes are the reply's own business).
      const said = ctx.message.content.filter((s) => s.type !== 'quote');
      if (said.length > 0) ctx.reply(said);
    });
  });
}

export const secretsIn = (logs: LogLine[]) => JSON.stringify(logs).match(/vk1\.a\.|alphaSecret1|betaSecret2/g);

/** Every platform but VK, plus the given VK definition. */
export const withVk = (vk: typeof fastVk = fastVk) => [...definitions.filter((d) => d.type !== 'vk'), vk as unknown as AdapterDefinition];
