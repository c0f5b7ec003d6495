// A real headless Chromium for tests that look at a page as a user would: Debian's /usr/bin/chromium
// (or CHROMIUM_PATH) driven by playwright-core, in a fresh profile removed on close.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export interface TestBrowser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launch(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'sb-chromium-'));
  let context: BrowserContext;
  try {
    // The profile is the user-data-dir: playwright passes it to Chromium itself.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  return {
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
