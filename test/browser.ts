// A real headless Chromium for tests that look at a page as a user would: Debian's /usr/bin/chromium
// (or CHROMIUM_PATH) driven by playwright-core, in a fresh profile removed on close. The flags keep
// it offline: without them it reaches for Google's hosts at every start.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface TestBrowser {
  context: BrowserContext;
  /** The page the browser opened with. */
  page: Page;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launch(options: { viewport?: { width: number; height: number } } = {}): Promise<TestBrowser> {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install -y chromium (.ci/run does)`);
  const profile = await mkdtemp(join(tmpdir(), 'sb-chromium-'));
  let context: BrowserContext;
  try {
    // The profile is the user-data-dir: playwright passes it to Chromium itself.
    context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, headless: true, args: chromiumArgs, ...(options.viewport ? { viewport: options.viewport } : {}) });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    page: context.pages()[0] ?? (await context.newPage()),
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
