// `node --conditions=switchboard-source --import tsx scripts/console-screenshot.ts`: docs/console.png, the console's feed after a
// few sandbox messages, one refused and one patched by an onMessage callback, and docs/console-detail.png,
// the refused one opened. Chromium as in the tests.

import { fileURLToPath } from 'node:url';
import { CallbackServer } from '../testing/fakes/callback-server.js';
import { launch } from '../test/browser.js';
import { startWithConsole } from '../test/console-helpers.js';

const token = 'screenshot-console-token';
const callbacks = await new CallbackServer()
  .on('onMessage', (ctx, body) => {
    const text = String(body.message.text);
    if (text.includes('casino')) {
      ctx.status = 403;
      ctx.body = 'Links to casinos are not allowed here.';
    } else if (text.startsWith('/echo')) ctx.body = { message: { text: text.toUpperCase() } };
    else ctx.status = 204;
  })
  .start();
const { runtime, url } = await startWithConsole(
  `platforms: [{ id: sandbox, type: sandbox }]\ncallbacks:\n  onMessage: { url: "${callbacks.url}/onMessage", secret: "whsec_${Buffer.from('a docs screenshot signing key').toString('base64')}" }\nconsole: { token: ${token} }`,
);
const browser = await launch({ viewport: { width: 1200, height: 640 } });
try {
  const { page } = browser;
  await page.goto(`${url}/console/login?token=${token}`);
  await page.locator('.live.on').waitFor();
  const people = [['ann', 'Ann'], ['bo', 'Bo'], ['cy', 'Cy']] as const;
  const texts = ['hello there', '/echo what time is it?', 'win big at the casino!', 'how do I reset my password?', '/echo ping', 'thanks, that worked'];
  for (const [i, text] of texts.entries()) {
    const [id, name] = people[i % people.length]!;
    await fetch(`${url}/sandbox/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat: { id: `dm:${id}`, type: 'direct' }, user: { id, name }, text }) });
  }
  await page.locator('li.row', { hasText: 'thanks, that worked' }).locator('.chip', { hasText: 'answered' }).waitFor();
  await page.locator('li.row', { hasText: 'casino' }).locator('.chip', { hasText: 'rejected' }).waitFor();
  const out = fileURLToPath(new URL('../docs/console.png', import.meta.url));
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
  // And one message opened: the callback that refused it, what it was sent and what it answered.
  await page.locator('li.row', { hasText: 'casino' }).locator('button.open').click();
  await page.locator('section.stage[data-stage=onMessage]').waitFor();
  const detail = fileURLToPath(new URL('../docs/console-detail.png', import.meta.url));
  await page.screenshot({ path: detail, fullPage: false });
  console.log(`wrote ${detail}`);
} finally {
  await browser.close();
  await runtime.stop();
  await callbacks.stop();
}
