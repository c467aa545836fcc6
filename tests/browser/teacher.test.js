// The teacher's page (/teacher) on a server that requires keys: a teacher key signs in (from
// the address, which then forgets it; a classroom key is refused with a clear message), a
// class is made, an assignment made from the server's exercises, edited (a deadline passed:
// closed, later work marked late) and a second one deleted; students join and submit through
// the API; the gradebook shows them with their scores, a cell opens the submission's code and
// verdicts, the CSV download's rows match the table, an exercise's common failures list the
// failing test; the roster hides login codes until asked, renames and removes. In en and
// zh-CN, on a laptop and a phone (the table scrolls in its box, not the page), with a student
// named as an HTML tag shown as text, and an accessibility scan.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import { STRINGS } from '../../web/src/teacher/strings.js';
import { startServer, launchBrowser, screenshot, createKey, apiCall, parseCsv, RUN_MS, SHOTS } from './harness.js';

const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const HOSTILE = '<img src=x onerror=alert(1)>';
const PASSING = 'name = input()\nprint(f"Hello, {name}!")\n';
const FAILING = 'name = input()\nprint("Hello")\n';

let server;
let browser;
let teacherKey;
let classroomKey;
/** What the walk made, for the later tests: the class and the students' sessions. */
const made = { classId: null, code: null, students: {} };

