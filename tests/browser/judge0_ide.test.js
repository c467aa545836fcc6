// The Judge0 IDE's requests from a page on another origin: a tiny static server on a second
// loopback port serves a page that calls a real `tiderun serve` exactly as the IDE
// (judge0/ide, js/ide.js at 1545745, 2025-01-20, jQuery 3.7.1 as its index.html loads it) does:
//
// - `GET /languages` twice (its CE and EXTRA_CE lists; language 89 left out, EXTRA_CE names
//   already listed skipped), then `GET /languages/ID` for the chosen one's `source_file`;
// - `POST /submissions?base64_encoded=true&wait=false` with `contentType: "application/json"`,
//   `JSON.stringify` of {source_code, language_id, stdin, compiler_options,
//   command_line_arguments, redirect_stderr_to_stdout: true} (base64 text) and its
//   AUTH_HEADERS (`Authorization: Bearer KEY` when it has an API key) — a JSON Content-Type and
//   an Authorization header make it a non-simple request, so the browser sends a CORS
//   preflight first;
// - `GET /submissions/TOKEN?base64_encoded=true` every 100 ms until the status id is past 2,
//   then it shows `[compile_output, stdout].join("\n").trim()` and "description, time, memory".
//
// The IDE's releases up to v2.7.0 sent `wait=${wait}` with the result in the POST's answer;
// `?wait=true` reproduces that. The page reproduces those calls (no IDE code is copied: its
// editor, layout and puter.js are not what is tested here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowser, screenshot, ROOT, RUN_MS } from './harness.js';

const JQUERY = readFileSync(join(ROOT, 'tests/browser/node_modules/jquery/dist/jquery.min.js'));
/** The API key of the server started with tokens. */
const KEY = 'ide-key-1';
/** The IDE's own Python id (Judge0 CE: Python 3.8.1; tiderun's python runtime answers to it). */
const PYTHON = 71;
const SOURCE = 'import sys\nname = input()\nprint(f"Hello, {name}! ✓")\nprint("to stderr", file=sys.stderr)\n';
const STDIN = 'Ada Lovelace';

