// The page on a phone (390×844, touch) in Chinese: long lines wrap in the editor without
// moving the page sideways, Run and Run tests stay on screen with the result, "Example" asks
// before replacing the student's code, and examples and starters follow the page's language.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, chooseLanguage, setCode, editorText, waitForEnd, screenshot } from './harness.js';

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' };

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

/** How far the page itself scrolls sideways (0: not at all). */
function sideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

/** Whether the element is on screen and nothing covers its middle. */
function onScreen(page, selector) {
  return page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    const inside = r.width > 0 && r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return inside && Boolean(hit) && (hit === el || el.contains(hit));
  });
}

test('a 200-character line wraps in the editor and the page does not scroll sideways', async () => {
  const page = await openPage(browser, server.url, PHONE);
  await chooseLanguage(page, 'python');
  const line = `print("${'长'.repeat(40)}${'a'.repeat(151)}")`;
  assert.equal(line.length, 200);
  await setCode(page, `${line}\n`);
  assert.equal(await page.$eval('#editor .cm-content', (c) => c.classList.contains('cm-lineWrapping')), true);
  assert.equal(await sideways(page), 0, 'the page does not scroll sideways');
  const editor = await page.$eval('#editor .cm-scroller', (s) => s.scrollWidth - s.clientWidth);
  assert.equal(editor, 0, 'the line wraps: the editor does not scroll sideways either');
  await page.click('#run');
  assert.equal((await waitForEnd(page)).state, 'ok');
  assert.equal(await sideways(page), 0, 'nor with the line in the console');
  await screenshot(page, 'phone-long-line');
  assert.equal(await page.$eval('#submit', (b) => b.offsetParent === null), true, 'no Run tests without an exercise');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('Run and Run tests stay on screen while a long output or the score is in view', async () => {
  // An exercise makes the page long: its statement and examples are above the editor.
  const page = await openPage(browser, `${server.url}/?exercise=sum-two`, PHONE);
  await page.waitForSelector('#exercise:not([hidden])');
  await chooseLanguage(page, 'python');
  await setCode(page, 'for i in range(300):\n    print("第", i, "行")\n');
  await page.click('#run');
  assert.equal((await waitForEnd(page)).state, 'ok');
  const scrolled = await page.evaluate(() => window.scrollY);
  assert.ok(scrolled > 200, `the page scrolled down to the console (${scrolled})`);
  assert.equal(await onScreen(page, '#status'), true, 'the result is in view');
  assert.equal(await onScreen(page, '#run'), true, 'Run is on screen');
  assert.equal(await onScreen(page, '#submit'), true, 'Run tests is on screen');
  await screenshot(page, 'phone-long-output');

  await setCode(page, 'a, b = map(int, input().split())\nprint(a + b)\n');
  await page.click('#submit');
  await page.waitForSelector('#results:not([hidden]) .score', { timeout: 60_000 });
  await page.waitForSelector('#submit:not([disabled])');
  assert.equal(await onScreen(page, '#results .score'), true, 'the score is in view');
  assert.equal(await onScreen(page, '#submit'), true, 'Run tests is on screen');
  assert.equal(await onScreen(page, '#run'), true);
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  assert.equal(await onScreen(page, '#run'), true, 'Run is on screen at the bottom of the page too');
  await screenshot(page, 'phone-exercise-result');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('"Example" asks before replacing the student\'s code, in the page\'s language', async () => {
  const page = await openPage(browser, server.url, PHONE);
  await chooseLanguage(page, 'python');
  const example = await editorText(page);
  assert.match(example, /你叫什么名字？/, 'the example in Chinese');
  assert.match(example, /^# 问名字/, 'its comment too');
  const asked = [];
  page.on('dialog', (dialog) => {
    asked.push(dialog.message());
    return asked.length === 1 ? dialog.dismiss() : dialog.accept();
  });
  // The untouched example is replaced without a question.
  await page.click('#reset');
  assert.deepEqual(asked, []);
  await setCode(page, 'print("我的代码")\n');
  await page.click('#reset');
  assert.equal(asked.length, 1);
  assert.match(asked[0], /用示例替换你的代码吗/);
  assert.equal(await editorText(page), 'print("我的代码")\n', 'no: the code stays');
  await page.click('#reset');
  assert.equal(asked.length, 2);
  assert.equal(await editorText(page), example.replace(/\n$/, '') + '\n', 'yes: the example');

  // Switching the page to English turns the untouched example English...
  await page.click('#locale');
  assert.match(await editorText(page), /What is your name\?/);
  // ...but never the student's code, which also comes back after another language.
  await setCode(page, 'print("mine")\n');
  await page.click('#locale');
  assert.equal(await editorText(page), 'print("mine")\n');
  await chooseLanguage(page, 'javascript');
  assert.match(await editorText(page), /你叫什么名字？/, "JavaScript's example in Chinese");
  await chooseLanguage(page, 'python');
  assert.equal(await editorText(page), 'print("mine")\n');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("an exercise's starter comments follow the page's language", async () => {
  const page = await openPage(browser, `${server.url}/?exercise=hello-name`, PHONE);
  await page.waitForSelector('#exercise:not([hidden])');
  await chooseLanguage(page, 'python');
  assert.match(await editorText(page), /# 向这个名字问好/);
  await page.click('#locale');
  assert.match(await editorText(page), /# greet the name/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
