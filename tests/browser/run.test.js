// Running programs from the page: hello world in three languages, an interactive program
// answered while it runs (Chinese included), end of input, Stop on an infinite loop, error
// lines highlighted, images in the console.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  launchBrowser,
  openPage,
  chooseLanguage,
  setCode,
  waitForEnd,
  status,
  consoleText,
  streamText,
  errorLines,
  screenshot,
} from './harness.js';

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

const HELLO = {
  python: 'print("Hello, world!")\nprint("你好，世界")\n',
  javascript: 'console.log("Hello, world!");\nconsole.log("你好，世界");\n',
  c: '#include <stdio.h>\n\nint main(void) {\n    puts("Hello, world!");\n    puts("你好，世界");\n    return 0;\n}\n',
};

for (const [language, code] of Object.entries(HELLO)) {
  test(`hello world in ${language}`, async () => {
    await chooseLanguage(page, language);
    await setCode(page, code);
    // Run from the keyboard for one of them, with the button for the others.
    if (language === 'javascript') await page.keyboard.press('Control+Enter');
    else await page.click('#run');
    const end = await waitForEnd(page);
    assert.equal(end.state, 'ok', end.text);
    assert.match(end.text, /Finished/);
    // Time and memory in plain numbers.
    assert.match(await page.textContent('#status .status-measure'), /^\d+\.\d\d s · \d+\.\d MB$/);
    assert.equal(await streamText(page, 'stdout'), 'Hello, world!\n你好，世界\n');
    assert.equal(await streamText(page, 'stderr'), '');
    await screenshot(page, `hello-${language}`);
  });
}

test('an interactive program is answered while it runs, in Chinese', async () => {
  await chooseLanguage(page, 'python');
  await setCode(
    page,
    'name = input("你叫什么名字？ ")\nprint(f"你好，{name}！")\ncity = input("Where do you live? ")\nprint(f"{name} lives in {city}.")\n',
  );
  await page.click('#run');
  // The prompt arrives before any input is sent: output streams while the program waits.
  await page.waitForFunction(() => document.querySelector('#output').textContent.includes('你叫什么名字？'), null, {
    timeout: 30_000,
  });
  assert.equal((await status(page)).state, 'busy');
  await page.waitForSelector('#stdin:not([disabled])');
  await page.fill('#stdin', '小明');
  await page.press('#stdin', 'Enter');
  await page.waitForFunction(() => document.querySelector('#output').textContent.includes('你好，小明！'));
  assert.equal((await status(page)).state, 'busy', 'still running: it waits for the second answer');
  await screenshot(page, 'interactive-running');
  await page.fill('#stdin', '北京');
  await page.click('#send');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'ok', end.text);
  assert.equal(await streamText(page, 'stdin'), '小明\n北京\n', 'what the student typed is echoed');
  assert.equal(await streamText(page, 'stdout'), '你叫什么名字？ 你好，小明！\nWhere do you live? 小明 lives in 北京.\n');
  assert.ok(await page.isDisabled('#stdin'), 'no input once the program has ended');
  await screenshot(page, 'interactive-done');
});

test('End input closes stdin (EOF)', async () => {
  await chooseLanguage(page, 'python');
  await setCode(page, 'import sys\nwords = sys.stdin.read().split()\nprint(len(words), "words")\n');
  await page.click('#run');
  await page.waitForSelector('#stdin:not([disabled])', { timeout: 30_000 });
  await page.fill('#stdin', 'one two');
  await page.press('#stdin', 'Enter');
  await page.fill('#stdin', '三');
  await page.press('#stdin', 'Enter');
  assert.equal((await status(page)).state, 'busy', 'the program reads until end of file');
  await page.click('#eof');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'ok', end.text);
  assert.equal(await streamText(page, 'stdout'), '3 words\n');
});

