// The student's page, polished: a join refused because the class is full says so in the
// student's language (the server's message is English); the exercises dialog is titled after
// the tab it shows (My class or the exercises); on a phone the top bar of a signed-in student
// keeps two rows — the name, the class and Sign out on the first — so the editor is not pushed
// down, while a laptop keeps its one row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import AxeBuilder from '@axe-core/playwright';
import { startServer, createKey, apiCall, launchBrowser, newPage, openPage, ready, screenshot } from './harness.js';

const PHONE = { width: 390, height: 844 };
const SMALL_PHONE = { width: 360, height: 740 };
const LAPTOP = { width: 1280, height: 800 };
/** The roster bound of the store (`store::MAX_STUDENTS_PER_CLASS`). */
const MAX_STUDENTS = 300;
/** Joins sent at once while filling a class. */
const JOIN_BATCH = 25;
/**
 * The phone's top bar in two rows: two rows of 37 px controls, 8 px padding above and below and
 * 8 px gaps (106 px measured). Three rows — the signed-in student on a row of their own — were
 * 144 px, so the bound fails at once if the student's row comes back.
 */
const TWO_ROWS_PX = 110;
/** The laptop's top bar in one row (58 px measured; wrapping buttons made it 80). */
const ONE_ROW_PX = 64;
/** A class name longer than a phone's row: cut with an ellipsis, never wrapping the bar. */
const LONG_CLASS = '2026 届初二（3）班 Python 编程兴趣小组 · 周三下午';

let server;
let browser;
let teacher;
let full;
let long;

