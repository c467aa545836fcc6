// A student's class in the classroom page, on a server that requires keys (join and sign-in
// need none): the teacher's join link (`/#join=CODE`) asks the student's name and joins; the
// personal login code is shown once; "My class" lists the published assignments with their
// deadlines and what the student has done; a passing submission is saved for the teacher (the
// gradebook has it), one after the deadline is marked late; signing out forgets the session,
// and the login code signs the student in again in another browser. A wrong join code, a name
// taken in the class and a wrong login code are refused in clear words. zh-CN and en, phone
// and laptop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, createKey, launchBrowser, newPage, ready, setCode, screenshot, KEYS_MODE } from './harness.js';

const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 800 };
const DAY_MS = 24 * 3600 * 1000;
/** How long a graded submission may take in a test (a debug build on a busy machine). */
const SUBMIT_MS = 60_000;
const SUM_TWO = 'a, b = map(int, input().split())\nprint(a + b)\n';

let server;
let open;
let limited;
let browser;
let teacher;
let klass;
/** 小明's login code, as the page showed it after joining. */
let loginCode;

/** A JSON request to `server` as the teacher. */
async function api(on, method, path, body) {
  const response = await fetch(`${on.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${on.teacher}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(data)}`);
  return data;
}

/** A class with two published assignments: one due in a week, one whose deadline passed. */
async function makeClass(on, name) {
  on.teacher = createKey(on, `teacher-${Date.now()}`, 'teacher');
  const made = await api(on, 'POST', '/api/v1/classes', { name });
  const week = new Date(Date.now() + 7 * DAY_MS).toISOString();
  const yesterday = new Date(Date.now() - DAY_MS).toISOString();
  await api(on, 'POST', `/api/v1/classes/${made.id}/assignments`, {
    title: '第一周 Week 1',
    exercises: ['sum-two', 'hello-name'],
    position: 1,
    deadline: week,
  });
  await api(on, 'POST', `/api/v1/classes/${made.id}/assignments`, {
    title: 'Warm-up',
    exercises: ['fizzbuzz'],
    position: 2,
    deadline: yesterday,
  });
  return made;
}

before(async () => {
  server = await startServer(KEYS_MODE ? [] : ['--require-keys']);
  klass = await makeClass(server, '三年二班');
  teacher = server.teacher;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await open?.stop();
  await limited?.stop();
});

async function joinAs(page, name) {
  await page.waitForSelector('#join-dialog[open]');
  await page.fill('#join-name', name);
  await page.click('#join-submit');
}

/** The My class tab's exercises: `{id, title, state, text}` per exercise, in order. */
async function myClass(page) {
  await page.click('#exercises-button');
  await page.waitForSelector('#my-class:not([hidden]) .exercise-item');
  return page.$$eval('#my-class .exercise-item', (buttons) =>
    buttons.map((b) => ({
      id: b.dataset.exercise,
      title: b.querySelector('.exercise-item-title').textContent,
      state: b.querySelector('.exercise-progress').dataset.state,
      text: b.querySelector('.exercise-progress').textContent,
    })),
  );
}

async function submitAndWait(page, code) {
  await setCode(page, code);
  await page.click('#submit');
  await page.waitForSelector('#results:not([hidden]) .saved-note', { timeout: SUBMIT_MS });
}

