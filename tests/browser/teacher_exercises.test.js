// The teacher's Exercises tab (/teacher) on a server that requires keys: the list (the
// teacher's own first and editable; the directory's and another teacher's read-only, with a
// view of the statement and visible tests); a new exercise made on the page with a hidden,
// weighted test (a bad id first: the server's words beside the form), at once in the
// assignments' picker; a student (API join and submit) graded by it; the teacher changes the
// hidden test's expected output and the next submission is graded by the new one; one
// deleted after a confirmation. The form in zh-CN on a phone, everything as text. A Chinese
// title and statement and per-exercise limits set on the form: stored as typed (seconds as
// ms), the Chinese title on a student's Chinese page, a limit past the language's maximum
// refused in the page's words and nothing saved, a cleared limit gone from the definition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import AxeBuilder from '@axe-core/playwright';
import { startServer, launchBrowser, openPage, screenshot, createKey, apiCall, RUN_MS } from './harness.js';

const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const HOSTILE = '<img src=x onerror=alert(1)>';
const DOUBLE = 'n = int(input())\nprint(n * 2)\n';

let server;
let browser;
let ada;
let bo;
let room;

before(async () => {
  server = await startServer(['--require-keys']);
  ada = createKey(server, 'teacher-ada', 'teacher');
  bo = createKey(server, 'teacher-bo', 'teacher');
  room = createKey(server, 'room-3b', 'classroom');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const api = (method, path, token, body) => apiCall(server, method, path, token, body);

async function openTeacher({ locale = 'en-US', viewport = LAPTOP } = {}) {
  const context = await browser.newContext({ locale, viewport });
  const page = await context.newPage();
  page.errors = [];
  page.alerts = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('dialog', (d) => {
    if (d.type() === 'confirm') return d.accept();
    page.alerts.push(d.message());
    return d.dismiss();
  });
  await page.goto(`${server.url}/teacher#key=${ada}`);
  await page.waitForSelector('#app:not([hidden])');
  return page;
}

async function showTab(page, name) {
  await page.click(`#tab-${name}`);
  await page.waitForSelector(`#panel-${name}:not([hidden])`);
}

async function violations(page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** The test rows of the form: fill row `i` (0-based). */
async function fillTest(page, i, { stdin, expected, hidden = false, weight = '' }) {
  const row = page.locator('#x-tests .test-row').nth(i);
  await row.locator('textarea.stdin').fill(stdin);
  await row.locator('textarea.expected').fill(expected);
  await row.locator('input.hidden-test').setChecked(hidden);
  await row.locator('input.weight').fill(weight);
}

test('a teacher adds an exercise on the page, a student is graded by it, and an edit grades the next submission', { timeout: 8 * RUN_MS }, async () => {
  // Another teacher's exercise, with a hostile title: read-only here, shown as text.
  const other = { id: 'bo-one', title: HOSTILE, statement: 'Print 1.', tests: [{ expected_output: '1\n' }] };
  assert.equal((await api('POST', '/api/v1/exercises', bo, other)).status, 201);
  const scratch = { id: 'scratch', title: 'Scratch', statement: 'Print 1.', tests: [{ expected_output: '1\n' }] };
  assert.equal((await api('POST', '/api/v1/exercises', ada, scratch)).status, 201);

  const page = await openTeacher();
  await page.fill('#class-name', 'Class 3B');
  await page.click('#class-form button[type=submit]');
  await page.waitForSelector('#class-view:not([hidden])');
  const code = (await page.textContent('#join-code')).trim();

  await showTab(page, 'exercises');
  await page.waitForSelector('#exercise-list [data-exercise="sum-two"]');
  const marks = await page.$$eval('#exercise-list li', (l) => l.map((x) => [x.dataset.exercise, x.querySelector('.state').textContent]));
  assert.deepEqual(marks[0], ['scratch', 'yours'], 'the teacher’s own first');
  assert.deepEqual(Object.fromEntries(marks)['sum-two'], 'directory · read-only');
  assert.deepEqual(Object.fromEntries(marks)['bo-one'], 'read-only');
  assert.equal(await page.locator('#exercise-list [data-exercise="bo-one"] .assignment-title').textContent(), HOSTILE);
  assert.equal(await page.locator('#exercise-list [data-exercise="sum-two"] button', { hasText: 'Edit' }).count(), 0);

  // A directory exercise: its statement and visible tests, nothing hidden.
  await page.locator('#exercise-list [data-exercise="sum-two"] button', { hasText: 'View' }).click();
  await page.waitForSelector('#detail[open] .example');
  assert.equal(await page.textContent('#detail-title'), 'Sum of two numbers');
  assert.match(await page.textContent('#detail-body'), /hidden/);
  await screenshot(page, 'teacher-exercises-en-laptop-view');
  await page.click('#detail-close');

  // A new exercise; a bad id first: the server says why beside the form.
  await page.click('#new-exercise');
  await page.fill('#x-id', 'Double It');
  await page.fill('#x-title', 'Double it');
  await page.fill('#x-statement', 'Read a whole number `n` and print **twice** it.');
  await fillTest(page, 0, { stdin: '2\n', expected: '4\n' });
  await page.click('#x-add-test');
  await fillTest(page, 1, { stdin: '21\n', expected: '42\n', hidden: true, weight: '2' });
  await page.locator('#x-languages label', { hasText: 'Python' }).locator('input').check();
  await page.selectOption('#x-starter-language', 'python');
  await page.fill('#x-starter', 'n = int(input())\n');
  await page.click('#exercise-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#exercise-error').textContent.length > 0);
  assert.match(await page.textContent('#exercise-error'), /^Not saved: .*Double It.*not allowed/);
  await screenshot(page, 'teacher-exercises-en-laptop-form-error');
  await page.fill('#x-id', 'double');
  await page.click('#exercise-form button[type=submit]');
  await page.waitForSelector('#exercise-form', { state: 'hidden' });
  assert.match(await page.textContent('#exercises-message'), /Saved “Double it”/);
  assert.deepEqual(
    await page.$$eval('#exercise-list li.yours', (l) => l.map((x) => x.dataset.exercise)),
    ['double', 'scratch'],
  );
  const stored = await api('GET', '/api/v1/exercises/double/definition', ada);
  assert.deepEqual(stored.body.tests, [
    { name: 'test 1', stdin: '2\n', expected_output: '4\n', hidden: false },
    { name: 'test 2', stdin: '21\n', expected_output: '42\n', hidden: true, weight: 2 },
  ]);
  assert.deepEqual(stored.body.languages, ['python']);
  assert.deepEqual(stored.body.starter, { python: 'n = int(input())\n' });
  await screenshot(page, 'teacher-exercises-en-laptop-list');

  // At once in the assignments' picker (no reload): an assignment of it.
  await showTab(page, 'assignments');
  await page.click('#new-assignment');
  await page.fill('#a-title', 'Week 1');
  await page.selectOption('#a-pick', 'double');
  await page.click('#a-add');
  await page.click('#assignment-form button[type=submit]');
  await page.waitForSelector('#assignment-list .assignment');
  assert.match(await page.textContent('#assignment-list .assignment'), /Week 1.*Double it/s);

  // A student is graded by it: both tests pass (the hidden one is worth 2).
  const student = (await api('POST', '/api/v1/classes/join', null, { code, display_name: '李雷' })).body;
  const submit = async () => {
    const r = await api('POST', '/api/v1/exercises/double/submit', student.token, { language: 'python', code: DOUBLE });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const first = await submit();
  assert.equal(first.score, 1, JSON.stringify(first));

  // The teacher changes the hidden test's expected output: the next submission fails it.
  await showTab(page, 'exercises');
  await page.locator('#exercise-list [data-exercise="double"] button', { hasText: 'Edit' }).click();
  await page.waitForSelector('#exercise-form:not([hidden])');
  assert.ok(await page.isDisabled('#x-id'), 'the id of a saved exercise stays');
  assert.equal(await page.inputValue('#x-tests .test-row:nth-child(2) textarea.expected'), '42\n');
  assert.ok(await page.isChecked('#x-tests .test-row:nth-child(2) input.hidden-test'));
  await page.fill('#x-tests .test-row:nth-child(2) textarea.expected', '43\n');
  await screenshot(page, 'teacher-exercises-en-laptop-edit');
  await page.click('#exercise-form button[type=submit]');
  await page.waitForSelector('#exercise-form', { state: 'hidden' });
  const second = await submit();
  assert.equal(second.tests[1].verdict, 'wrong_answer', JSON.stringify(second));
  assert.ok(Math.abs(second.score - 1 / 3) < 1e-9, `1 of 3 points: ${second.score}`);
  assert.equal(second.tests[1].expected_output, undefined, 'the hidden test leaks nothing');

  // Deleted after the confirmation, gone from the list and the picker.
  await page.locator('#exercise-list [data-exercise="scratch"] button', { hasText: 'Delete' }).click();
  await page.waitForFunction(() => !document.querySelector('#exercise-list [data-exercise="scratch"]'));
  assert.equal((await api('GET', '/api/v1/exercises/scratch', ada)).status, 404);
  assert.equal(await page.locator('#a-pick option[value="scratch"]').count(), 0);
  assert.equal(await page.locator('img').count(), 0, 'titles are text, never markup');
  assert.deepEqual(await violations(page), []);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(page.alerts, []);
  await page.context().close();
});

test('the exercise form in Chinese on a phone', { timeout: 4 * RUN_MS }, async () => {
  const page = await openTeacher({ locale: 'zh-CN', viewport: PHONE });
  await page.waitForSelector('#class-view:not([hidden])');
  await showTab(page, 'exercises');
  assert.equal(await page.textContent('#tab-exercises'), '练习');
  await page.waitForSelector('#exercise-list [data-exercise="double"]');
  assert.equal(await page.textContent('#exercise-list [data-exercise="double"] .state'), '我的');
  await page.locator('#exercise-list [data-exercise="double"] button', { hasText: '编辑' }).click();
  await page.waitForSelector('#exercise-form:not([hidden])');
  assert.equal(await page.textContent('#exercise-form-title'), '编辑 double');
  assert.match(await page.textContent('#exercise-form'), /期望输出.*隐藏.*分值.*评分规则.*忽略大小写.*可用语言.*初始代码/s);
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, view: innerWidth }));
  assert.ok(widths.page <= widths.view, `the page does not scroll sideways: ${JSON.stringify(widths)}`);
  // A test's fields stack on a phone: the expected output is below the input, as wide.
  const [stdin, expected] = await page.$$eval('#x-tests .test-row:first-child textarea', (l) => l.map((x) => x.getBoundingClientRect().toJSON()));
  assert.ok(expected.top > stdin.top && expected.width > 250, JSON.stringify({ stdin, expected }));
  await screenshot(page, 'teacher-exercises-zh-phone-form');
  await page.click('#new-exercise');
  await page.fill('#x-id', 'bo-one');
  await page.fill('#x-title', '重复');
  await page.fill('#x-statement', '打印 1。');
  await fillTest(page, 0, { stdin: '', expected: '1\n' });
  await page.click('#exercise-form button[type=submit]');
  // The id is taken: the server's words (its API stays English) in the page's sentence.
  await page.waitForFunction(() => document.querySelector('#exercise-error').textContent.length > 0);
  assert.match(await page.textContent('#exercise-error'), /^未保存：.*"bo-one" belongs to the key "teacher-bo"; choose another id/);
  await screenshot(page, 'teacher-exercises-zh-phone-error');
  assert.deepEqual(await violations(page), []);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

/** The Chinese fields and the limits of a stored definition. */
async function zhAndLimits(id) {
  const r = await api('GET', `/api/v1/exercises/${id}/definition`, ada);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { title_zh, statement_zh, limits } = r.body;
  return { title_zh, statement_zh, limits };
}

test('a Chinese title and statement and limits set on the form; a limit past the maximum is refused', { timeout: 8 * RUN_MS }, async () => {
  const runtimes = (await api('GET', '/api/v1/runtimes', ada)).body;
  const python = (Array.isArray(runtimes) ? runtimes : runtimes.runtimes).find((r) => r.language === 'python');
  const page = await openTeacher();
  await page.waitForSelector('#class-view:not([hidden])');
  await showTab(page, 'exercises');
  await page.click('#new-exercise');
  await page.fill('#x-id', 'twice');
  await page.fill('#x-title', 'Twice');
  await page.fill('#x-title-zh', '两倍');
  await page.fill('#x-statement', 'Read `n` and print twice it.');
  await page.fill('#x-statement-zh', '读入整数 `n`，输出它的两倍。');
  await fillTest(page, 0, { stdin: '4\n', expected: '8\n' });
  await page.locator('#x-languages label', { hasText: 'Python' }).locator('input').check();
  // An empty limit stands for the language's default, shown in grey (seconds, MB).
  assert.deepEqual(
    await page.$$eval('#x-cpu, #x-wall, #x-memory', (l) => l.map((x) => x.placeholder)),
    [String(python.limits.defaults.cpu_ms / 1000), String(python.limits.defaults.wall_ms / 1000), String(python.limits.defaults.memory_mb)],
  );
  await page.fill('#x-cpu', '1.5');
  await page.fill('#x-wall', '4');
  await page.fill('#x-memory', '128');
  await screenshot(page, 'teacher-exercises-en-laptop-zh-limits');
  await page.click('#exercise-form button[type=submit]');
  await page.waitForSelector('#exercise-form', { state: 'hidden' });
  assert.deepEqual(await zhAndLimits('twice'), {
    title_zh: '两倍',
    statement_zh: '读入整数 `n`，输出它的两倍。',
    limits: { cpu_ms: 1500, wall_ms: 4000, memory_mb: 128 },
  });
  // A student's page in Chinese shows the Chinese title and statement.
  const student = await openPage(browser, `${server.url}/#key=${room}`, { locale: 'zh-CN', viewport: PHONE });
  await student.click('#exercises-button');
  await student.waitForSelector('#exercises-dialog[open] .exercise-item');
  const item = student.locator('#exercises-dialog .exercise-item', { hasText: '两倍' });
  assert.equal(await item.locator('.exercise-item-title').textContent(), '两倍');
  await item.click();
  await student.waitForSelector('#exercise:not([hidden])');
  assert.match(await student.textContent('#exercise'), /两倍[\s\S]*读入整数 n，输出它的两倍。/);
  await screenshot(student, 'teacher-exercises-zh-phone-student');
  assert.deepEqual(student.errors, []);
  await student.context().close();
  assert.deepEqual(page.errors, []);
  await page.context().close();

  // In Chinese on a phone: the form loads them; a memory limit past Python's maximum is refused
  // in the page's words beside the field, and nothing is saved.
  const phone = await openTeacher({ locale: 'zh-CN', viewport: PHONE });
  await phone.waitForSelector('#class-view:not([hidden])');
  await showTab(phone, 'exercises');
  await phone.locator('#exercise-list [data-exercise="twice"] button', { hasText: '编辑' }).click();
  await phone.waitForSelector('#exercise-form:not([hidden])');
  assert.deepEqual(
    await phone.$$eval('#x-title-zh, #x-statement-zh, #x-cpu, #x-wall, #x-memory', (l) => l.map((x) => x.value)),
    ['两倍', '读入整数 `n`，输出它的两倍。', '1.5', '4', '128'],
  );
  assert.match(await phone.textContent('#exercise-form'), /中文标题.*中文题目描述.*每个测试的运行限制.*CPU 时间.*秒.*实际用时.*内存.*MB/s);
  const max = python.limits.max.memory_mb;
  await phone.fill('#x-memory', String(max + 1));
  await phone.click('#exercise-form button[type=submit]');
  await phone.waitForFunction(() => document.querySelector('#x-limits-error').textContent.length > 0);
  assert.equal(
    await phone.textContent('#exercise-error'),
    `未保存：limits: memory_mb = ${max + 1} is out of range (at most ${max}) for Python`,
  );
  assert.equal(await phone.textContent('#x-limits-error'), `内存：Python 最多 ${max} MB。`);
  assert.equal(await phone.getAttribute('#x-memory', 'aria-invalid'), 'true');
  assert.ok(await phone.isVisible('#exercise-form'), 'the form stays open to fix it');
  assert.deepEqual((await zhAndLimits('twice')).limits, { cpu_ms: 1500, wall_ms: 4000, memory_mb: 128 }, 'nothing saved');
  const widths = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, view: innerWidth }));
  assert.ok(widths.page <= widths.view, `the page does not scroll sideways: ${JSON.stringify(widths)}`);
  await phone.locator('#x-limits-error').scrollIntoViewIfNeeded();
  await screenshot(phone, 'teacher-exercises-zh-phone-limit-error');

  // Cleared fields leave the definition: the wall limit and the memory limit...
  await phone.fill('#x-memory', '');
  await phone.fill('#x-wall', '');
  await phone.click('#exercise-form button[type=submit]');
  await phone.waitForSelector('#exercise-form', { state: 'hidden' });
  assert.deepEqual(await zhAndLimits('twice'), {
    title_zh: '两倍',
    statement_zh: '读入整数 `n`，输出它的两倍。',
    limits: { cpu_ms: 1500 },
  });
  // ...and the last limit and the Chinese statement: no `limits`, no `statement_zh` at all.
  await phone.locator('#exercise-list [data-exercise="twice"] button', { hasText: '编辑' }).click();
  await phone.waitForSelector('#exercise-form:not([hidden])');
  await phone.fill('#x-cpu', '');
  await phone.fill('#x-statement-zh', ' ');
  await phone.click('#exercise-form button[type=submit]');
  await phone.waitForSelector('#exercise-form', { state: 'hidden' });
  assert.deepEqual(await zhAndLimits('twice'), { title_zh: '两倍', statement_zh: undefined, limits: undefined });
  assert.deepEqual(await violations(phone), []);
  assert.deepEqual(phone.errors, []);
  await phone.context().close();
});
