// Share links and the code kept in the browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, ready, chooseLanguage, setCode, editorText, screenshot } from './harness.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a share link opens the same code and language in another browser', async () => {
  const page = await openPage(browser, server.url, { permissions: ['clipboard-read', 'clipboard-write'] });
  const code = '#include <stdio.h>\n\n// 分享：你好\nint main(void) {\n    puts("shared");\n    return 0;\n}\n';
  await chooseLanguage(page, 'c');
  await setCode(page, code);
  await page.click('#share');
  await page.waitForSelector('#share-dialog[open] #share-row:not([hidden])');
  const link = await page.inputValue('#share-link');
  assert.match(link, new RegExp(`^${server.url}/s/[A-Za-z0-9_-]+$`));
  await screenshot(page, 'share-dialog');
  await page.click('#share-copy');
  await page.waitForFunction(() => document.querySelector('#share-copy').textContent === 'Copied');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  await page.keyboard.press('Escape');
  assert.equal(await page.$('#share-dialog[open]'), null, 'Escape closes the dialog');
  assert.deepEqual(page.errors, []);

  // A fresh context: nothing in its localStorage, only the link.
  const other = await openPage(browser, link);
  await other.waitForFunction(() => document.querySelector('#language').value === 'c');
  await other.waitForFunction(() => document.querySelector('#status').textContent.includes('shared code'));
  assert.equal(await editorText(other), code);
  await other.click('#run');
  await other.waitForSelector('#status[data-state="ok"]', { timeout: 30_000 });
  assert.equal(await other.$eval('#output .out-stdout', (s) => s.textContent), 'shared\n');
  assert.deepEqual(other.errors, []);
  await other.context().close();
  await page.context().close();
});

test('an unknown share link says so and still gives an editor', async () => {
  const page = await openPage(browser, `${server.url}/s/NoSuchId1`);
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('does not exist'));
  assert.equal(await page.$eval('#status', (s) => s.dataset.state), 'error');
  assert.ok((await editorText(page)).length > 0, 'the language example is there to start from');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the last code of each language is kept in the browser', async () => {
  const page = await openPage(browser, server.url);
  await chooseLanguage(page, 'python');
  await setCode(page, 'print("kept python")\n');
  await chooseLanguage(page, 'javascript');
  const jsExample = await editorText(page);
  assert.match(jsExample, /console|readline/, 'a language starts with its example');
  await setCode(page, 'console.log("kept js");\n');
  await chooseLanguage(page, 'python');
  assert.equal(await editorText(page), 'print("kept python")\n');
  await page.reload();
  await ready(page);
  assert.equal(await page.inputValue('#language'), 'python', 'the last language comes back');
  assert.equal(await editorText(page), 'print("kept python")\n');
  await chooseLanguage(page, 'javascript');
  assert.equal(await editorText(page), 'console.log("kept js");\n');
  // The example button brings the language's example back, once the student agrees to lose
  // their code.
  page.once('dialog', (dialog) => dialog.accept());
  await page.click('#reset');
  assert.equal(await editorText(page), jsExample);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