test('Stop ends an infinite loop at once', async () => {
  await chooseLanguage(page, 'python');
  await setCode(page, 'i = 0\nwhile True:\n    i += 1\n');
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('Running'), null, {
    timeout: 30_000,
  });
  await page.waitForTimeout(500);
  assert.equal((await status(page)).state, 'busy');
  const stopped = Date.now();
  await page.click('#stop');
  const end = await waitForEnd(page, 10_000);
  const took = Date.now() - stopped;
  assert.equal(end.state, 'stopped', end.text);
  assert.match(end.text, /Stopped/);
  // Well before the CPU limit (3 s) would have ended it.
  assert.ok(took < 2000, `stopped after ${took} ms`);
  await screenshot(page, 'stopped');
});

test('a compile error in C highlights its line', async () => {
  await chooseLanguage(page, 'c');
  await setCode(page, '#include <stdio.h>\n\nint main(void) {\n    printf("hi")\n    return 0;\n}\n');
  await page.click('#run');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'error');
  assert.match(end.text, /Compile error/);
  assert.match(await streamText(page, 'stderr'), /main\.c:4:17: error/);
  assert.deepEqual(await errorLines(page), [4]);
  await screenshot(page, 'compile-error');
  // The status offers to go to the line; the cursor lands there.
  await page.click('#status .status-line');
  const line = await page.evaluate(() => {
    const sel = window.getSelection();
    return sel.anchorNode?.parentElement?.closest('.cm-line')?.textContent;
  });
  assert.equal(line, '    printf("hi")');
  // Editing clears the mark: it belonged to the code that was compiled.
  await page.keyboard.type(';');
  assert.deepEqual(await errorLines(page), []);
});

test('a Python runtime error highlights the innermost line of the traceback', async () => {
  await chooseLanguage(page, 'python');
  await setCode(page, 'def half(n):\n    return n / 0\n\nprint("before")\nhalf(4)\n');
  await page.click('#run');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'error');
  assert.match(end.text, /exit code 1/);
  assert.equal(await streamText(page, 'stdout'), 'before\n');
  assert.match(await streamText(page, 'stderr'), /ZeroDivisionError/);
  assert.deepEqual(await errorLines(page), [2]);
});

test('a program killed by a signal is told by the signal\'s name', async () => {
  await chooseLanguage(page, 'python');
  await setCode(page, 'import os, signal\nprint("crashing", flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)\n');
  await page.click('#run');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'error');
  assert.match(end.text, /killed by SIGSEGV/);
  assert.equal(await streamText(page, 'stdout'), 'crashing\n');
});

test('an image the program writes appears in the console', async () => {
  await chooseLanguage(page, 'python');
  // No matplotlib here: a 4x4 red PNG written by hand.
  await setCode(
    page,
    [
      'import struct, zlib',
      'def chunk(kind, data):',
      '    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))',
      'w = h = 4',
      'raw = b"".join(b"\\x00" + b"\\xff\\x00\\x00" * w for _ in range(h))',
      'png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))',
      'png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")',
      'open("plot.png", "wb").write(png)',
      'print("saved plot.png")',
      '',
    ].join('\n'),
  );
  await page.click('#run');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'ok', end.text);
  const img = await page.waitForSelector('#output figure.console-image img');
  assert.equal(await img.getAttribute('alt'), 'plot.png');
  const size = await img.evaluate((i) => (i.complete ? [i.naturalWidth, i.naturalHeight] : null));
  assert.deepEqual(size, [4, 4], 'the browser decoded the PNG');
  assert.match(await consoleText(page), /saved plot\.png/);
});

test('limits are told in plain words', async () => {
  await chooseLanguage(page, 'python');
  await setCode(page, 'while True:\n    print("x" * 1000)\n');
  await page.click('#run');
  let end = await waitForEnd(page);
  assert.equal(end.state, 'error');
  assert.match(end.text, /Output too long/);
  assert.match(await consoleText(page), /Output cut at \d+ KB/, 'the limit is shown too, in the page’s words');

  await setCode(page, 'data = bytearray(1 << 30)\nprint(len(data))\n');
  await page.click('#run');
  end = await waitForEnd(page);
  assert.equal(end.state, 'error');
  assert.match(end.text, /Memory limit/);
  assert.match(await consoleText(page), /Memory exceeded \d+ MB/);
  assert.deepEqual(await errorLines(page), [], 'a limit names no line');
});
