// The operator console in a real Chromium, as an operator uses it: log in, watch sandbox messages
// arrive with their stages, open one to see what its callback was sent and answered, see a
// callback's refusal, restart a Telegram connection (against the fake Bot API) and send a dead
// letter again. One browser for the file.

import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { CallbackServer } from './fakes/callback-server.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { launch, type TestBrowser } from './browser.js';
import { startWithConsole } from './console-helpers.js';

const token = 'browser-test-console-token';
const signing = `whsec_${Buffer.from('a callback signing key').toString('base64')}`;

const telegram = new FakeTelegram();
const callbacks = new CallbackServer().on('onMessage', (ctx, body) => {
  if (String(body.message.text).includes('forbidden')) {
    ctx.status = 403;
    ctx.body = 'Not allowed here.';
  } else ctx.status = 204;
});
let runtime: Runtime;
let url = '';
let browser: TestBrowser;
let page: Page;

beforeAll(async () => {
  await Promise.all([telegram.start(), callbacks.start()]);
  const yaml = [
    'delivery: { attempts: 1 }',
    'platforms:',
    '  - { id: sandbox, type: sandbox }',
    `  - { id: tg, type: telegram, token: "${telegram.token}", apiRoot: "${telegram.url}", pollTimeout: 1 }`,
    'callbacks:',
    `  onMessage: { url: "${callbacks.url}/onMessage", secret: "${signing}", platforms: [sandbox] }`,
    `console: { token: ${token} }`,
  ].join('\n');
  ({ runtime, url } = await startWithConsole(yaml, { sampleMs: 500 }));
  browser = await launch();
  page = browser.page;
  page.setDefaultTimeout(8000);
  page.on('pageerror', (e) => console.error('[page error]', e.message));
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
  await Promise.all([telegram.stop(), callbacks.stop()]);
});

