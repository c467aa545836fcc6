// A class from start to gradebook, everyone in the browser, nobody through the API: a teacher
// (Chinese, laptop) makes a class and an assignment on `/teacher`; two students open the join
// link — 李雷 on a phone in Chinese, Hannah on a laptop in English — join, open the
// assignment's exercises from My class and submit; the teacher (English, phone) sees both in
// the gradebook with the scores they were given, opens a cell to read the code, and the CSV
// download's rows are the table's. On a server that requires keys (join and sign-in need none).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, createKey, launchBrowser, newPage, parseCsv, ready, setCode, screenshot, KEYS_MODE, RUN_MS } from './harness.js';

const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 800 };
/** How long a graded submission may take here (a debug build on a busy machine). */
const SUBMIT_MS = 60_000;
const SUM_TWO = 'a, b = map(int, input().split())\nprint(a + b)\n';
const HELLO = 'name = input()\nprint(f"Hello, {name}!")\n';
const HELLO_WRONG = 'name = input()\nprint("Hello")\n';

let server;
let browser;
let teacherKey;
/** What the teacher's page made: the class's join link. */
let joinLink;

before(async () => {
  server = await startServer(KEYS_MODE ? [] : ['--require-keys']);
  teacherKey = createKey(server, 'teacher-wang', 'teacher');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function freshPage(url, { locale, viewport }) {
  const page = await newPage(browser, url, { locale, viewport, acceptDownloads: true });
  page.on('dialog', (d) => d.accept());
  return page;
}
/** A local `datetime-local` value `days` from now. */
function inDays(days) {
  const d = new Date(Date.now() + days * 24 * 3600 * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A student opens the join link, joins as `name` and closes the login code's dialog. */
async function join(name, { locale, viewport }) {
  const page = await freshPage(joinLink, { locale, viewport });
  await page.waitForSelector('#join-dialog[open]');
  await page.fill('#join-name', name);
  await page.click('#join-submit');
  await page.waitForSelector('#code-dialog[open]');
  assert.match((await page.textContent('#login-code')).trim(), /^[A-Z0-9]{6,}$/);
  await page.click('#code-dialog .dialog-actions button');
  await ready(page);
  return page;
}

/** From My class, open `exercise`, submit `code`, wait for the saved note; its score. */
async function submit(page, exercise, code) {
  await page.click('#exercises-button');
  await page.waitForSelector('#my-class:not([hidden]) .exercise-item');
  await page.click(`#my-class .exercise-item[data-exercise="${exercise}"]`);
  await page.waitForSelector('#exercise:not([hidden])');
  await setCode(page, code);
  await page.click('#submit');
  await page.waitForSelector('#results:not([hidden]) .saved-note', { timeout: SUBMIT_MS });
  assert.equal(await page.$eval('#results .saved-note', (p) => p.dataset.late), 'false');
  return page.$eval('#results .score', (s) => `${s.dataset.passed}/${s.dataset.total}`);
}

test('a teacher, two students and the gradebook, all in the browser', { timeout: 10 * RUN_MS }, async () => {
  // The teacher, in Chinese on a laptop: a class and an assignment of two exercises.
  const teacher = await freshPage(`${server.url}/teacher#key=${teacherKey}`, { locale: 'zh-CN', viewport: LAPTOP });
  await teacher.waitForSelector('#app:not([hidden])');
  await teacher.fill('#class-name', '初二(3)班');
  await teacher.click('#class-form button[type=submit]');
  await teacher.waitForSelector('#class-view:not([hidden])');
  const code = (await teacher.textContent('#join-code')).trim();
  joinLink = (await teacher.textContent('#join-link')).trim();
  assert.equal(joinLink, `${server.url}/#join=${code}`);
  await teacher.click('#tab-assignments');
  await teacher.click('#new-assignment');
  await teacher.fill('#a-title', '第一周');
  for (const exercise of ['hello-name', 'sum-two']) {
    await teacher.selectOption('#a-pick', exercise);
    await teacher.click('#a-add');
  }
  await teacher.fill('#a-deadline', inDays(7));
  await teacher.click('#assignment-form button[type=submit]');
  await teacher.waitForSelector('#assignment-list .assignment');
  assert.match(await teacher.textContent('#assignment-list'), /第一周/);
  await screenshot(teacher, 'walk-teacher-zh-laptop-assignment');
  assert.deepEqual(teacher.errors, []);

  // 李雷, in Chinese on a phone: one exercise right, one wrong.
  const lei = await join('李雷', { locale: 'zh-CN', viewport: PHONE });
  assert.equal(await lei.textContent('#account-who'), '已登录：李雷 · 初二(3)班');
  assert.equal(await submit(lei, 'sum-two', SUM_TWO), '3/3');
  assert.match(await lei.textContent('#results .saved-note'), /已提交给老师/);
  await screenshot(lei, 'walk-lei-zh-phone-saved');
  assert.notEqual(await submit(lei, 'hello-name', HELLO_WRONG), '3/3');

  // Hannah, in English on a laptop: the first exercise right.
  const hannah = await join('Hannah', { locale: 'en-US', viewport: LAPTOP });
  assert.equal(await hannah.textContent('#account-who'), 'Signed in as Hannah · 初二(3)班');
  assert.match(await submit(hannah, 'hello-name', HELLO), /^(\d+)\/\1$/);
  assert.match(await hannah.textContent('#results .saved-note'), /Saved for your teacher/);
  await screenshot(hannah, 'walk-hannah-en-laptop-saved');
  // My class marks it done.
  await hannah.click('#exercises-button');
  await hannah.waitForSelector('#my-class .exercise-item[data-exercise="hello-name"] .exercise-progress[data-state="done"]');
  await screenshot(hannah, 'walk-hannah-en-laptop-myclass');

  // The teacher again, in English on a phone (a key pasted this time): the gradebook.
  const book = await freshPage(`${server.url}/teacher`, { locale: 'en-US', viewport: PHONE });
  await book.fill('#key', teacherKey);
  await book.click('#login-form button[type=submit]');
  await book.waitForSelector('#app:not([hidden])');
  await book.waitForFunction(() => document.querySelectorAll('#gradebook tbody tr').length === 2, null, { timeout: RUN_MS });
  const rows = await book.$$eval('#gradebook tbody tr', (trs) =>
    trs.map((r) => [
      r.querySelector('th').textContent,
      ...[...r.querySelectorAll('td.cell')].map((td) => td.dataset.best),
      r.querySelector('td.average').dataset.average,
    ]),
  );
  assert.deepEqual(
    rows.sort(),
    [
      ['Hannah', '1.00', '', '0.50'],
      ['李雷', '0.00', '1.00', '0.50'],
    ].sort(),
  );
  await screenshot(book, 'walk-teacher-en-phone-gradebook');

  // A cell opens Hannah's submission: her code.
  await book.locator('#gradebook tbody tr', { hasText: 'Hannah' }).locator('td.cell button').first().click();
  await book.waitForSelector('#detail[open] .submission');
  assert.match(await book.locator('#detail .submission pre.t-code').first().textContent(), /print\(f"Hello, \{name\}!"\)/);
  await screenshot(book, 'walk-teacher-en-phone-submission');
  await book.click('#detail-close');

  // The CSV: a header, then the table's rows.
  const [download] = await Promise.all([book.waitForEvent('download'), book.click('#download-csv')]);
  const csv = parseCsv(readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, ''));
  assert.deepEqual(csv[0], ['student', '第一周 / hello-name', '第一周 / sum-two', 'average']);
  assert.deepEqual(csv.slice(1).sort(), rows.sort());

  for (const page of [teacher, lei, hannah, book]) {
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});
