// Beginners' hints: a failed run's message gets a short explanation in the student's language,
// from the runtime file's [[hints]] (data, not code per language).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, chooseLanguage, setCode, waitForEnd, screenshot } from './harness.js';

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

async function runAndGetHint(page, code) {
  await setCode(page, code);
  await page.click('#run');
  await waitForEnd(page);
  await page.waitForSelector('#hint:not([hidden])', { timeout: 5_000 });
  return page.$eval('#hint', (h) => ({ id: h.dataset.hint, text: h.textContent }));
}

test('full-width punctuation gets the hint in Chinese on the Chinese page', async () => {
  const page = await openPage(browser, server.url, { locale: 'zh-CN' });
  await chooseLanguage(page, 'python');
  const hint = await runAndGetHint(page, "print（'你好'）\n");
  assert.equal(hint.id, 'full-width-punctuation');
  assert.match(hint.text, /^提示：你用了中文标点/);
  // Beside the interpreter's own message, which stays as it is.
  assert.match(await page.textContent('#output'), /invalid character '（' \(U\+FF08\)/);
  await screenshot(page, 'hint-zh');
  // The page's language switch words the hint again.
  await page.click('#locale');
  assert.match(await page.textContent('#hint'), /^Hint: You typed Chinese \(full-width\) punctuation/);
  // A run that goes well has no hint.
  await setCode(page, "print('你好')\n");
  await page.click('#run');
  assert.equal((await waitForEnd(page)).state, 'ok');
  assert.equal(await page.$eval('#hint', (h) => h.hidden), true);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('English page: full-width punctuation, a missing colon, indentation, an undefined name', async () => {
  const page = await openPage(browser, server.url, { locale: 'en-US' });
  await chooseLanguage(page, 'python');
  const cases = [
    ["print（'你好'）\n", 'full-width-punctuation', /full-width/],
    ['if 1 > 0\n    print(1)\n', 'missing-colon', /colon/],
    ['if 1 > 0:\nprint(1)\n', 'indentation', /indentation/],
    ['print(nmae)\n', 'name-not-defined', /does not know/],
  ];
  for (const [code, id, text] of cases) {
    const hint = await runAndGetHint(page, code);
    assert.equal(hint.id, id, code);
    assert.match(hint.text, /^Hint: /);
    assert.match(hint.text, text);
  }
  await screenshot(page, 'hint-en');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("an exercise whose every test fails because of input()'s prompt says so", async () => {
  const page = await openPage(browser, `${server.url}/?exercise=hello-name`, { locale: 'zh-CN' });
  await page.waitForSelector('#exercise:not([hidden])');
  await chooseLanguage(page, 'python');
  await setCode(page, 'name = input("请输入你的名字：")\nprint("Hello, " + name + "!")\n');
  await page.click('#submit');
  await page.waitForSelector('#results:not([hidden]) .score', { timeout: 60_000 });
  await page.waitForSelector('#hint:not([hidden])');
  assert.equal(await page.$eval('#hint', (h) => h.dataset.hint), 'prompt-in-exercise');
  assert.match(await page.textContent('#hint'), /input\(\) 的括号里不要写提示文字/);
  await screenshot(page, 'hint-exercise-prompt');
  // The right answer: no hint.
  await setCode(page, 'name = input()\nprint("Hello, " + name + "!")\n');
  await page.click('#submit');
  await page.waitForFunction(() => document.querySelector('#results .score')?.dataset.passed === '3', null, { timeout: 60_000 });
  assert.equal(await page.$eval('#hint', (h) => h.hidden), true);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("every runtime's hints are regular expressions this browser reads", async () => {
  const page = await openPage(browser, server.url);
  const bad = await page.evaluate(async () => {
    const list = await (await fetch('/api/v1/runtimes')).json();
    const out = [];
    for (const rt of list) {
      for (const hint of rt.hints) {
        for (const pattern of [hint.match, hint.source_match].filter(Boolean)) {
          try {
            new RegExp(pattern, 'u');
          } catch (e) {
            out.push(`${rt.language} ${hint.id}: ${e.message}`);
          }
        }
      }
    }
    return { out, count: list.reduce((n, rt) => n + rt.hints.length, 0) };
  });
  assert.deepEqual(bad.out, []);
  assert.ok(bad.count >= 15, `${bad.count} hints`);
  await page.context().close();
});
