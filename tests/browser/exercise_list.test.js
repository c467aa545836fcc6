// The exercise list: in the teacher's order (`order` in the exercise files), saying which
// languages each exercise accepts; an exercise that names its languages offers only those.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, screenshot } from './harness.js';

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

async function items(page) {
  await page.click('#exercises-button');
  await page.waitForSelector('#exercises-dialog[open] .exercise-item');
  return page.$$eval('#exercises-dialog .exercise-item', (buttons) =>
    buttons.map((b) => ({
      title: b.querySelector('.exercise-item-title').textContent,
      langs: b.querySelector('.exercise-item-langs').textContent,
      done: b.dataset.done ?? null,
    })),
  );
}

test("the list is in the teacher's order and says every exercise takes any language", async () => {
  const page = await openPage(browser, server.url, { locale: 'zh-CN' });
  const list = await items(page);
  assert.deepEqual(
    list.map((i) => i.title),
    ['按名字问好', '两数之和', 'FizzBuzz 报数'],
  );
  assert.ok(list.every((i) => i.langs === '语言：任何语言'), JSON.stringify(list));
  assert.ok(list.every((i) => i.done === null), 'no done marks before the server keeps submissions');
  await screenshot(page, 'exercise-list-ordered');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('an exercise naming its languages lists them and offers only those', async () => {
  const page = await openPage(browser, server.url);
  // The server's answers as for an exercise with `languages = ["python", "c"]` that the
  // student has solved.
  await page.route('**/api/v1/exercises', async (route) => {
    const list = await (await route.fetch()).json();
    list[1] = { ...list[1], languages: ['python', 'c'], any_language: false, done: true };
    await route.fulfill({ json: list });
  });
  await page.route('**/api/v1/exercises/sum-two', async (route) => {
    const exercise = await (await route.fetch()).json();
    await route.fulfill({ json: { ...exercise, languages: ['c', 'python'], any_language: false } });
  });
  const list = await items(page);
  assert.equal(list[1].title, '✓ Sum of two numbers');
  assert.equal(list[1].done, 'true');
  assert.equal(list[1].langs, 'Languages: Python · C (GCC)');
  assert.equal(list[0].langs, 'Languages: any language');
  await page.click('#exercises-dialog .exercise-item:has-text("Sum of two numbers")');
  await page.waitForSelector('#exercise:not([hidden])');
  const enabled = await page.$$eval('#language option:not([disabled])', (o) => o.map((x) => x.value).sort());
  assert.deepEqual(enabled, ['c', 'python']);
  await page.click('#exercise-close');
  const after = await page.$$eval('#language option:not([disabled])', (o) => o.length);
  assert.ok(after > 2, 'every installed language again once the exercise is closed');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