/** Join `klass` as `name` through the API: the answer (with the login code). */
async function joinApi(klass, name) {
  const r = await apiCall(server, 'POST', '/api/v1/classes/join', null, { code: klass.join_code, display_name: name });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

before(async () => {
  server = await startServer();
  teacher = createKey(server, `teacher-${Date.now()}`, 'teacher');
  const make = async (name) => {
    const r = await apiCall(server, 'POST', '/api/v1/classes', teacher, { name });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  full = await make('满员班');
  long = await make(LONG_CLASS);
  for (let i = 0; i < MAX_STUDENTS; i += JOIN_BATCH) {
    await Promise.all(Array.from({ length: Math.min(JOIN_BATCH, MAX_STUDENTS - i) }, (_, k) => joinApi(full, `学生 ${i + k + 1}`)));
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Join by the class link's dialog as `name`; the message shown once refused. */
async function refusedJoin(page, name) {
  await page.waitForSelector('#join-dialog[open]');
  await page.fill('#join-name', name);
  await page.click('#join-submit');
  await page.waitForFunction(() => document.querySelector('#join-message').dataset.kind === 'error');
  return page.textContent('#join-message');
}

/** Sign in with a login code from the header. */
async function signIn(page, loginCode) {
  await page.click('#signin-button');
  await page.fill('#signin-code', loginCode);
  await page.click('#signin-submit');
  await page.waitForSelector('#account-who:visible');
}

test('a full class refuses a join in the student’s language', async () => {
  // The server's own words, which the page must not show to a Chinese student.
  const server_says = await apiCall(server, 'POST', '/api/v1/classes/join', null, { code: full.join_code, display_name: 'one more' });
  assert.equal(server_says.status, 409);
  assert.match(server_says.body.error, /^at most 300 students of one class/);

  const zh = await newPage(browser, `${server.url}/#join=${full.join_code}`, { locale: 'zh-CN', viewport: PHONE });
  assert.equal(await refusedJoin(zh, '小红'), `这个班级已满：已有 ${MAX_STUDENTS} 名学生，达到一个班级的上限。请告诉老师。`);
  assert.ok(await zh.$('#join-dialog[open]'), 'the dialog stays, with the message');
  await screenshot(zh, 'student-class-full-phone-zh');
  // The other refusals a student meets are in Chinese too: a name taken, a wrong code.
  assert.equal(await refusedJoin(zh, '学生 7'), '班里已经有人叫“学生 7”了。请换一个名字（可以加上数字或你的姓）。');
  assert.deepEqual(zh.errors, []);
  await zh.context().close();

  const wrong = await newPage(browser, `${server.url}/#join=ZZZZZZZZ`, { locale: 'zh-CN', viewport: PHONE });
  assert.equal(await refusedJoin(wrong, '小红'), '没有班级使用这个代码。请向老师核对链接（代码可能已更换）。');
  await wrong.context().close();

  // A full disk (507, the server's STORE_FULL), which a test cannot make: the answer is stood in.
  const disk = await newPage(browser, `${server.url}/#join=${long.join_code}`, { locale: 'zh-CN', viewport: PHONE });
  await disk.route('**/api/v1/classes/join', (route) =>
    route.fulfill({
      status: 507,
      contentType: 'application/json',
      body: JSON.stringify({ error: "the server's storage is full: nothing new can be saved until space is freed (runs still work)" }),
    }),
  );
  assert.equal(await refusedJoin(disk, '小红'), '服务器的存储空间已满：现在无法保存新内容（运行程序不受影响）。请告诉老师。');
  await disk.context().close();

  const en = await newPage(browser, `${server.url}/#join=${full.join_code}`, { viewport: LAPTOP });
  assert.equal(await refusedJoin(en, 'Ada'), `This class is full: it has ${MAX_STUDENTS} students, the most a class may have. Tell your teacher.`);
  await screenshot(en, 'student-class-full-laptop-en');
  assert.deepEqual(en.errors, []);
  await en.context().close();
});

test('the exercises dialog is titled after its tab', async () => {
  const student = await joinApi(long, '李雷');
  const page = await openPage(browser, server.url, { locale: 'zh-CN', viewport: LAPTOP });
  // Signed out: the exercises, no tabs.
  await page.click('#exercises-button');
  await page.waitForSelector('#exercise-list .exercise-item');
  assert.equal(await page.textContent('#exercises-heading'), '练习');
  await page.keyboard.press('Escape');

  await signIn(page, student.login_code);
  await page.click('#exercises-button');
  await page.waitForSelector('#my-class:not([hidden])');
  assert.equal(await page.textContent('#exercises-heading'), '我的班级');
  await screenshot(page, 'student-dialog-myclass-laptop-zh');
  await page.click('#tab-all');
  await page.waitForSelector('#exercise-list:not([hidden]) .exercise-item');
  assert.equal(await page.textContent('#exercises-heading'), '练习');
  await page.click('#tab-class');
  assert.equal(await page.textContent('#exercises-heading'), '我的班级');
  // The title follows a switch of the page's language.
  await page.keyboard.press('Escape');
  await page.click('#locale');
  await page.click('#exercises-button');
  await page.waitForSelector('#my-class:not([hidden])');
  assert.equal(await page.textContent('#exercises-heading'), 'My class');
  await page.click('#tab-all');
  assert.equal(await page.textContent('#exercises-heading'), 'Exercises');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

/** Serious or critical accessibility faults in the top bar (the icon Sign out, the cut names). */
async function topBarViolations(page) {
  const results = await new AxeBuilder({ page }).include('.topbar').withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** The top bar's height, in px. */
const barHeight = (page) => page.$eval('.topbar', (bar) => bar.getBoundingClientRect().height);

/** Boxes of the top bar's parts, in px. */
async function topBar(page) {
  return page.evaluate(() => {
    const box = (selector) => {
      const r = document.querySelector(selector).getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height };
    };
    return {
      bar: box('.topbar'),
      name: box('#account-who .who-name'),
      klass: box('#account-who .who-class'),
      signout: box('#signout'),
      language: box('.field'),
    };
  });
}

/** The signed-in student's parts are seen, inside the screen, on the first of two rows. */
function assertTwoRows(shown, viewport, label) {
  assert.ok(shown.bar.height <= TWO_ROWS_PX, `${label}: the top bar is ${shown.bar.height} px high`);
  for (const part of ['name', 'klass', 'signout']) {
    const b = shown[part];
    assert.ok(b.width >= 20 && b.height > 0, `${label}: ${part} is shown (${JSON.stringify(b)})`);
    assert.ok(b.left >= 0 && b.right <= viewport.width, `${label}: ${part} is inside the screen`);
    assert.ok(b.bottom <= shown.language.top, `${label}: ${part} is on the first row`);
  }
}

for (const [locale, viewport, words] of [
  ['zh-CN', PHONE, { who: '已登录：王小明 · ', signout: '退出登录' }],
  ['en-US', PHONE, { who: 'Signed in as 王小明 · ', signout: 'Sign out' }],
  ['en-US', SMALL_PHONE, { who: 'Signed in as 王小明 · ', signout: 'Sign out' }],
]) {
  test(`a signed-in student's top bar keeps two rows on a ${viewport.width} px phone (${locale})`, async () => {
    const student = await joinApi(long, `王小明${viewport.width}${locale}`);
    const page = await openPage(browser, server.url, { locale, viewport });
    await signIn(page, student.login_code);
    await page.evaluate(() => document.fonts.ready);
    const height = await barHeight(page);
    assert.ok(height <= TWO_ROWS_PX, `the signed-in top bar is ${height} px high`);
    assert.equal(await page.textContent('#account-who .who-name'), student.display_name);
    assert.equal(await page.textContent('#account-who .who-class'), LONG_CLASS);
    // The whole sentence is still there for a screen reader and as the tooltip.
    assert.equal(await page.textContent('#account-who'), `${words.who.replace('王小明', student.display_name)}${LONG_CLASS}`);
    assert.equal(await page.getAttribute('#account-who', 'title'), await page.textContent('#account-who'));
    assert.ok(await page.isVisible('#signout'));
    assert.equal((await page.textContent('#signout')).trim(), words.signout);
    assert.equal(await page.getByRole('button', { name: words.signout }).count(), 1, 'Sign out keeps its name');
    // A long class name is cut, not wrapped.
    assert.ok(await page.$eval('#account-who .who-class', (c) => c.scrollWidth > c.clientWidth), 'the long class name is cut');
    assertTwoRows(await topBar(page), viewport, `${locale} ${viewport.width}`);
    assert.deepEqual(await topBarViolations(page), []);
    await screenshot(page, `student-topbar-phone${viewport.width}-${locale === 'zh-CN' ? 'zh' : 'en'}`);

    // With an exercise open, "Run tests" joins the second row: still two.
    await page.click('#exercises-button');
    await page.click('#tab-all');
    await page.locator('#exercise-list .exercise-item').first().click();
    await page.waitForSelector('#exercise:not([hidden])');
    assert.ok(await page.isVisible('#submit'));
    assertTwoRows(await topBar(page), viewport, `${locale} ${viewport.width} with an exercise`);
    await screenshot(page, `student-topbar-exercise-phone${viewport.width}-${locale === 'zh-CN' ? 'zh' : 'en'}`);

    // Sign out from the compact button.
    await page.click('#signout');
    await page.waitForSelector('#signin-button:visible');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
}

test('a signed-in student’s top bar keeps one row on a laptop', async () => {
  const student = await joinApi(long, 'Hermione Jean Granger-Weasley');
  const page = await openPage(browser, server.url, { viewport: LAPTOP });
  await signIn(page, student.login_code);
  const height = await barHeight(page);
  assert.ok(height <= ONE_ROW_PX, `the top bar is ${height} px high`);
  const shown = await topBar(page);
  // Words, not an icon, on a laptop; on one line.
  assert.ok(await page.isVisible('#signout .signout-label'));
  assert.ok(await page.isHidden('#signout .signout-icon'));
  assert.ok(shown.signout.height <= 36, `Sign out is on one line (${shown.signout.height} px)`);
  assert.equal(await page.textContent('#account-who'), `Signed in as Hermione Jean Granger-Weasley · ${LONG_CLASS}`);
  await screenshot(page, 'student-topbar-laptop-en');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
