// The editor follows the catalog: each runtime file names its mode (`highlight`, returned by
// GET /api/v1/runtimes), the page loads that mode and colours the language's example; a
// language without one is plain text; the language list is the catalog's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, startServer, launchBrowser, openPage, chooseLanguage, editorText, screenshot } from './harness.js';

// The page's own table of modes and a tokenizer over it, from the web package (its CodeMirror).
const { MODES, tokens } = await import(pathToFileURL(join(ROOT, 'web/test/tokens.js')).href);

let server;
let browser;
let runtimes;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const headers = server.key ? { Authorization: `Bearer ${server.key}` } : {};
  const r = await fetch(`${server.url}/api/v1/runtimes`, { headers });
  assert.equal(r.status, 200);
  runtimes = await r.json();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The example the page starts a language with (as main.js's `exampleOf`). */
function exampleOf(runtime) {
  return (runtime.example.interactive || runtime.example.hello || '').replace(/^\n+/, '');
}

function runtime(language) {
  const rt = runtimes.find((r) => r.language === language);
  assert.ok(rt, `${language} is in GET /api/v1/runtimes`);
  return rt;
}

test('every mode a runtime file names is in the page and colours that language\'s example', async () => {
  assert.ok(runtimes.length >= 30, `the shelf: ${runtimes.length}`);
  const plain = [];
  for (const rt of runtimes) {
    if (!rt.highlight) {
      plain.push(rt.language);
      continue;
    }
    assert.ok(Object.hasOwn(MODES, rt.highlight), `${rt.language}: the page has no mode ${rt.highlight}`);
    const found = await tokens(rt.highlight, exampleOf(rt));
    // A hello world has at least a keyword or name and a string, whatever the language.
    assert.ok(found.length >= 2, `${rt.language} (${rt.highlight}): ${JSON.stringify(found)}`);
    // Its greeting is a string (Tcl's legacy mode calls a quoted word a comment, and colours
    // only its quotes: `skipTo` is given a regular expression there).
    const greeting = rt.highlight === 'tcl' ? /comment/ : /string/;
    assert.ok(
      found.some((t) => greeting.test(t.classes) && (rt.highlight === 'tcl' || /Hello|name/.test(t.text))),
      `${rt.language}: its greeting is a string: ${JSON.stringify(found)}`,
    );
  }
  assert.ok(plain.length < runtimes.length / 4, `most languages have a mode; plain text: ${plain}`);
  // A mode no runtime names yet still loads (a new runtime file may name it).
  for (const mode of Object.keys(MODES)) assert.ok(await tokens(mode, 'x = 1'), mode);
  assert.equal(await tokens('no-such-mode', 'x = 1'), null, 'a mode the page lacks is plain text');
});

test('the language list is the catalog: every installed runtime can be chosen', async () => {
  const page = await openPage(browser, server.url);
  const options = await page.$$eval('#language option', (os) => os.map((o) => ({ value: o.value, disabled: o.disabled })));
  assert.deepEqual(options.map((o) => o.value).sort(), runtimes.map((r) => r.language).sort());
  const enabled = options.filter((o) => !o.disabled).map((o) => o.value).sort();
  assert.deepEqual(enabled, runtimes.filter((r) => r.installed).map((r) => r.language).sort());
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

/** The editor's spans drawn in a colour other than the text's: highlighted tokens. */
async function colouredTokens(page) {
  return page.$$eval('#editor .cm-line span', (spans) =>
    spans
      .filter((s) => s.className && getComputedStyle(s).color !== getComputedStyle(s.closest('.cm-line')).color)
      .map((s) => s.textContent),
  );
}

test('choosing a language loads its example highlighted in its mode, or as plain text', async () => {
  const page = await openPage(browser, server.url);
  // Language packages (python, go, sqlite), legacy modes (ruby, haskell, racket in scheme's,
  // C# in clike's) and one without a mode (prolog).
  for (const language of ['python', 'ruby', 'go', 'haskell', 'sqlite3', 'racket', 'csharp', 'prolog']) {
    const rt = runtime(language);
    if (!rt.installed) {
      assert.fail(`${language} is not installed here: tiderun runtimes install ${language}`);
    }
    await chooseLanguage(page, language);
    const mode = rt.highlight || '';
    await page.waitForSelector(`#editor .cm-editor[data-mode="${mode}"]`, { timeout: 10_000 });
    assert.equal(await editorText(page), exampleOf(rt), `${language}: its example`);
    const coloured = await colouredTokens(page);
    if (mode) {
      assert.ok(coloured.length >= 2, `${language} (${mode}) is highlighted: ${JSON.stringify(coloured)}`);
      assert.ok(coloured.some((t) => t.includes('Hello')), `${language}: the greeting's string is coloured: ${coloured}`);
    } else {
      assert.deepEqual(coloured, [], `${language} has no mode: plain text`);
    }
    if (language === 'haskell') await screenshot(page, 'highlight-haskell');
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
