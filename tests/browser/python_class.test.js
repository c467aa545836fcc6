// The Python class in the page: a turtle square and a matplotlib plot come back as images and
// show in the console (SVG and PNG, each as an <img>, never inline).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, chooseLanguage, setCode, waitForEnd, screenshot } from './harness.js';

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

/** The images of the console: name, src type, decoded size. */
async function images() {
  return page.$$eval('#output figure.console-image img', (imgs) =>
    imgs.map((i) => ({
      name: i.alt,
      type: i.src.slice(0, i.src.indexOf(';')),
      size: i.complete ? [i.naturalWidth, i.naturalHeight] : null,
    })),
  );
}

test('a turtle square and a matplotlib plot show in the console', async () => {
  await chooseLanguage(page, 'python');
  await setCode(
    page,
    [
      'import turtle',
      't = turtle.Turtle()',
      't.pensize(3)',
      't.color("blue")',
      'for _ in range(4):',
      '    t.forward(100)',
      '    t.left(90)',
      'import matplotlib.pyplot as plt',
      'plt.plot([1, 2, 3, 4], [1, 4, 9, 16], marker="o")',
      'plt.title("squares")',
      'plt.show()',
      'print("drawn")',
      'turtle.done()',
      '',
    ].join('\n'),
  );
  await page.click('#run');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'ok', end.text);
  await page.waitForFunction(() => document.querySelectorAll('#output figure.console-image img').length === 2);
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#output figure.console-image img')].every((i) => i.complete && i.naturalWidth > 0),
  );
  const shown = (await images()).sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(
    shown.map(({ name, type }) => [name, type]),
    [
      ['figure.png', 'data:image/png'],
      ['turtle.svg', 'data:image/svg+xml'],
    ],
  );
  for (const image of shown) assert.ok(image.size[0] > 0 && image.size[1] > 0, `${image.name} decoded: ${image.size}`);
  assert.deepEqual(shown[0].size, [640, 480], 'the plot at its size');
  // Nothing of the SVG is in the page itself: it is only an <img>.
  assert.equal(await page.$$eval('#output svg', (s) => s.length), 0);
  await page.$eval('#output figure.console-image:last-of-type', (f) => f.scrollIntoView());
  await screenshot(page, 'python-class');
});
