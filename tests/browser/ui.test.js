// The interface: Chinese and English, light and dark, a phone-sized screen, the keyboard,
// and an accessibility scan (axe) with no serious or critical violation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import AxeBuilder from '@axe-core/playwright';
import { startServer, launchBrowser, openPage, ready, chooseLanguage, setCode, waitForEnd, streamText, screenshot } from './harness.js';

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

/** axe's serious and critical violations, as readable lines. */
async function violations(page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

test('a Chinese browser gets the Chinese interface; the choice is switchable and remembered', async () => {
  const page = await openPage(browser, server.url, { locale: 'zh-CN' });
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  assert.match(await page.textContent('#run'), /运行/);
  assert.match(await page.textContent('#status'), /就绪/);
  await setCode(page, 'print("你好")\n');
  await page.click('#run');
  await waitForEnd(page);
  assert.match(await page.textContent('#status'), /运行结束/);
  await screenshot(page, 'zh');

  await page.click('#locale');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.match(await page.textContent('#run'), /Run/);
  assert.match(await page.textContent('#status'), /Finished/, 'the status is worded again');
  assert.equal(await page.textContent('#locale'), '中文');
  await page.reload();
  await ready(page);
  assert.match(await page.textContent('#run'), /Run/, 'English is remembered over the browser language');
  await page.click('#locale');
  assert.match(await page.textContent('#stop'), /停止/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('an English browser gets English', async () => {
  const page = await openPage(browser, server.url, { locale: 'en-GB' });
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.match(await page.textContent('#share'), /Share/);
  await page.context().close();
});

test('the theme follows the system, toggles, and is remembered', async () => {
  const page = await openPage(browser, server.url, { colorScheme: 'dark' });
  assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
  const darkBg = await page.$eval('body', (b) => getComputedStyle(b).backgroundColor);
  await screenshot(page, 'dark');
  await page.click('#theme');
  assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
  assert.notEqual(await page.$eval('body', (b) => getComputedStyle(b).backgroundColor), darkBg);
  assert.equal(await page.getAttribute('#theme', 'aria-pressed'), 'false');
  await page.reload();
  await ready(page);
  assert.equal(await page.getAttribute('html', 'data-theme'), 'light', 'the choice wins over the system');
  await page.context().close();
});

test('on a phone the editor is above the console and nothing scrolls sideways', async () => {
  const page = await openPage(browser, server.url, {
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
  });
  const box = async (sel) => page.$eval(sel, (e) => e.getBoundingClientRect().toJSON());
  const editor = await box('#editor');
  const consolePane = await box('.console-pane');
  assert.ok(editor.bottom <= consolePane.top, 'editor above console');
  assert.ok(editor.width > 300, 'the editor takes the width');
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 390, `page is ${scrollWidth}px wide`);
  for (const sel of ['#run', '#stop', '#language', '#share', '#exercises-button']) {
    const b = await box(sel);
    assert.ok(b.right <= 390 && b.height >= 30, `${sel} fits and can be tapped`);
  }
  await chooseLanguage(page, 'python');
  await setCode(page, 'for i in range(3):\n    print("行", i)\n');
  await page.tap('#run');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'ok', end.text);
  assert.equal(await streamText(page, 'stdout'), '行 0\n行 1\n行 2\n');
  // The status and the input line, below the editor, are brought into view by Run.
  const inView = await page.$$eval('#status, #input-row', (els) =>
    els.every((e) => {
      const r = e.getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight;
    }),
  );
  assert.ok(inView, 'Run brings the console into view');
  await screenshot(page, 'phone');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the keyboard reaches every control, with a visible focus', async () => {
  const page = await openPage(browser, server.url);
  const reached = new Set();
  for (let i = 0; i < 20; i++) {
    // In the editor Tab indents; Escape first lets the next Tab leave it.
    if (await page.evaluate(() => document.activeElement.classList.contains('cm-content'))) {
      await page.keyboard.press('Escape');
    }
    await page.keyboard.press('Tab');
    const info = await page.evaluate(() => {
      const e = document.activeElement;
      // Past the last control the focus goes to the browser's own UI, then the page again.
      if (e === document.body) return { id: 'body', visible: true };
      const style = getComputedStyle(e);
      const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
      const frame = e.closest('.editor');
      const framed = frame ? getComputedStyle(frame).borderTopColor !== 'rgba(0, 0, 0, 0)' : false;
      return { id: e.id || e.className, visible: ring || framed };
    });
    reached.add(info.id);
    assert.ok(info.visible, `focus is visible on ${info.id}`);
  }
  for (const id of ['skip', 'exercises-button', 'language', 'run', 'share', 'locale', 'theme', 'cm-content', 'output']) {
    assert.ok(reached.has(id), `${id} is reached by Tab (reached: ${[...reached].join(', ')})`);
  }
  await page.context().close();
});

test('axe finds no serious or critical violation (light, dark, Chinese, exercise, results)', async () => {
  const page = await openPage(browser, server.url);
  const found = [];
  found.push(...(await violations(page)).map((v) => `light: ${v}`));
  await chooseLanguage(page, 'python');
  // stdout, stderr, an error line in the editor and the status's link to it.
  await setCode(page, 'import sys\nprint("out")\nprint("err", file=sys.stderr)\n# a comment\nx = 1 / 0\n');
  await page.click('#run');
  await waitForEnd(page);
  found.push(...(await violations(page)).map((v) => `after a run: ${v}`));
  await page.click('#theme');
  found.push(...(await violations(page)).map((v) => `dark: ${v}`));
  await page.click('#locale');
  found.push(...(await violations(page)).map((v) => `dark zh: ${v}`));
  await page.click('#exercises-button');
  await page.waitForSelector('#exercises-dialog[open] .exercise-item');
  found.push(...(await violations(page)).map((v) => `exercise list: ${v}`));
  await page.click('#exercises-dialog .exercise-item');
  await page.waitForSelector('#exercise:not([hidden])');
  await page.click('#submit');
  await page.waitForSelector('#results:not([hidden]) .score', { timeout: 60_000 });
  found.push(...(await violations(page)).map((v) => `exercise results: ${v}`));
  await page.click('#theme');
  found.push(...(await violations(page)).map((v) => `exercise results light: ${v}`));
  assert.deepEqual(found, []);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
