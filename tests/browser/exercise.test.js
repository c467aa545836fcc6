// Exercises: opened from the list, graded on the server; a hidden test shows only its verdict.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, ready, setCode, editorText, screenshot } from './harness.js';

let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await openPage(browser, server.url);
});

after(async () => {
  assert.deepEqual(page?.errors ?? [], [], 'no errors in the page');
  await browser?.close();
  await server?.stop();
});

async function grade() {
  await page.click('#submit');
  await page.waitForSelector('#results:not([hidden]) .score', { timeout: 60_000 });
  await page.waitForSelector('#submit:not([disabled])');
  return page.$$eval('#results .verdict', (items) =>
    items.map((i) => ({
      name: i.querySelector('.verdict-name').textContent,
      verdict: i.dataset.verdict,
      hidden: i.dataset.hidden === 'true',
      details: Boolean(i.querySelector('details')),
    })),
  );
}

test('an exercise is opened from the list with its statement and starter code', async () => {
  await page.click('#exercises-button');
  await page.waitForSelector('#exercises-dialog[open] .exercise-item');
  await screenshot(page, 'exercise-list');
  await page.click('#exercises-dialog .exercise-item:has-text("Sum of two numbers")');
  await page.waitForSelector('#exercise:not([hidden])');
  assert.equal(await page.textContent('#exercise-title'), 'Sum of two numbers');
  assert.ok((await page.textContent('#exercise-statement')).length > 20, 'the statement is shown');
  assert.equal(await page.inputValue('#language'), 'python');
  assert.match(await editorText(page), /input\(\)/, 'the starter code is in the editor');
  assert.match(page.url(), /\?exercise=sum-two$/);
});

test('an answer wrong only on the hidden test is graded 2/3', async () => {
  await setCode(page, 'a, b = map(int, input().split())\nprint(abs(a + b))\n');
  const verdicts = await grade();
  assert.equal(await page.$eval('#results .score', (s) => `${s.dataset.passed}/${s.dataset.total}`), '2/3');
  assert.match(await page.textContent('#status'), /Score: 2\/3/);
  assert.equal((await page.$eval('#status', (s) => s.dataset.state)), 'error');
  assert.equal(verdicts.length, 3);
  const hidden = verdicts.filter((v) => v.hidden);
  assert.equal(hidden.length, 1, 'one hidden test');
  assert.equal(hidden[0].verdict, 'wrong_answer');
  assert.equal(hidden[0].details, false, 'a hidden test shows no input or output');
  assert.ok(verdicts.filter((v) => !v.hidden).every((v) => v.verdict === 'accepted'));
  const hiddenText = await page.$eval('#results .verdict[data-hidden="true"]', (i) => i.textContent);
  assert.match(hiddenText, /hidden test/);
  assert.match(hiddenText, /Wrong answer/);
  await screenshot(page, 'exercise-2-of-3');
});

test('the right answer passes all tests, and the exercise survives a reload', async () => {
  await setCode(page, 'a, b = map(int, input().split())\nprint(a + b)\n');
  const verdicts = await grade();
  assert.ok(verdicts.every((v) => v.verdict === 'accepted'));
  assert.match(await page.textContent('#status'), /Score: 3\/3/);
  assert.match(await page.textContent('#results'), /All tests passed/);
  await page.reload();
  await ready(page);
  await page.waitForSelector('#exercise:not([hidden])');
  assert.equal(await editorText(page), 'a, b = map(int, input().split())\nprint(a + b)\n');
});

test('a compile error in an exercise highlights its line', async () => {
  await page.selectOption('#language', 'c');
  await setCode(page, '#include <stdio.h>\nint main(void) {\n    int a, b\n    scanf("%d %d", &a, &b);\n    printf("%d\\n", a + b);\n}\n');
  const verdicts = await grade();
  assert.ok(verdicts.every((v) => v.verdict === 'compile_error'));
  assert.match(await page.textContent('#status'), /Score: 0\/3/);
  const marked = await page.$$eval('#editor .cm-line', (lines) =>
    lines.map((l, i) => (l.classList.contains('cm-errorLine') ? i + 1 : 0)).filter(Boolean),
  );
  assert.equal(marked.length, 1);
  assert.ok(marked[0] === 3 || marked[0] === 4, `marked line ${marked[0]}`);
});

test('closing the exercise returns to free coding', async () => {
  await page.click('#exercise-close');
  assert.ok(await page.isHidden('#exercise'));
  assert.ok(await page.isHidden('#results'));
  assert.doesNotMatch(page.url(), /exercise=/);
});
