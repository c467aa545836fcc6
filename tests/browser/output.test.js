// What the console shows of a run's end, in the page's language: output cut at the cap on a
// whole character and said so, a limit worded in Chinese (never the API's English message).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, chooseLanguage, setCode, waitForEnd, consoleText, streamText, screenshot } from './harness.js';

let server;
let browser;
let zh;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  zh = await openPage(browser, server.url, { locale: 'zh-CN' });
  await chooseLanguage(zh, 'python');
});

after(async () => {
  assert.deepEqual(zh?.errors ?? [], [], 'no errors in the page');
  await browser?.close();
  await server?.stop();
});

test('output past the cap is cut on a whole character and the console says so', async () => {
  // `第 NNNNNN 行\n` is 15 bytes: the default cap (1 MiB = 15 × 69905 + 1) falls inside `第`.
  await setCode(zh, "for i in range(200000):\n    print(f'第 {i:06} 行')\n");
  await zh.click('#run');
  const end = await waitForEnd(zh);
  assert.equal(end.state, 'error', end.text);
  assert.match(end.text, /输出过长/);
  const stdout = await streamText(zh, 'stdout');
  assert.ok(!stdout.includes('\uFFFD'), `a cut character shown as U+FFFD: ${JSON.stringify(stdout.slice(-30))}`);
  assert.ok(stdout.endsWith('第 069904 行\n'), JSON.stringify(stdout.slice(-30)));
  const notes = await zh.$$eval('#output .console-note', (ps) => ps.map((p) => p.textContent));
  assert.ok(notes.includes('输出在 1024 KB 处截断，之后的内容未保留'), JSON.stringify(notes));
  await screenshot(zh, 'output-cut-zh');
});

test('a limit is worded in Chinese, never in the API’s English', async () => {
  await setCode(zh, 'while True:\n    pass\n');
  await zh.click('#run');
  const end = await waitForEnd(zh);
  assert.equal(end.state, 'error', end.text);
  assert.match(end.text, /CPU 时间/);
  const text = await consoleText(zh);
  assert.match(text, /CPU 时间超过 \d+ 毫秒/);
  assert.doesNotMatch(text + end.text, /cpu time exceeded/i);
  // Worded again when the student switches the page to English.
  await zh.click('#locale');
  const again = await consoleText(zh);
  assert.match(again, /CPU time exceeded \d+ ms/);
  await zh.click('#locale');
  await screenshot(zh, 'limit-cpu-zh');
});

/** Every socket `init` of the page asks for these limits too (the page asks for none of them). */
async function withLimits(page, limits) {
  await page.addInitScript((limits) => {
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      try {
        const m = JSON.parse(data);
        if (m.type === 'init') data = JSON.stringify({ ...m, limits: { ...m.limits, ...limits } });
      } catch {
        // not JSON: as it is
      }
      return send.call(this, data);
    };
  }, limits);
  await page.reload();
  await page.waitForSelector('#run:not([disabled])');
}

test('waiting for input says so, warns before its end, and ends in its own words', async () => {
  const page = await openPage(browser, server.url, { locale: 'zh-CN' });
  // The budget for all of a run's waits together; the page warns at most half of it before its end.
  await withLimits(page, { input_wait_ms: 8000 });
  await chooseLanguage(page, 'python');
  // Answered after longer than nothing: the page shows that the program waits.
  // Computing between the two questions sets the waits apart.
  await setCode(page, "name = input('名字？')\nsum(range(3000000))\nage = input('年龄？')\nprint('你好', name, age)\n");
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('等待你的输入'));
  await screenshot(page, 'input-waiting-zh');
  await page.waitForTimeout(3000);
  await page.fill('#stdin', '小明');
  await page.press('#stdin', 'Enter');
  // The second wait has what the first left (about 5 s): the warning (4 s before the end)
  // comes about 1 s into it, not 4 s as for a fresh budget.
  await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'warning', null, { timeout: 2500 });
  assert.match(await page.textContent('#status'), /[1-4] 秒后程序将结束/);
  await page.fill('#stdin', '12');
  await page.press('#stdin', 'Enter');
  const answered = await waitForEnd(page);
  assert.equal(answered.state, 'ok', answered.text);
  assert.match(await streamText(page, 'stdout'), /你好 小明 12/);

  // Never answered: a warning before the end, then "waited too long for input".
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'warning', null, { timeout: 10_000 });
  assert.match(await page.textContent('#status'), /秒后程序将结束/);
  await screenshot(page, 'input-wait-warning-zh');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'error', end.text);
  assert.match(end.text, /等待输入时间过长/);
  assert.doesNotMatch(end.text, /运行时间过长|ran too long/);
  assert.match(await consoleText(page), /等待输入累计超过 8 秒/);
  await screenshot(page, 'input-wait-ended-zh');
  assert.deepEqual(page.errors, [], 'no errors in the page');
  await page.context().close();
});