test('a student joins by the link on a phone in Chinese, submits, and the teacher has it', async () => {
  const page = await newPage(browser, `${server.url}/#join=${klass.join_code}`, { locale: 'zh-CN', viewport: PHONE });
  await page.waitForSelector('#join-dialog[open]');
  // The code left the address bar.
  assert.ok(!page.url().includes('join='), page.url());
  assert.match(await page.textContent('#join-heading'), /加入班级/);
  assert.match(await page.textContent('#join-code-line'), new RegExp(klass.join_code));
  await screenshot(page, 'join-name-phone-zh');
  await joinAs(page, '小明');

  // The login code, once, with what it is for.
  await page.waitForSelector('#code-dialog[open]');
  loginCode = (await page.textContent('#login-code')).trim();
  assert.match(loginCode, /^[A-Z0-9]{6,}$/);
  assert.match(await page.textContent('#code-heading'), /小明.*三年二班/);
  assert.match(await page.textContent('#code-dialog'), /请记下来：在另一台电脑上用它登录/);
  await screenshot(page, 'join-code-phone-zh');
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  assert.ok(!stored.includes(loginCode), 'the login code is not kept, only the session');
  assert.ok(stored.includes('trst_'), 'the student session is kept for this tab');
  await page.click('#code-dialog .dialog-actions button');
  await ready(page);
  assert.equal(await page.textContent('#account-who'), '已登录：小明 · 三年二班');
  assert.ok(await page.isHidden('#signin-button'));

  // My class: the published assignments in order, nothing done yet.
  assert.equal(await page.textContent('#exercises-button'), '我的班级');
  const before = await myClass(page);
  assert.deepEqual(
    before.map((e) => [e.title, e.state, e.text]),
    [
      ['两数之和', 'new', '未开始'],
      ['按名字问好', 'new', '未开始'],
      ['FizzBuzz 报数', 'new', '未开始'],
    ],
  );
  assert.deepEqual(await page.$$eval('#my-class h3', (hs) => hs.map((h) => h.textContent)), ['第一周 Week 1', 'Warm-up']);
  const deadlines = await page.$$eval('#my-class .deadline', (ps) => ps.map((p) => [p.textContent, p.dataset.past]));
  assert.match(deadlines[0][0], /^截止：/);
  assert.equal(deadlines[0][1], 'false');
  assert.match(deadlines[1][0], /^已过截止时间/);
  assert.equal(deadlines[1][1], 'true');
  await screenshot(page, 'join-myclass-phone-zh');

  // An exercise opened from My class, solved: saved for the teacher.
  await page.click('#my-class .exercise-item[data-exercise="sum-two"]');
  await page.waitForSelector('#exercise:not([hidden])');
  assert.equal(await page.textContent('#exercise-title'), '两数之和');
  await submitAndWait(page, SUM_TWO);
  assert.equal(await page.$eval('#results .score', (s) => `${s.dataset.passed}/${s.dataset.total}`), '3/3');
  assert.equal(await page.textContent('#results .saved-note'), '已提交给老师。');
  assert.equal(await page.$eval('#results .saved-note', (p) => p.dataset.late), 'false');
  await screenshot(page, 'join-saved-phone-zh');

  // After the deadline: stored all the same, marked late.
  await page.click('#exercises-button');
  await page.click('#my-class .exercise-item[data-exercise="fizzbuzz"]');
  await page.waitForFunction(() => document.querySelector('#exercise-title').textContent.includes('FizzBuzz'));
  await submitAndWait(page, 'print(1)\n');
  assert.match(await page.textContent('#results .saved-note'), /^已提交给老师，标为迟交：截止时间是 /);
  assert.equal(await page.$eval('#results .saved-note', (p) => p.dataset.late), 'true');
  await screenshot(page, 'join-late-phone-zh');

  // My class, refreshed: done, a best score.
  const after = await myClass(page);
  assert.deepEqual(
    after.map((e) => [e.id, e.state]),
    [
      ['sum-two', 'done'],
      ['hello-name', 'new'],
      ['fizzbuzz', 'tried'],
    ],
  );
  assert.equal(after[0].text, '✓ 已完成');
  assert.match(after[2].text, /^最好成绩：\d+%$/);
  await screenshot(page, 'join-myclass-done-phone-zh');
  await page.keyboard.press('Escape');

  // The teacher's gradebook has both submissions.
  const book = await api({ url: server.url, teacher }, 'GET', `/api/v1/classes/${klass.id}/gradebook`);
  const row = book.rows.find((r) => r.display_name === '小明');
  assert.ok(row, JSON.stringify(book.rows));
  const cell = (id) => row.cells[book.columns.findIndex((c) => c.exercise_id === id)];
  assert.equal(cell('sum-two').best_score, 1);
  assert.equal(cell('sum-two').latest_late, false);
  assert.equal(cell('fizzbuzz').latest_late, true);
  assert.equal(cell('hello-name'), null);

  // Signing out forgets the session: the header offers Sign in again.
  await page.click('#signout');
  await page.waitForSelector('#signin-button:visible');
  assert.ok(await page.isHidden('#account-who'));
  const left = await page.evaluate(() => JSON.stringify({ ...sessionStorage }));
  assert.ok(!left.includes('trst_'), left);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the login code signs the student in again in another browser, on a laptop in English', async () => {
  assert.ok(loginCode, 'the join test ran first');
  const page = await newPage(browser, server.url);
  // A server that requires keys asks for one; a student signs in with the login code instead.
  await page.waitForSelector('#key-dialog[open]');
  await page.click('#key-signin');
  await page.waitForSelector('#signin-dialog[open]');
  await page.fill('#signin-code', 'WRONGCODE1');
  await page.click('#signin-submit');
  await page.waitForFunction(() => document.querySelector('#signin-message').textContent.includes('No student has this login code'));
  assert.equal(await page.$eval('#signin-message', (m) => m.dataset.kind), 'error');
  await screenshot(page, 'join-signin-refused-laptop-en');
  await page.fill('#signin-code', loginCode.toLowerCase());
  await page.click('#signin-submit');
  await ready(page);
  assert.equal(await page.textContent('#account-who'), 'Signed in as 小明 · 三年二班');
  const mine = await myClass(page);
  assert.deepEqual(
    mine.map((e) => [e.title, e.state]),
    [
      ['Sum of two numbers', 'done'],
      ['Greet by name', 'new'],
      ['FizzBuzz', 'tried'],
    ],
  );
  assert.equal(mine[0].text, '✓ Done');
  assert.match(await page.textContent('#my-class .deadline'), /^Due /);
  await screenshot(page, 'join-myclass-laptop-en');
  // The words built in code follow a switch of the page's language.
  await page.keyboard.press('Escape');
  await page.click('#locale');
  assert.equal(await page.textContent('#account-who'), '已登录：小明 · 三年二班');
  assert.equal(await page.textContent('#exercises-button'), '我的班级');
  await page.click('#locale');
  assert.equal(await page.textContent('#account-who'), 'Signed in as 小明 · 三年二班');
  await page.click('#exercises-button');
  await page.waitForSelector('#my-class:not([hidden]) .exercise-item');

  // The All exercises tab: the list, with done from the server.
  await page.click('#tab-all');
  await page.waitForSelector('#exercise-list:not([hidden]) .exercise-item');
  assert.ok(await page.isHidden('#my-class'));
  const done = await page.$$eval('#exercise-list .exercise-item', (bs) => bs.map((b) => b.dataset.done));
  assert.deepEqual(done, ['false', 'true', 'false']);
  await page.keyboard.press('Escape');

  // A run over the WebSocket carries the student session (the server requires one).
  await page.click('#exercises-button');
  await page.click('#my-class .exercise-item[data-exercise="hello-name"]');
  await page.waitForSelector('#exercise:not([hidden])');
  await submitAndWait(page, 'print(f"Hello, {input()}!")\n');
  assert.equal(await page.textContent('#results .saved-note'), 'Saved for your teacher.');
  await screenshot(page, 'join-saved-laptop-en');
  await setCode(page, 'print("hi " + input())\n');
  await page.click('#run');
  await page.waitForSelector('#stdin:not([disabled])', { timeout: 30_000 });
  await page.fill('#stdin', 'Ada');
  await page.press('#stdin', 'Enter');
  await page.waitForSelector('#status[data-state="ok"]', { timeout: 30_000 });
  assert.match(await page.textContent('#output'), /hi Ada/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a student session the server no longer accepts asks for the login code again', async () => {
  assert.ok(loginCode, 'the join test ran first');
  const context = await browser.newContext({ locale: 'en-US', viewport: LAPTOP });
  // A session kept in the tab that the server refuses (as an expired one is).
  await context.addInitScript(() => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const session = { token: 'trst_bm90LmEudG9rZW4.bad', expires_at: later, role: 'student', display_name: '小明', class_name: '三年二班' };
    if (!sessionStorage.getItem('tiderun.session')) sessionStorage.setItem('tiderun.session', JSON.stringify(session));
  });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(server.url);
  await page.waitForSelector('#signin-dialog[open]');
  assert.equal(await page.textContent('#signin-message'), 'Your session ended. Sign in again with your login code.');
  assert.equal(await page.$('#key-dialog[open]'), null);
  assert.ok(await page.isVisible('#signin-button'), 'the top bar no longer names the student');
  await page.fill('#signin-code', loginCode);
  await page.click('#signin-submit');
  await ready(page);
  assert.equal(await page.textContent('#account-who'), 'Signed in as 小明 · 三年二班');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a wrong join code and a name taken in the class are refused in clear words', async () => {
  const wrong = await newPage(browser, `${server.url}/#join=ZZZZZZZZ`);
  await joinAs(wrong, 'Li Lei');
  await wrong.waitForFunction(() => document.querySelector('#join-message').textContent.includes('No class has this join code'));
  assert.equal(await wrong.$eval('#join-message', (m) => m.dataset.kind), 'error');
  assert.ok(await wrong.$('#join-dialog[open]'), 'the student can try again');
  await screenshot(wrong, 'join-wrong-code-laptop-en');
  await wrong.context().close();

  const taken = await newPage(browser, `${server.url}/#join=${klass.join_code}`, { locale: 'zh-CN', viewport: PHONE });
  await joinAs(taken, '小明');
  await taken.waitForFunction(() => document.querySelector('#join-message').textContent.includes('班里已经有人叫“小明”了'));
  await screenshot(taken, 'join-name-taken-phone-zh');
  // Another name joins.
  await taken.fill('#join-name', '小明2');
  await taken.click('#join-submit');
  await taken.waitForSelector('#code-dialog[open]');
  assert.notEqual((await taken.textContent('#login-code')).trim(), loginCode);
  assert.deepEqual(taken.errors, []);
  await taken.context().close();
});

