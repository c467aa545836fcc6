// A server that says 429 gets a friendly message with the wait it asked for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, setCode, chooseLanguage, screenshot } from './harness.js';

let server;
let browser;

before(async () => {
  // Three requests a minute: the page's runtimes and a couple of runs use them up.
  server = await startServer(['--rate-limit', '3']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a 429 is shown as a friendly message with the Retry-After wait', async () => {
  const page = await openPage(browser, server.url);
  await chooseLanguage(page, 'python');
  await setCode(page, 'print("ok")\n');
  let text = '';
  for (let i = 0; i < 5 && !/Too many runs/.test(text); i++) {
    await page.click('#run');
    await page.waitForSelector('#status:is([data-state="ok"], [data-state="error"])', { timeout: 30_000 });
    await page.waitForSelector('#run:not([disabled])');
    text = await page.textContent('#status');
  }
  assert.match(text, /Too many runs right now\. Please wait \d+ s and try again\./);
  const seconds = Number(/wait (\d+) s/.exec(text)[1]);
  assert.ok(seconds >= 1 && seconds <= 60, `wait ${seconds} s`);
  await screenshot(page, 'rate-limited');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
