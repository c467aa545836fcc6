// Shared by the browser tests: a real `tiderun serve` on a loopback port it picks, with a temp data
// directory, Debian's chromium driven by playwright-core, and small helpers that act as a
// student would (paste code, press Run, type into the input line).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHOTS = join(ROOT, 'target/browser-screenshots');
/** How long the server may take to answer /healthz after start (a debug build, a busy machine). */
const SERVER_START_MS = 30_000;
/** How long one run may take to finish in a test (compile + run on a loaded 2-core machine). */
export const RUN_MS = 30_000;

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function binary() {
  const candidates = [process.env.TIDERUN_BIN, join(ROOT, 'target/debug/tiderun'), join(ROOT, 'target/release/tiderun')];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error('no tiderun binary: build it (cargo build -p tiderun) or set TIDERUN_BIN');
  return found;
}

/**
 * `TIDERUN_BROWSER_KEYS=1` (the `keys_mode_*.test.js` files set it and run a classroom
 * page test file again): every test's server requires keys (`--require-keys`), and every
 * page opens with a classroom key in its address (`/#key=tr_…`, a teacher's class link), so
 * the whole suite checks the page on a server that requires keys.
 */
export const KEYS_MODE = process.env.TIDERUN_BROWSER_KEYS === '1';
/** The classroom key of the last server started in keys mode. */
let classKey = null;

/** Create a key in a server's store with `tiderun keys create`; the key. */
export function createKey(server, name, role) {
  const out = execFileSync(binary(), ['keys', 'create', name, '--role', role, '--data-dir', server.dataDir], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out.trim();
}

/** Revoke a key with `tiderun keys revoke`. */
export function revokeKey(server, name) {
  execFileSync(binary(), ['keys', 'revoke', name, '--data-dir', server.dataDir], { cwd: ROOT, stdio: 'ignore' });
}

/**
 * Start `tiderun serve` with the repo's exercises and a fresh SQLite database; `args` adds
 * flags (e.g. `--rate-limit 3`). Returns `{ url, stop, log, dataDir }` (and in keys mode
 * `key`, a classroom key).
 */
export async function startServer(args = []) {
  const server = await startPlainServer(KEYS_MODE ? ['--require-keys', ...args] : args);
  if (KEYS_MODE && server.dataDir) {
    server.key = createKey(server, `class-${Date.now()}`, 'classroom');
    classKey = server.key;
  }
  return server;
}

async function startPlainServer(args) {
  // For development: a server (or `vite` dev server) already running; nothing to start.
  if (process.env.TIDERUN_TEST_URL && !args.length) {
    return { url: process.env.TIDERUN_TEST_URL.replace(/\/$/, ''), log: () => '', stop: async () => {} };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'tiderun-browser-'));
  // Port 0: the server picks a free port and names it on the first line it prints, so no port
  // picked here can be taken by another test's server in between.
  const child = spawn(
    binary(),
    ['serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--exercises-dir', join(ROOT, 'exercises'), ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } },
  );
  let log = '';
  let url = null;
  child.stdout.on('data', (d) => {
    log += d;
    url ??= /^tiderun serving on (\S+)$/m.exec(log)?.[1] ?? null;
  });
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  const deadline = Date.now() + SERVER_START_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tiderun serve exited (${child.exitCode}):\n${log}`);
    try {
      const r = url && (await fetch(`${url}/healthz`));
      if (r && r.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`tiderun serve did not answer /healthz within ${SERVER_START_MS} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * A page in a fresh context (its own localStorage). Errors thrown in the page are collected in
 * `page.errors`; tests assert there are none.
 */
export async function openPage(browser, url, options = {}) {
  // In keys mode a page opens as a class link does: the classroom key in its fragment.
  const page = await newPage(browser, KEYS_MODE && classKey && !url.includes('#') ? `${url}#key=${classKey}` : url, options);
  await ready(page);
  return page;
}

/**
 * `url` in a fresh context, as it opens (no key added, nothing awaited): for pages that ask
 * first (a join link, a key question, the teacher's page). Errors in `page.errors`.
 */
export async function newPage(browser, url, { locale = 'en-US', viewport = { width: 1280, height: 800 }, ...options } = {}) {
  const context = await browser.newContext({ locale, viewport, ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(url);
  return page;
}

/** A JSON request to the server: `{status, body}` (body null when empty). */
export async function apiCall(server, method, path, token, body) {
  const r = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** RFC 4180 rows (quoted fields, doubled quotes, CRLF), as a downloaded CSV holds them. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n') row.push(field), rows.push(row), (row = []), (field = '');
    else if (c !== '\r') field += c;
  }
  if (field || row.length) row.push(field), rows.push(row);
  return rows;
}

/** The page has its runtimes and a language. */
export async function ready(page) {
  await page.waitForSelector('#run:not([disabled])', { timeout: 15_000 });
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

export async function chooseLanguage(page, language) {
  await page.selectOption('#language', language);
  await page.waitForFunction((l) => document.querySelector('#language').value === l, language);
}

/** Replace the editor's text as a paste would (no auto-indent of typed newlines). */
export async function setCode(page, code) {
  await page.click('#editor .cm-content');
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(code);
}

export async function editorText(page) {
  return page.$$eval('#editor .cm-line', (lines) => lines.map((l) => l.textContent).join('\n'));
}

/** Wait until the run is over: the status is `ok`, `error` or `stopped`. Returns `{state, text}`. */
export async function waitForEnd(page, timeout = RUN_MS) {
  await page.waitForSelector('#status:is([data-state="ok"], [data-state="error"], [data-state="stopped"])', { timeout });
  await page.waitForSelector('#run:not([disabled])', { timeout });
  return status(page);
}

export async function status(page) {
  return page.$eval('#status', (s) => ({ state: s.dataset.state, text: s.textContent }));
}

export async function consoleText(page) {
  return page.$eval('#output', (o) => o.textContent);
}

/** The text of each console span of one stream. */
export async function streamText(page, stream) {
  return page.$$eval(`#output .out-${stream}`, (spans) => spans.map((s) => s.textContent).join(''));
}

/** The 1-based numbers of the editor lines marked as the error's line. */
export async function errorLines(page) {
  return page.$$eval('#editor .cm-line', (lines) =>
    lines.map((l, i) => (l.classList.contains('cm-errorLine') ? i + 1 : 0)).filter(Boolean),
  );
}