test('on an open server the header signs a student in, in English on a phone', { skip: KEYS_MODE && 'needs a server without keys' }, async () => {
  open = await startServer();
  const openClass = await makeClass(open, 'Class 3B');
  const joined = await fetch(`${open.url}/api/v1/classes/join`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ code: openClass.join_code, display_name: 'Ada <b>Lovelace</b>' }),
  }).then((r) => r.json());
  const page = await newPage(browser, open.url, { viewport: PHONE });
  await ready(page);
  assert.equal(await page.textContent('#exercises-button'), 'Exercises');
  await page.click('#signin-button');
  await page.fill('#signin-code', joined.login_code);
  await page.click('#signin-submit');
  await page.waitForSelector('#account-who:visible');
  // Names are text: markup in one is shown, never parsed.
  assert.equal(await page.textContent('#account-who'), 'Signed in as Ada <b>Lovelace</b> · Class 3B');
  assert.equal(await page.$('#account b'), null);
  assert.equal(await page.textContent('#exercises-button'), 'My class');
  await myClass(page);
  await screenshot(page, 'join-myclass-phone-en');
  await page.keyboard.press('Escape');
  await screenshot(page, 'join-header-phone-en');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a join refused by the rate limit says how long to wait', async () => {
  // Two requests a minute from one address without a session: the third join is refused.
  limited = await startServer(['--rate-limit', '2']);
  const page = await newPage(browser, `${limited.url}/#join=ZZZZZZZZ`, { locale: 'zh-CN' });
  await joinAs(page, '小红');
  let text = '';
  for (let i = 0; i < 4 && !/尝试次数过多/.test(text); i++) {
    await page.click('#join-submit');
    await page.waitForFunction(() => document.querySelector('#join-message').dataset.kind === 'error');
    text = await page.textContent('#join-message');
  }
  assert.match(text, /^尝试次数过多，请等待 \d+ 秒后再试。$/);
  await screenshot(page, 'join-rate-limited-laptop-zh');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
