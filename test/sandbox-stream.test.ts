// The sandbox in a real Chromium: /story from the streaming example bot grows in one bubble on
// the page, then the bubble shows the finished story.

import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import streamBot from '../bots/stream.js';
import { loadConfig } from '../src/runtime/config.js';
import { definitions } from '../src/runtime/registry.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { launch, type TestBrowser } from './browser.js';
import { startRuntime } from './helpers.js';

const story = [
  'Once upon a time a small robot lived in a lighthouse by the sea.',
  'Every night it polished the great lamp until it shone like a second moon.',
  'One stormy evening a fishing boat lost its way among the rocks.',
  'The robot turned the lamp towards the waves, and the boat came safely home.',
].join(' ');

let browser: TestBrowser;
let runtime: Runtime | undefined;
beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

declare global {
  interface Window {
    /** What the test's MutationObserver saw: each bot bubble's text, by message id, as it changed. */
    seen: { id: string; text: string; growing: boolean }[];
  }
}

describe('sandbox: a streamed answer in the browser', () => {
  it('examples/stream.yaml (as the README runs it) is the streaming bot on the sandbox', async () => {
    const config = await loadConfig(fileURLToPath(new URL('../examples/stream.yaml', import.meta.url)), { definitions, env: {} });
    expect(config.bot).toBe(fileURLToPath(new URL('../bots/stream.ts', import.meta.url)));
    expect(config.platforms.map((p) => p.type)).toEqual(['sandbox']);
  });

  it('grows one bubble as the bot writes, then shows the final text in it', async () => {
    const started = await startRuntime('platforms: [{ id: sandbox, type: sandbox }]', { bot: streamBot });
    runtime = started.runtime;
    const page = await browser.newPage();
    await page.goto(`${started.url}/`);
    await page.waitForSelector('#dot.open'); // the page's event stream is connected
    // Every change to a bot bubble is recorded as it happens, so the test sees the states between updates too.
    await page.evaluate(() => {
      window.seen = [];
      const record = () => {
        for (const node of document.querySelectorAll<HTMLElement>('.msg.bot')) {
          // The answer's text: the bubble without the quote of the user's message above it.
          const parts = [...node.querySelector('.bubble')!.childNodes].filter((n) => !(n instanceof Element && n.classList.contains('quote')));
          const entry = { id: node.dataset.id!, text: parts.map((n) => n.textContent).join(''), growing: node.classList.contains('growing') };
          const last = window.seen.findLast((s) => s.id === entry.id);
          if (!last || last.text !== entry.text || last.growing !== entry.growing) window.seen.push(entry);
        }
      };
      new MutationObserver(record).observe(document.querySelector('#msgs')!, { childList: true, subtree: true, characterData: true });
    });
    await page.fill('[data-testid=composer]', '/story');
    await page.click('[data-testid=send]');
    // Waits on the page's own DOM: the bubble's final rendering, no longer growing.
    await page.waitForFunction((text) => window.seen.some((s) => s.text === text && !s.growing), story, { timeout: 15_000 });

    const seen = await page.evaluate(() => window.seen);
    const ids = new Set(seen.map((s) => s.id));
    expect(ids.size).toBe(1); // one bubble, updated in place
    const growing = seen.filter((s) => s.growing);
    const lengths = new Set(growing.map((s) => s.text.length));
    expect(lengths.size).toBeGreaterThanOrEqual(2);
    for (const state of growing) expect(story.startsWith(state.text)).toBe(true);
    for (let i = 1; i < growing.length; i++) expect(growing[i]!.text.length).toBeGreaterThan(growing[i - 1]!.text.length);
    expect(seen.at(-1)).toEqual({ id: [...ids][0], text: story, growing: false });
    // What the page shows now, and keeps after a reload (the finished bubble is in the history).
    const shown = () => page.locator('.msg.bot .bubble').allTextContents();
    await expect(shown()).resolves.toEqual([`↩ reply to Alice: /story${story}`]);
    await page.reload();
    await page.waitForFunction((text) => [...document.querySelectorAll('.msg.bot .bubble')].some((b) => b.textContent!.endsWith(text)), story);
    await expect(shown()).resolves.toEqual([`↩ reply to Alice: /story${story}`]);
    await expect(page.locator('.msg.bot').count()).resolves.toBe(1);
    await page.close();
  });
});