before(async () => {
  server = await startServer(['--require-keys']);
  teacherKey = createKey(server, 'teacher-ada', 'teacher');
  classroomKey = createKey(server, 'class-room', 'classroom');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const api = (method, path, token, body) => apiCall(server, method, path, token, body);

async function openTeacher({ locale = 'en-US', viewport = LAPTOP, key = teacherKey } = {}) {
  const context = await browser.newContext({ locale, viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.errors = [];
  page.alerts = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  // Confirmations are accepted; any other dialog (an alert a hostile name ran) is a failure.
  page.on('dialog', (d) => {
    if (d.type() === 'confirm') return d.accept();
    page.alerts.push(d.message());
    return d.dismiss();
  });
  await page.goto(key ? `${server.url}/teacher#key=${key}` : `${server.url}/teacher`);
  return page;
}

async function join(name) {
  const r = await api('POST', '/api/v1/classes/join', null, { code: made.code, display_name: name });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  made.students[name] = r.body;
  return r.body;
}

async function submit(name, exercise, code) {
  const r = await api('POST', `/api/v1/exercises/${exercise}/submit`, made.students[name].token, { language: 'python', code });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function violations(page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** The gradebook as the page shows it: per student, the name and each cell's best score. */
async function table(page) {
  return page.$$eval('#gradebook tbody tr', (rows) =>
    rows.map((r) => ({
      name: r.querySelector('th').textContent,
      cells: [...r.querySelectorAll('td.cell')].map((td) => td.dataset.best),
      average: r.querySelector('td.average').dataset.average,
    })),
  );
}

async function showTab(page, name) {
  await page.click(`#tab-${name}`);
  await page.waitForSelector(`#panel-${name}:not([hidden])`);
}

async function waitForRows(page, n) {
  await page.click('#refresh-gradebook');
  await page.waitForFunction((n) => document.querySelectorAll('#gradebook tbody tr').length === n, n, { timeout: RUN_MS });
}

test('every text of the page is in English and Chinese', () => {
  const en = Object.keys(STRINGS.en).sort();
  assert.deepEqual(Object.keys(STRINGS.zh).sort(), en);
  for (const key of en) assert.ok(STRINGS.zh[key].trim() && STRINGS.zh[key] !== STRINGS.en[key], key);
});

test('a classroom key is refused with a clear message, and the key leaves the address', async () => {
  const page = await openTeacher({ key: classroomKey });
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
  assert.match(await page.textContent('#login-error'), /class-room.*classroom key, not a teacher key/);
  assert.ok(!page.url().includes('key='), `the key left the address: ${page.url()}`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tiderun.session')), null, 'a refused key leaves no session');
  assert.ok(await page.isVisible('#login'));
  await page.fill('#key', 'tr_not-a-key');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => /not accepted/.test(document.querySelector('#login-error').textContent));
  // The classroom page's session in this tab: the teacher's page says it is not a teacher's,
  // and leaves it to the classroom page.
  await page.goto(`${server.url}/#key=${classroomKey}`);
  await page.waitForFunction(() => sessionStorage.getItem('tiderun.session'));
  await page.goto(`${server.url}/teacher`);
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
  assert.match(await page.textContent('#login-error'), /needs a teacher key/);
  assert.ok(await page.evaluate(() => sessionStorage.getItem('tiderun.session')), 'the classroom session is kept');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a teacher makes a class and assignments; two students submit; the gradebook, a submission, the CSV and the failures agree', { timeout: 8 * RUN_MS }, async () => {
  const page = await openTeacher();
  await page.waitForSelector('#app:not([hidden])');
  assert.ok(!page.url().includes('key='), `the key left the address: ${page.url()}`);
  assert.equal(await page.textContent('#classes-message'), 'No classes yet: name your first one below.');

  // A class, with its join code and link.
  await page.fill('#class-name', 'Class 3B');
  await page.click('#class-form button[type=submit]');
  await page.waitForSelector('#class-view:not([hidden])');
  assert.equal(await page.textContent('#class-title'), 'Class 3B');
  made.code = (await page.textContent('#join-code')).trim();
  assert.match(made.code, /^[A-Z0-9]{6,}$/);
  assert.equal(await page.textContent('#join-link'), `${server.url}/#join=${made.code}`);
  made.classId = await page.getAttribute('[data-class][aria-current=true]', 'data-class');
  await page.click('#copy-link');
  await page.waitForFunction(() => document.querySelector('#join-message').textContent.length > 0);

  // A new join code: the old one stops working.
  await page.click('#rotate-code');
  await page.waitForFunction((old) => document.querySelector('#join-code').textContent !== old, made.code);
  const old = made.code;
  made.code = (await page.textContent('#join-code')).trim();
  assert.equal((await api('POST', '/api/v1/classes/join', null, { code: old, display_name: 'x' })).status, 404);

  // An assignment of two exercises, in order, from the server's list.
  await showTab(page, 'assignments');
  assert.equal(await page.textContent('#assignments-message'), 'No assignments yet.');
  await page.click('#new-assignment');
  await page.fill('#a-title', 'Week 1');
  await page.selectOption('#a-pick', 'sum-two');
  await page.click('#a-add');
  await page.selectOption('#a-pick', 'hello-name');
  await page.click('#a-add');
  // hello-name first: moved up.
  await page.click('#a-exercises li[data-exercise="hello-name"] button:first-of-type');
  await screenshot(page, 'teacher-en-laptop-assignment-form');
  assert.deepEqual(await page.$$eval('#a-exercises li', (l) => l.map((x) => x.dataset.exercise)), ['hello-name', 'sum-two']);
  await page.click('#assignment-form button[type=submit]');
  await page.waitForSelector('#assignment-list .assignment');
  assert.match(await page.textContent('#assignment-list .assignment'), /Week 1.*published.*Greet by name → .*no deadline/s);

  // A second one, deleted (after the confirmation).
  await page.click('#new-assignment');
  await page.fill('#a-title', 'Scratch');
  await page.selectOption('#a-pick', 'fizzbuzz');
  await page.click('#a-add');
  await page.click('#assignment-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#assignment-list .assignment').length === 2);
  await page.click('#assignment-list .assignment:nth-child(2) .actions button:nth-child(2)');
  await page.waitForFunction(() => document.querySelectorAll('#assignment-list .assignment').length === 1);
  await screenshot(page, 'teacher-en-laptop-assignments');

  // Students join and submit through the API.
  await join('李雷');
  await join('韩梅梅');
  await join(HOSTILE);
  assert.equal((await submit('李雷', 'hello-name', FAILING)).score, 0);
  assert.equal((await submit('李雷', 'hello-name', PASSING)).score, 1);
  await submit('韩梅梅', 'hello-name', FAILING);
  await submit(HOSTILE, 'hello-name', FAILING);

  await showTab(page, 'gradebook');
  await waitForRows(page, 3);
  const rows = await table(page);
  assert.deepEqual(
    rows.map((r) => [r.name, r.cells]),
    [
      ['李雷', ['1.00', '']],
      ['韩梅梅', ['0.00', '']],
      [HOSTILE, ['0.00', '']],
    ],
  );
  assert.equal(rows[0].average, '0.50', 'unsubmitted exercises count 0');
  const lei = page.locator('#gradebook tbody tr', { hasText: '李雷' });
  assert.match(await lei.locator('td.cell').first().textContent(), /100%.*latest 100% · 2×/);
  assert.equal(await page.locator('#gradebook img').count(), 0, 'a name is text, never markup');
  await screenshot(page, 'teacher-en-laptop-gradebook');
  assert.deepEqual(await violations(page), []);

  // A cell opens the student's submissions: code, language, verdicts per test.
  await lei.locator('td.cell button').first().click();
  await page.waitForSelector('#detail[open] .submission');
  assert.equal(await page.textContent('#detail-title'), '李雷 · Greet by name');
  assert.equal(await page.locator('#detail .submission').count(), 2);
  const newest = page.locator('#detail .submission').first();
  assert.match(await newest.locator('pre.t-code').textContent(), /print\(f"Hello, \{name\}!"\)/);
  assert.match(await newest.textContent(), /100% · 3\/3.*python.*3 of 3 tests passed/s);
  assert.match(await page.locator('#detail .submission').nth(1).locator('.t-verdicts').textContent(), /Ada.*Wrong answer/s);
  await screenshot(page, 'teacher-en-laptop-submission');
  await page.click('#detail-close');
  await page.waitForSelector('#detail:not([open])', { state: 'attached' });

  // The CSV, downloaded with the session: its rows are the table's.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  assert.match(download.suggestedFilename(), /^gradebook-Class-3B-\d{4}-\d\d-\d\d\.csv$/);
  const csv = parseCsv(readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, ''));
  assert.deepEqual(csv[0], ['student', 'Week 1 / hello-name', 'Week 1 / sum-two', 'average']);
  assert.deepEqual(
    csv.slice(1),
    rows.map((r) => [r.name, ...r.cells, r.average]),
  );

  // The common failures of hello-name: its visible tests, with the wrong output.
  await page.click('#gradebook th[data-exercise="hello-name"] .failures-button');
  await page.waitForSelector('#detail[open] .failure');
  const failures = await page.textContent('#detail-body');
  assert.match(failures, /4 submissions by 3 students; 1 solved it/);
  assert.match(failures, /Ada.*failed 3×.*Wrong answer × 3.*× 3\s*Hello/s);
  await screenshot(page, 'teacher-en-laptop-failures');
  await page.keyboard.press('Escape');

  // The deadline passes (edited): closed, and a later submission is kept and marked late.
  await showTab(page, 'assignments');
  await page.click('#assignment-list .assignment .actions button:first-child');
  assert.equal(await page.inputValue('#a-title'), 'Week 1');
  await page.fill('#a-title', 'Week 1 (edited)');
  await page.fill('#a-deadline', '2020-01-01T10:00');
  await page.click('#assignment-form button[type=submit]');
  await page.waitForFunction(() => /Week 1 \(edited\).*closed/s.test(document.querySelector('#assignment-list').textContent));
  await submit('韩梅梅', 'hello-name', PASSING);
  await showTab(page, 'gradebook');
  await page.waitForFunction(() => /Week 1 \(edited\)/.test(document.querySelector('#gradebook thead').textContent));
  await waitForRows(page, 3);
  const han = page.locator('#gradebook tbody tr', { hasText: '韩梅梅' });
  await page.waitForFunction(() => document.querySelector('#gradebook tbody tr:nth-child(2) td.cell').dataset.best === '1.00');
  assert.match(await han.locator('td.cell').first().textContent(), /100%.*late/);

  // The roster: login codes only when asked; rename; remove (confirmed).
  await showTab(page, 'roster');
  await page.waitForSelector('#roster:not([hidden]) tbody tr');
  const roster = await page.textContent('#roster tbody');
  assert.ok(!roster.includes(made.students['李雷'].login_code), 'codes are hidden by default');
  await screenshot(page, 'teacher-en-laptop-roster');
  await page.check('#show-codes');
  assert.ok((await page.textContent('#roster tbody')).includes(made.students['李雷'].login_code));
  await page.uncheck('#show-codes');
  const hanRow = page.locator('#roster tbody tr', { hasText: '韩梅梅' });
  await hanRow.locator('td.row-actions button').first().click();
  await page.fill('#roster .rename input', '韩梅梅 (B)');
  await page.click('#roster .rename button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#roster tbody').textContent.includes('韩梅梅 (B)'));
  assert.deepEqual(page.errors, []);
  assert.deepEqual(page.alerts, []);
  await page.context().close();
});

test('in Chinese on a phone: the gradebook scrolls in its box, a cell opens, a hostile name is text', { timeout: 4 * RUN_MS }, async () => {
  assert.ok(made.classId, 'the walk made a class');
  const page = await openTeacher({ locale: 'zh-CN', viewport: PHONE });
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForSelector('#gradebook:not([hidden]) tbody tr');
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  assert.equal(await page.textContent('#tab-gradebook'), '成绩册');
  assert.equal(await page.textContent('#download-csv'), '下载 CSV');
  assert.match(await page.textContent('#gradebook thead'), /学生.*平均.*按名字问好/s);
  assert.match(await page.textContent('#gradebook tbody'), /最近 100% · 2 次/);
  assert.match(await page.textContent('#gradebook tbody'), /迟交/);
  // The page is as wide as the phone; the table scrolls inside its box.
  const widths = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    view: innerWidth,
    wrap: document.querySelector('#gradebook-wrap').clientWidth,
  }));
  assert.ok(widths.page <= widths.view, `the page does not scroll sideways: ${JSON.stringify(widths)}`);
  assert.ok(widths.wrap <= widths.view);
  // Names are not squeezed to a letter a line: the table scrolls instead.
  const nameWidth = await page.$eval('#gradebook tbody th', (th) => th.getBoundingClientRect().width);
  assert.ok(nameWidth >= 60, `the name column is ${nameWidth}px wide`);
  // The hostile name is shown as its text, in the table and the panel's title.
  const hostile = page.locator('#gradebook tbody tr', { hasText: HOSTILE });
  assert.equal(await hostile.locator('th').textContent(), HOSTILE);
  assert.equal(await page.locator('img').count(), 0);
  await screenshot(page, 'teacher-zh-phone-gradebook');
  await hostile.locator('td.cell button').first().click();
  await page.waitForSelector('#detail[open] .submission');
  assert.equal(await page.textContent('#detail-title'), `${HOSTILE} · 按名字问好`);
  assert.match(await page.textContent('#detail-body'), /答案错误/);
  await screenshot(page, 'teacher-zh-phone-submission');
  // The panel covers the phone's screen as it is seen (not only in a whole-page capture).
  await page.screenshot({ path: `${SHOTS}/teacher-zh-phone-submission-view.png` });
  const panel = await page.$eval('#detail', (d) => d.getBoundingClientRect().toJSON());
  assert.ok(panel.top === 0 && panel.left === 0 && panel.width === 390, JSON.stringify(panel));
  await page.click('#detail-close');
  await showTab(page, 'assignments');
  assert.match(await page.textContent('#assignment-list'), /已截止/);
  await screenshot(page, 'teacher-zh-phone-assignments');
  await showTab(page, 'roster');
  await page.waitForSelector('#roster:not([hidden]) tbody tr');
  // Removing a student (confirmed): gone from the roster and the gradebook.
  await page.locator('#roster tbody tr', { hasText: HOSTILE }).locator('td.row-actions button').nth(1).click();
  await page.waitForFunction(() => document.querySelectorAll('#roster tbody tr').length === 2);
  await screenshot(page, 'teacher-zh-phone-roster');
  assert.deepEqual(await violations(page), []);
  // The switch: back to English.
  await page.click('#locale');
  assert.equal(await page.textContent('#tab-gradebook'), 'Gradebook');
  await showTab(page, 'gradebook');
  await page.waitForFunction(() => document.querySelectorAll('#gradebook tbody tr').length === 2);
  assert.match(await page.textContent('#gradebook thead'), /Student.*Average.*Greet by name/s);
  await screenshot(page, 'teacher-en-phone-gradebook');
  await page.click('#theme');
  assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
  await screenshot(page, 'teacher-en-phone-gradebook-dark');
  assert.deepEqual(await violations(page), []);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(page.alerts, []);
  await page.context().close();
});

test('a key typed in keeps a session for the tab (a reload stays signed in); signing out forgets it', async () => {
  const page = await openTeacher({ key: null });
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#key', teacherKey);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  assert.ok(await page.evaluate(() => sessionStorage.getItem('tiderun.session')));
  await page.reload();
  await page.waitForSelector('#app:not([hidden])');
  await page.click('#sign-out');
  await page.waitForSelector('#login:not([hidden])');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tiderun.session')), null);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
