// The classroom page on a server that requires keys (`--require-keys`): without a key it says
// so and asks for one; a class link (`/#key=tr_…`) or a key typed once is traded for a page
// session, the key leaves the address bar, and then everything works as on an open server —
// a run with input() over the WebSocket (authenticated by its subprotocol), a snippet, an
// exercise. A wrong key is refused in words.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  createKey,
  revokeKey,
  launchBrowser,
  newPage,
  ready,
  chooseLanguage,
  setCode,
  waitForEnd,
  streamText,
  screenshot,
  KEYS_MODE,
} from './harness.js';

let server;
let browser;
let key;

before(async () => {
  server = await startServer(KEYS_MODE ? [] : ['--require-keys']);
  key = createKey(server, 'class-3b', 'classroom');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('without a key the page says it needs one, and a wrong key is refused', async () => {
  const page = await newPage(browser, server.url);
  await page.waitForSelector('#key-dialog[open]');
  assert.match(await page.textContent('#key-message'), /needs a class key/);
  assert.match(await page.textContent('#status'), /needs a class key/);
  assert.equal(await page.$eval('#status', (s) => s.dataset.state), 'error');
  assert.ok(await page.$('#run[disabled]'), 'nothing to run without a key');
  await screenshot(page, 'keys-needed');
  // Escape does not dismiss the question.
  await page.keyboard.press('Escape');
  assert.ok(await page.$('#key-dialog[open]'));

  await page.fill('#key-input', `tr_00000000_${'0'.repeat(64)}`);
  await page.press('#key-input', 'Enter');
  await page.waitForFunction(() => document.querySelector('#key-message').textContent.includes('does not work'));
  await screenshot(page, 'keys-refused');

  // The right key, typed once: the page starts, and the key is kept nowhere.
  await page.fill('#key-input', key);
  await page.press('#key-input', 'Enter');
  await ready(page);
  assert.equal(await page.$('#key-dialog[open]'), null);
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  assert.ok(!stored.includes(key), 'the key is not stored, only the session');
  assert.ok(stored.includes('trs_'), 'a page session is');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a class link runs programs with input(), saves a snippet and grades an exercise', async () => {
  const page = await newPage(browser, `${server.url}/#key=${key}`);
  await ready(page);
  // The key left the address bar and the history entry.
  assert.ok(!page.url().includes(key), page.url());
  assert.ok(!page.url().includes('key='), page.url());

  // A run over the WebSocket, answered while it runs.
  await chooseLanguage(page, 'python');
  await setCode(page, 'name = input("name? ")\nprint(f"hi {name}")\n');
  await page.click('#run');
  await page.waitForSelector('#stdin:not([disabled])', { timeout: 30_000 });
  await page.fill('#stdin', '小明');
  await page.press('#stdin', 'Enter');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'ok', end.text);
  assert.match(await streamText(page, 'stdout'), /hi 小明/);
  await screenshot(page, 'keys-run');

  // A snippet.
  await page.click('#share');
  await page.waitForSelector('#share-dialog[open] #share-row:not([hidden])');
  assert.match(await page.inputValue('#share-link'), new RegExp(`^${server.url}/s/[A-Za-z0-9_-]+$`));
  await page.keyboard.press('Escape');

  // An exercise, graded.
  await page.click('#exercises-button');
  await page.waitForSelector('#exercises-dialog[open] .exercise-item');
  await page.click('#exercises-dialog .exercise-item:has-text("Sum of two numbers")');
  await page.waitForSelector('#exercise:not([hidden])');
  await setCode(page, 'a, b = map(int, input().split())\nprint(a + b)\n');
  await page.click('#submit');
  await page.waitForSelector('#results:not([hidden]) .score', { timeout: 60_000 });
  assert.equal(await page.$eval('#results .score', (s) => `${s.dataset.passed}/${s.dataset.total}`), '3/3');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a query-string class link works too and leaves the address bar', async () => {
  const page = await newPage(browser, `${server.url}/?key=${key}&exercise=sum-two`);
  await ready(page);
  await page.waitForSelector('#exercise:not([hidden])');
  assert.ok(!page.url().includes('key='), page.url());
  assert.match(page.url(), /\?exercise=sum-two$/);
  await page.context().close();
});

test('a key that is revoked is refused with its reason when the page is opened again', async () => {
  const doomed = createKey(server, 'doomed', 'classroom');
  revokeKey(server, 'doomed');
  const page = await newPage(browser, `${server.url}/#key=${doomed}`);
  await page.waitForSelector('#key-dialog[open]');
  await page.waitForFunction(() => document.querySelector('#key-message').textContent.includes('revoked'));
  assert.ok(!page.url().includes(doomed));
  await page.context().close();
});

test('a page whose key is revoked while it is open asks for a key again, saying why', async () => {
  const soon = createKey(server, 'soon-revoked', 'classroom');
  const page = await newPage(browser, `${server.url}/#key=${soon}`);
  await ready(page);
  revokeKey(server, 'soon-revoked');
  // Every node forgets the key within its cache's lifetime (10 s): a request after it is refused.
  await new Promise((r) => setTimeout(r, 11_000));
  await page.click('#exercises-button');
  await page.waitForSelector('#key-dialog[open]', { timeout: 10_000 });
  assert.match(await page.textContent('#key-message'), /revoked/);
  await page.context().close();
});
