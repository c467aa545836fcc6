// The operator console (/console) on a server with an --auth-token (an admin token): the key
// entered once, live figures that move while runs go through the API, the charts, the run
// log and usage — from the server when it has GET /api/v1/runs and /api/v1/usage (skipped,
// and counted so, when it has not), and from answers in the contract's shapes stubbed in the
// browser (rendering, filters, paging, bars, and errors) —, zh and en, laptop and phone
// widths, and an accessibility scan.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import AxeBuilder from '@axe-core/playwright';
import { startServer, launchBrowser, screenshot, RUN_MS } from './harness.js';

const TOKEN = 'console-browser-admin';
/** Runs driven through the API while the console watches. */
const LOAD_RUNS = 40;
/** Runs in flight at once while driving the load. */
const LOAD_CONCURRENCY = 4;
/** How long the figures may take to show the load (events come every second). */
const FIGURES_MS = 20_000;
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let server;
let browser;

before(async () => {
  server = await startServer(['--auth-token', TOKEN]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openConsole(url, { locale = 'en-US', viewport = LAPTOP } = {}) {
  const context = await browser.newContext({ locale, viewport });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(`${url}/console`);
  await page.waitForSelector('#login:not([hidden])');
  return page;
}

async function signIn(page, token = TOKEN) {
  await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');
}

/** Runs through the native API, a few at a time. */
async function load(n = LOAD_RUNS) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await fetch(`${server.url}/api/v1/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ language: 'python', code: `print(${i})` }),
      });
      assert.equal(r.status, 200, await r.text());
    }
  };
  await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, worker));
}

async function answers(path) {
  const r = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return r.status;
}

const number = (text) => Number.parseFloat(String(text).replace(/[^\d.]/g, '')) || 0;

async function violations(page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

test('a wrong key is refused on the page, and the page asks again', async () => {
  const page = await openConsole(server.url);
  await signIn(page, 'not-the-token');
  await page.waitForSelector('#login:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
  assert.match(await page.textContent('#login-error'), /not accepted/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tiderun.console.token')), null, 'a refused key is not kept');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the live figures move under load, and the charts are drawn', { timeout: 4 * RUN_MS }, async () => {
  const page = await openConsole(server.url);
  await signIn(page);
  await page.waitForSelector('#live-state[data-state="on"]', { timeout: FIGURES_MS });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tiderun.console.token')), TOKEN);
  assert.equal(number(await page.textContent('#tile-runs')), 0, 'nothing ran yet');

  // Watch the runs-per-second tile while the load goes: the largest value it shows.
  await page.evaluate(() => {
    window.maxRuns = 0;
    window.maxCold = 0;
    new MutationObserver(() => {
      window.maxRuns = Math.max(window.maxRuns, Number.parseFloat(document.querySelector('#tile-runs').textContent) || 0);
    }).observe(document.querySelector('#tile-runs'), { childList: true, characterData: true, subtree: true });
  });
  await load();
  await page.waitForFunction(() => window.maxRuns > 0, null, { timeout: FIGURES_MS });
  // p50 and p99 are over the last minute: still there after the load.
  await page.waitForFunction(() => Number.parseFloat(document.querySelector('#tile-p99').textContent) > 0, null, { timeout: FIGURES_MS });
  assert.ok(number(await page.textContent('#tile-p50')) > 0);
  assert.ok(await page.evaluate(() => window.maxRuns) > 0, 'runs per second moved');
  // Every chart is drawn.
  assert.equal(await page.locator('.chart canvas').count(), 6);
  assert.match(await page.textContent('#node'), /\S/, 'the node names itself');

  await screenshot(page, 'console-en-laptop');
  assert.deepEqual(await violations(page), []);

  // The key is kept for the tab: a reload goes straight to the figures.
  await page.reload();
  await page.waitForSelector('#live-state[data-state="on"]', { timeout: FIGURES_MS });
  assert.ok(await page.isHidden('#login'));
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the server\'s own run log and usage are shown (once it has GET /api/v1/runs and /api/v1/usage)', async (t) => {
  const [runs, usage] = [await answers('/api/v1/runs'), await answers('/api/v1/usage')];
  if (runs !== 200 || usage !== 200) {
    // Until the metering lands (its own branch), the page's handling of a 404 is tested with
    // stubbed answers below.
    t.skip(`SKIPPED: GET /api/v1/runs answers ${runs} and GET /api/v1/usage ${usage} on this server`);
    return;
  }
  await load(5);
  const page = await openConsole(server.url);
  await signIn(page);
  await page.waitForFunction(() => Number(document.querySelector('#runs-table').dataset.rows) > 0, null, { timeout: FIGURES_MS });
  assert.match(await page.textContent('#runs-table tbody'), /python/);
  await page.fill('#f-runtime', 'no-such-runtime');
  await page.click('#run-filters button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#runs-table').hidden, null, { timeout: FIGURES_MS });
  await page.waitForSelector('#usage .usage-row', { timeout: FIGURES_MS });
  await screenshot(page, 'console-en-server-runs');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a server without a run log or usage: the page says so', async () => {
  const page = await openConsole(server.url);
  await page.route('**/api/v1/runs?*', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"no such route"}' }));
  await page.route('**/api/v1/usage?*', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"the store is unavailable"}' }));
  await signIn(page);
  await page.waitForFunction(() => document.querySelector('#runs-message').textContent.length > 0 && document.querySelector('#usage-message').textContent.length > 0);
  assert.match(await page.textContent('#runs-message'), /keeps no run log.*404/);
  assert.match(await page.textContent('#usage-message'), /could not be read: the store is unavailable/);
  assert.ok(await page.isHidden('#runs-table'));
  await page.waitForSelector('#live-state[data-state="on"]', { timeout: FIGURES_MS });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('Chinese and phone-sized: the console reads and fits', { timeout: 4 * RUN_MS }, async () => {
  for (const [locale, viewport, name] of [
    ['zh-CN', LAPTOP, 'console-zh-laptop'],
    ['zh-CN', PHONE, 'console-zh-phone'],
    ['en-US', PHONE, 'console-en-phone'],
  ]) {
    const page = await openConsole(server.url, { locale, viewport });
    if (locale === 'zh-CN') {
      assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
      assert.match(await page.textContent('#login-heading'), /管理员密钥/);
    }
    await screenshot(page, `${name}-key`);
    await signIn(page);
    await page.waitForSelector('#live-state[data-state="on"]', { timeout: FIGURES_MS });
    await load(8);
    await page.waitForFunction(() => Number.parseFloat(document.querySelector('#tile-p99').textContent) > 0, null, { timeout: FIGURES_MS });
    if (locale === 'zh-CN') assert.match(await page.textContent('#live-state'), /实时/);
    // Nothing wider than the screen but the run table, which scrolls in its own box.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than the screen`);
    await screenshot(page, name);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

/** Answers in the contract's shapes (ISSUE 12), for the page's rendering whatever the server has. */
function contractRuns(n) {
  const statuses = ['ok', 'ok', 'runtime_error', 'ok', 'internal_error', 'time_limit'];
  return {
    runs: Array.from({ length: n }, (_, i) => ({
      id: `run-${1000 - i}`,
      at: new Date(Date.UTC(2026, 11, 4, 10, 0, 0) - i * 7000).toISOString(),
      node: i % 3 ? 'web-1' : 'worker-7',
      key: i % 4 ? `class-${(i % 3) + 1}` : null,
      api: ['native', 'piston', 'judge0', 'native_ws'][i % 4],
      runtime: ['python', 'c', 'java'][i % 3],
      status: statuses[i % statuses.length],
      cpu_ms: 12 + i,
      wall_ms: 40 + 3 * i,
      memory_kb: 9000 + 100 * i,
      memory_limit_mb: 256,
      start: i % 2 ? 'warm' : 'cold',
    })),
  };
}

function contractUsage(from, to) {
  const rows = [];
  const day = (d) => new Date(Date.parse(`${to}T00:00:00Z`) - d * 86400_000).toISOString().slice(0, 10);
  for (let d = 0; d < 7; d++) {
    for (const [key, scale] of [['class-1', 40], ['class-2', 15], [null, 3]]) {
      const runs = Math.round(scale * (1 + Math.sin(d)) + 2);
      rows.push({ day: day(d), key, runtime: 'python', runs, errors: d % 3, limits_hit: 1, cpu_s: runs * 0.05, wall_s: runs * 0.2, gb_s: runs * 0.05 });
    }
  }
  return { from, to, rows, totals: {} };
}

test('with answers in the contract\'s shapes the run log filters and pages, and usage is drawn as bars', async () => {
  const page = await openConsole(server.url);
  const asked = [];
  await page.route('**/api/v1/runs?*', (route) => {
    const url = new URL(route.request().url());
    asked.push(url.search);
    const runs = contractRuns(url.searchParams.get('before') ? 10 : 50);
    if (url.searchParams.get('runtime')) runs.runs = runs.runs.filter((r) => r.runtime === url.searchParams.get('runtime'));
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(runs) });
  });
  await page.route('**/api/v1/usage?*', (route) => {
    const url = new URL(route.request().url());
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(contractUsage(url.searchParams.get('from'), url.searchParams.get('to'))) });
  });
  await signIn(page);
  await page.waitForFunction(() => Number(document.querySelector('#runs-table').dataset.rows) === 50);
  assert.match(await page.textContent('#runs-table tbody tr:first-child'), /python.*ok.*cold/s);
  await page.click('#runs-more');
  await page.waitForFunction(() => Number(document.querySelector('#runs-table').dataset.rows) === 60);
  assert.ok(asked.some((q) => q.includes('before=run-951')), `the next page starts before the last run shown: ${asked}`);
  await page.selectOption('#f-status', 'ok');
  await page.fill('#f-runtime', 'c');
  await page.click('#run-filters button[type=submit]');
  await page.waitForFunction(() => Number(document.querySelector('#runs-table').dataset.rows) < 50);
  assert.ok(asked.at(-1).includes('runtime=c') && asked.at(-1).includes('status=ok'), asked.at(-1));
  await page.waitForSelector('#usage .usage-row');
  assert.equal(await page.locator('#usage .usage-row').count(), 3, 'a row of bars per key (and one for runs without a key)');
  assert.equal(await page.locator('#usage .usage-row:first-child .usage-bar').count(), 7, 'a bar per day');
  assert.match(await page.textContent('#usage .usage-row:first-child'), /class-1/);
  await page.fill('#f-runtime', '');
  await page.selectOption('#f-status', '');
  await page.click('#run-filters button[type=submit]');
  await page.waitForFunction(() => Number(document.querySelector('#runs-table').dataset.rows) === 50);
  await screenshot(page, 'console-en-contract');
  assert.deepEqual(await violations(page), []);
  await page.setViewportSize(PHONE);
  await page.click('#locale');
  await screenshot(page, 'console-zh-phone-contract');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('an open server has no admin: the console says the key is not an admin key', async () => {
  const open = await startServer();
  try {
    const page = await openConsole(open.url);
    await signIn(page, 'anything');
    await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0, null, { timeout: FIGURES_MS });
    assert.match(await page.textContent('#login-error'), /not an admin key/);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await open.stop();
  }
});