/** A run's numbers for the record: from Run to its end, and from its result to all of it shown. */
async function timed(page, code) {
  await setCode(page, code);
  await page.evaluate(() => performance.clearMeasures());
  const clicked = Date.now();
  await page.click('#run');
  const end = await waitForEnd(page, 120_000);
  const runToEnd = Date.now() - clicked;
  await page.waitForFunction(() => performance.getEntriesByName('run-rendered').length > 0);
  const rendered = await page.evaluate(() => performance.getEntriesByName('run-rendered')[0].duration);
  return { end, runToEnd, rendered };
}

for (const [name, code, last] of [
  ['latin', "for i in range(100000):\n    print(f'line {i}')\n", 'line 99999'],
  ['Chinese', "for i in range(100000):\n    print(f'第 {i} 行，你好')\n", '第 99999 行，你好'],
]) {
  test(`100,000 printed lines (${name}) all show and the page stays responsive`, async () => {
    const page = await openPage(browser, server.url, { locale: 'zh-CN' });
    // The longest the page's main thread was busy at a time while the output came.
    await page.addInitScript(() => {
      window.longestTask = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.longestTask = Math.max(window.longestTask, e.duration);
      }).observe({ type: 'longtask' });
    });
    await withLimits(page, { max_output_bytes: 8 << 20 });
    await chooseLanguage(page, 'python');
    const { end, runToEnd, rendered } = await timed(page, code);
    assert.equal(end.state, 'ok', end.text);
    // For the record (no tight bound: machines differ).
    const longest = await page.evaluate(() => window.longestTask);
    console.log(
      `# 100k lines (${name}): Run to end ${runToEnd} ms, result to rendered ${rendered.toFixed(0)} ms, longest task ${longest.toFixed(0)} ms`,
    );
    assert.ok(rendered < 5000, `rendering took ${rendered} ms`);
    assert.ok(longest < 2000, `the page was frozen for ${longest} ms at a time`);
    // Shown in blocks of bounded size that the browser lays out only when in view.
    const blocks = await page.$$eval('#output .out-block', (bs) =>
      bs.map((b) => ({ lines: (b.textContent.match(/\n/g) || []).length, visibility: getComputedStyle(b).contentVisibility })),
    );
    assert.ok(blocks.length >= 100_000 / 1000, `${blocks.length} blocks`);
    assert.ok(blocks.every((b) => b.lines <= 1000 && b.visibility === 'auto'), JSON.stringify(blocks.slice(0, 3)));
    // Responsive: the page answers at once.
    const t0 = Date.now();
    await page.evaluate(() => 1);
    assert.ok(Date.now() - t0 < 1000);
    // Every line is there, the last one reachable by scrolling.
    const text = await streamText(page, 'stdout');
    assert.equal(text.split('\n').length - 1, 100_000);
    assert.ok(text.endsWith(`${last}\n`), JSON.stringify(text.slice(-40)));
    await page.$eval('#output', (o) => {
      o.scrollTop = o.scrollHeight;
    });
    const visible = await page.evaluate((last) => {
      const o = document.querySelector('#output');
      const box = o.getBoundingClientRect();
      const walker = document.createTreeWalker(o, NodeFilter.SHOW_TEXT);
      let node;
      let found = null;
      while ((node = walker.nextNode())) if (node.data.includes(last)) found = node;
      if (!found) return false;
      const range = document.createRange();
      const at = found.data.lastIndexOf(last);
      range.setStart(found, at);
      range.setEnd(found, at + last.length);
      const r = range.getBoundingClientRect();
      return r.height > 0 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    }, last);
    assert.ok(visible, 'the last line is in view after scrolling to the end');
    await screenshot(page, `lines-100k-${name}`);
    assert.deepEqual(page.errors, [], 'no errors in the page');
    await page.context().close();
  });
}