async function say(text: string, chat = 'dm:ops'): Promise<void> {
  const res = await fetch(`${url}/sandbox/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat: { id: chat, type: 'direct' }, user: { id: 'ops', name: 'Ops' }, text }) });
  expect(res.status).toBeLessThan(300);
}

const row = (text: string) => page.locator('li.row', { hasText: text });

describe('operator console (Chromium)', () => {
  it('refuses a wrong token, logs in with the right one', async () => {
    await page.goto(`${url}/console`);
    await page.waitForURL(/\/console\/login$/);
    await page.fill('#token', 'not the token at all');
    await page.click('button[type=submit]');
    await page.getByRole('alert').filter({ hasText: 'not the console token' }).waitFor();
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/console$/);
    await page.locator('.live.on').waitFor();
  });

  it('shows messages as they arrive, with each stage, the handler and the delivery', async () => {
    await say('hello console');
    await say('second message');
    const first = row('hello console');
    await first.locator('.chip', { hasText: 'answered' }).waitFor();
    const chips = await first.locator('.chip').allTextContents();
    expect(chips[0]).toMatch(/^onMessage 204 [\d.]+ms continue$/);
    expect(chips.some((c) => /^handler [\d.]+ms ok$/.test(c))).toBe(true);
    expect(chips.some((c) => /^delivery ok \S+/.test(c))).toBe(true);
    await row('second message').locator('.chip', { hasText: 'answered' }).waitFor();
    // What the callback got is what docs/callback-payload.schema.json says, the console's config (token masked) included.
    const ajv = new Ajv2020.default({ allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(new URL('../docs/callback-payload.schema.json', import.meta.url), 'utf8')) as object);
    const payload = callbacks.received.find((r) => r.body.message?.text === 'hello console')!.body;
    expect(validate(payload) ? [] : validate.errors).toEqual([]);
    expect(payload.config.console).toEqual({ token: '********', localOnly: false, events: 1000, eventBytes: 32768 });
    // Filters: a search narrows the list; the keyboard reaches it with "/".
    await page.keyboard.press('/');
    await page.keyboard.type('second');
    await expect.poll(() => page.locator('li.row').count()).toBe(1);
    await page.fill('input[type=search]', '');
  });

  it('a callback that refuses shows as stopped; its detail has the payload sent and the reply, secrets masked', async () => {
    await say('something forbidden');
    const refused = row('something forbidden');
    await refused.locator('.chip.stop', { hasText: 'onMessage 403' }).waitFor();
    await refused.locator('.chip', { hasText: 'rejected' }).waitFor();
    // Opened from the keyboard.
    await refused.locator('button.open').focus();
    await page.keyboard.press('Enter');
    const stage = page.locator('section.stage[data-stage=onMessage]');
    await stage.waitFor();
    expect(await stage.locator('h3').textContent()).toMatch(/onMessage: 403 · [\d.]+ ms · stopped/);
    expect(await stage.locator('pre.reply-body').textContent()).toBe('Not allowed here.');
    const sent = await stage.locator('pre').nth(1).textContent();
    expect(JSON.parse(sent!)).toMatchObject({ stage: 'onMessage', message: { text: 'something forbidden' } });
    const headers = await stage.locator('pre.headers').first().textContent();
    expect(headers).toContain('webhook-signature: ********');
    expect(await page.content()).not.toContain(token);
    // The user saw the refusal: its delivery is there with the platform's id.
    await page.locator('section.block h3', { hasText: /Delivery .*: ok/ }).waitFor();
    expect(await page.locator('pre.logs').textContent()).toContain('message handled');
    await page.keyboard.press('Escape');
    await row('hello console').waitFor();
  });

  it('restarts a connection', async () => {
    await page.click('nav >> text=Connections');
    const connection = page.locator('tr[data-connection="telegram:tg:polling"]');
    await connection.locator('td.state', { hasText: 'up' }).waitFor({ timeout: 10_000 });
    const polls = telegram.calls.filter((c) => c.method === 'getUpdates').length;
    await connection.locator('button', { hasText: 'Restart' }).click();
    await page.getByRole('status').filter({ hasText: 'telegram:tg:polling: restarting' }).waitFor();
    // A new session: it polls again at once and is up, its "since" reset.
    await expect.poll(() => telegram.calls.filter((c) => c.method === 'getUpdates').length, { timeout: 10_000 }).toBeGreaterThan(polls);
    await connection.locator('td.state', { hasText: 'up' }).waitFor();
    const since = Number(new Date((await connection.locator('td').nth(2).getAttribute('title'))!));
    expect(Date.now() - since).toBeLessThan(10_000);
  });

  it('lists a dead letter and sends it again on Retry', async () => {
    telegram.failNext('sendMessage', { error_code: 400, description: 'Bad Request: chat not found' });
    telegram.pushMessage({ text: 'to the dead letters' });
    await page.click('nav >> text=Dead letters');
    const letter = page.locator('.letters li', { hasText: 'Bad Request: chat not found' });
    await letter.waitFor({ timeout: 10_000 });
    await letter.locator('button', { hasText: 'Retry' }).click();
    await page.getByRole('status').filter({ hasText: 'queued to send again' }).waitFor();
    await telegram.waitForCall('sendMessage', (c) => c.params.text === 'to the dead letters' && c.status === 200, 10_000);
    await page.locator('.empty', { hasText: 'No dead letters.' }).waitFor({ timeout: 10_000 });
    // The feed shows the message's first delivery failed, then the retried one delivered.
    await page.click('nav >> text=Feed');
    const fed = row('to the dead letters');
    await fed.locator('.chip.bad', { hasText: 'delivery failed' }).first().waitFor();
    await fed.locator('.chip.ok', { hasText: /^delivery ok/ }).waitFor();
  });

  it('pauses, and under a burst draws at most 200 rows of its bounded list', async () => {
    await page.click('nav >> text=Feed');
    await page.click('button:has-text("Pause")');
    await say('sent while paused');
    await page.locator('button', { hasText: 'Resume (1 waiting)' }).waitFor();
    expect(await row('sent while paused').count()).toBe(0);
    await page.click('button:has-text("Resume")');
    await row('sent while paused').waitFor();
    // 250 messages at once, over 25 chats (one queue each).
    await Promise.all(Array.from({ length: 250 }, (_, i) => say(`burst ${i}`, `dm:burst${i % 25}`)));
    await expect.poll(async () => (await page.locator('.more').textContent()) ?? '', { timeout: 15_000 }).toMatch(/^\d+ older messages match/);
    expect(await page.locator('li.row').count()).toBe(200);
  });

  it('draws the numbers, shows the config masked, and fits a phone', async () => {
    await page.click('nav >> text=Numbers');
    await page.locator('figure.chart svg').first().waitFor();
    expect(await page.locator('figure.chart figcaption').allTextContents()).toEqual(expect.arrayContaining(['Messages per minute', 'onMessage callback latency', 'Error rates']));
    await page.click('nav >> text=Config');
    const config = await page.locator('pre.config').textContent();
    expect(config).toContain('token: "********"');
    expect(config).not.toContain(signing);
    await page.setViewportSize({ width: 375, height: 740 });
    await page.click('nav >> text=Feed');
    await page.locator('li.row').first().waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  });
}, 60_000);