// The page: the IDE's calls, with its constants (base URLs, key, wait) from the query string.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>IDE calls</title>
<script src="/jquery.min.js"></script></head>
<body>
<select id="select-language"></select>
<div id="source-file"></div>
<textarea id="source"></textarea>
<textarea id="stdin"></textarea>
<button id="run-btn">Run</button>
<div id="status-line"></div>
<pre id="stdout"></pre>
<div id="error"></div>
<script>
const params = new URLSearchParams(location.search);
const API = params.get("api");
const API_KEY = params.get("key") || "";
const WAIT = params.get("wait") === "true";
const AUTH_HEADERS = API_KEY ? { "Authorization": \`Bearer \${API_KEY}\` } : {};
// The IDE has two flavors with their own servers; both are this tiderun here.
const BASE = { CE: API, EXTRA_CE: API };

function encode(str) { return btoa(unescape(encodeURIComponent(str || ""))); }
function decode(bytes) {
  const escaped = escape(atob(bytes || ""));
  try { return decodeURIComponent(escaped); } catch { return unescape(escaped); }
}
function handleRunError(jqXHR) {
  $("#error").text(\`\${jqXHR.statusText} (\${jqXHR.status})\`).attr("data-status", jqXHR.status);
  $("#run-btn").prop("disabled", false);
}
function handleResult(data) {
  const time = data.time === null ? "-" : data.time + "s";
  const memory = data.memory === null ? "-" : data.memory + "KB";
  $("#status-line").text(\`\${data.status.description}, \${time}, \${memory}\`);
  $("#stdout").text([decode(data.compile_output), decode(data.stdout)].join("\\n").trim());
  $("#run-btn").prop("disabled", false);
}
function loadLanguages() {
  return new Promise((resolve, reject) => {
    const options = [];
    $.ajax({
      url: BASE.CE + "/languages",
      success: function (data) {
        for (const language of data) {
          const option = new Option(language.name, language.id);
          option.setAttribute("flavor", "CE");
          if (language.id !== 89) options.push(option);
        }
      },
      error: reject,
    }).always(function () {
      $.ajax({
        url: BASE.EXTRA_CE + "/languages",
        success: function (data) {
          for (const language of data) {
            const option = new Option(language.name, language.id);
            option.setAttribute("flavor", "EXTRA_CE");
            if (options.findIndex((t) => t.text === option.text) === -1 && language.id !== 89) options.push(option);
          }
        },
        error: reject,
      }).always(function () {
        options.sort((a, b) => a.text.localeCompare(b.text));
        $("#select-language").append(options);
        resolve();
      });
    });
  });
}
function getLanguage(flavor, languageId) {
  return new Promise((resolve, reject) => {
    $.ajax({ url: \`\${BASE[flavor]}/languages/\${languageId}\`, success: resolve, error: reject });
  });
}
function fetchSubmission(flavor, token, iteration) {
  if (iteration >= 50) return handleRunError({ statusText: "Maximum number of probe requests reached.", status: 504 });
  $.ajax({
    url: \`\${BASE[flavor]}/submissions/\${token}?base64_encoded=true\`,
    success: function (data) {
      if (data.status.id <= 2) {
        $("#status-line").text(data.status.description);
        setTimeout(fetchSubmission.bind(null, flavor, token, iteration + 1), 100);
      } else {
        handleResult(data);
      }
    },
    error: handleRunError,
  });
}
function run() {
  $("#run-btn").prop("disabled", true);
  $("#stdout, #status-line, #error").text("");
  const $selectLanguage = $("#select-language");
  const languageId = parseInt($selectLanguage.val());
  const flavor = $selectLanguage.find(":selected").attr("flavor");
  const data = {
    source_code: encode($("#source").val()),
    language_id: languageId,
    stdin: encode($("#stdin").val()),
    compiler_options: "",
    command_line_arguments: "",
    redirect_stderr_to_stdout: true,
  };
  $.ajax({
    url: \`\${BASE[flavor]}/submissions?base64_encoded=true&wait=\${WAIT}\`,
    type: "POST",
    contentType: "application/json",
    data: JSON.stringify(data),
    headers: AUTH_HEADERS,
    success: function (data) {
      if (WAIT) handleResult(data);
      else setTimeout(fetchSubmission.bind(null, flavor, data.token, 1), 0);
    },
    error: handleRunError,
  });
}
$("#run-btn").on("click", run);
// Without the lists (the API-key case: the IDE reads them from an unauthenticated server),
// the one language to run.
window.ready = params.get("languages") === "no"
  ? Promise.resolve($("#select-language").append($(new Option("Python", ${PYTHON})).attr("flavor", "CE")))
  : loadLanguages()
      .then(() => getLanguage("CE", ${PYTHON}))
      .then((language) => $("#source-file").text(language.source_file))
      .catch(handleRunError);
</script>
</body></html>`;

/** A static server on another loopback port: the page and jQuery. */
function startPageServer() {
  return new Promise((ok) => {
    const server = createServer((req, res) => {
      const path = new URL(req.url, 'http://x').pathname;
      if (path === '/jquery.min.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(JQUERY);
      } else if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    server.listen(0, 'localhost', () => ok(server));
  });
}

let browser;
let pages;

before(async () => {
  browser = await launchBrowser();
  pages = await startPageServer();
});

after(async () => {
  await browser?.close();
  pages?.close();
});

/**
 * The page on its own origin, calling `api`. Records the requests the browser sent to the API,
 * preflights included (Chromium reports them to the DevTools protocol).
 */
async function openIde(api, query = {}) {
  const origin = `http://localhost:${pages.address().port}`;
  assert.notEqual(new URL(origin).origin, new URL(api).origin, 'the page must be on another origin');
  const context = await browser.newContext();
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.sent = [];
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.requestWillBeSent', ({ request, type }) => {
    if (request.url.startsWith(api)) page.sent.push({ method: request.method, url: request.url, type, headers: request.headers });
  });
  const search = new URLSearchParams({ api, ...query });
  await page.goto(`${origin}/?${search}`);
  await page.evaluate(() => window.ready);
  return page;
}

/** Run a program as a user of the IDE does; the status line, output and any error. */
async function run(page, languageId = PYTHON) {
  await page.selectOption('#select-language', String(languageId));
  await page.fill('#source', SOURCE);
  await page.fill('#stdin', STDIN);
  await page.click('#run-btn');
  await page.waitForFunction(
    () => document.querySelector('#error').textContent || /, .*KB$/.test(document.querySelector('#status-line').textContent),
    null,
    { timeout: RUN_MS },
  );
  return {
    status: await page.textContent('#status-line'),
    output: await page.textContent('#stdout'),
    error: await page.textContent('#error'),
  };
}

const EXPECTED_OUTPUT = `Hello, ${STDIN}! ✓\nto stderr`;

test('the Judge0 IDE on another origin lists the languages and runs a program (wait=false, polling)', async () => {
  const server = await startServer();
  try {
    const page = await openIde(server.url);
    assert.equal(await page.textContent('#error'), '');
    const languages = await page.$$eval('#select-language option', (o) => o.map((x) => [Number(x.value), x.text]));
    assert.ok(languages.length >= 5, `languages: ${JSON.stringify(languages)}`);
    assert.ok(languages.some(([id, name]) => id === PYTHON && /^Python/.test(name)), JSON.stringify(languages));
    assert.match(await page.textContent('#source-file'), /\.py$/);
    const result = await run(page);
    assert.deepEqual({ ...result, status: result.status.split(',')[0] }, { status: 'Accepted', output: EXPECTED_OUTPUT, error: '' });
    // The POST was preflighted, and the preflight asked for the JSON Content-Type.
    const preflight = page.sent.find((r) => r.method === 'OPTIONS' && r.url.includes('/submissions?'));
    assert.ok(preflight, `no preflight seen: ${JSON.stringify(page.sent.map((r) => [r.method, r.url, r.type]))}`);
    assert.match(preflight.headers['Access-Control-Request-Headers'] || '', /content-type/i);
    assert.ok(page.sent.some((r) => r.method === 'GET' && /\/submissions\/[0-9a-f-]+\?base64_encoded=true$/.test(r.url)));
    await screenshot(page, 'judge0-ide-cross-origin');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await server.stop();
  }
});

test('the IDE with wait=true (its releases up to v2.7.0) gets the result in the answer to its POST', async () => {
  const server = await startServer();
  try {
    const page = await openIde(server.url, { wait: 'true' });
    assert.equal(await page.textContent('#error'), '', 'the language lists');
    const result = await run(page);
    assert.equal(result.error, '');
    assert.match(result.status, /^Accepted, [0-9.]+s, \d+KB$/);
    assert.equal(result.output, EXPECTED_OUTPUT);
    assert.ok(!page.sent.some((r) => r.method === 'GET' && r.url.includes('/submissions/')), 'no polling with wait=true');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await server.stop();
  }
});

test("the IDE's API key (Authorization: Bearer) passes the preflight; a wrong one is a 401 the page can read", async () => {
  const server = await startServer(['--auth-token', KEY]);
  try {
    // The IDE sends its key only with the POST (its lists come from an unauthenticated server).
    let page = await openIde(server.url, { key: KEY, wait: 'true', languages: 'no' });
    const result = await run(page);
    assert.equal(result.error, '');
    assert.equal(result.output, EXPECTED_OUTPUT);
    const preflight = page.sent.find((r) => r.method === 'OPTIONS');
    assert.match(preflight?.headers['Access-Control-Request-Headers'] || '', /authorization/i);
    await page.context().close();

    page = await openIde(server.url, { key: 'wrong', wait: 'true', languages: 'no' });
    const refused = await run(page);
    assert.equal(refused.error, 'Unauthorized (401)');
    await page.context().close();
  } finally {
    await server.stop();
  }
});

test('with --cors-origin none (the old default) a page on another origin gets nothing', async () => {
  const server = await startServer(['--cors-origin', 'none']);
  try {
    const page = await openIde(server.url);
    // jQuery reports a response the browser withheld as status 0.
    assert.equal(await page.getAttribute('#error', 'data-status'), '0');
    assert.equal(await page.$$eval('#select-language option', (o) => o.length), 0);
    // Nothing to choose; were Python listed, its run would be refused all the same.
    await page.evaluate((id) => $('#select-language').append($(new Option('Python', id)).attr('flavor', 'CE')), PYTHON);
    const result = await run(page);
    assert.equal(result.output, '');
    assert.match(result.error, /\(0\)$/);
    await page.context().close();
  } finally {
    await server.stop();
  }
});
