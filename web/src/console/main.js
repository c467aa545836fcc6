// The operator console (/console): live figures of this node (server-sent events), charts of
// the last minutes, the run log with filters and usage per key over days. Admin only: the
// admin key is entered once and kept in sessionStorage (this tab, until it closes).
import '../style.css';
import './console.css';
import { t, locale, setLocale, applyStatic, onLocaleChange, addStrings } from '../i18n.js';
import { initTheme, toggleTheme, isDark } from '../theme.js';
import { STRINGS } from './strings.js';
import { readEvents, StreamRefused } from './live.js';
import { LiveChart, PALETTE } from './charts.js';
import { getJson, appendRuns, renderUsage, utcDay } from './table.js';

addStrings(STRINGS);

const TOKEN_KEY = 'tiderun.console.token';
/** Waits before reconnecting a stream that ended: doubling from the first to the last. */
const RECONNECT_MS = [1000, 2000, 5000, 10000];
/** The run log is read again this often while the page is visible. */
const RUNS_EVERY_MS = 5000;
/** Runs per page of the run log (the API's default; at most 500). */
const RUNS_PAGE = 50;
/** Errors over this many seconds in the tile. */
const ERRORS_WINDOW_S = 60;

const $ = (id) => document.getElementById(id);
const ui = {
  login: $('login'),
  loginForm: $('login-form'),
  token: $('token'),
  loginError: $('login-error'),
  dashboard: $('dashboard'),
  signOut: $('sign-out'),
  liveState: $('live-state'),
  node: $('node'),
  theme: $('theme'),
  locale: $('locale'),
  tiles: {
    runs: $('tile-runs'),
    p50: $('tile-p50'),
    p99: $('tile-p99'),
    inFlight: $('tile-inflight'),
    queue: $('tile-queue'),
    errors: $('tile-errors'),
  },
  runsForm: $('run-filters'),
  runsTable: $('runs-table'),
  runsMessage: $('runs-message'),
  runsMore: $('runs-more'),
  usage: $('usage'),
  usageMessage: $('usage-message'),
  usageDays: $('usage-days'),
  poolsNone: $('pools-none'),
};

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // No storage: the key lives as long as the page.
  }
}

const state = {
  token: null,
  abort: null,
  live: 'off',
  charts: null,
  poolKeys: [],
  recentErrors: [],
  runsBefore: null,
  runsTimer: null,
  lastRuns: null,
  lastUsage: null,
};

function setLive(live) {
  state.live = live;
  ui.liveState.dataset.state = live;
  ui.liveState.textContent = t(`live.${live}`);
}

function labelPrefs() {
  ui.locale.textContent = t('locale.switch');
  ui.locale.lang = locale() === 'zh' ? 'en' : 'zh-CN';
  ui.theme.querySelector('.theme-label').textContent = t(isDark() ? 'theme.toLight' : 'theme.toDark');
  ui.theme.querySelector('.theme-icon').textContent = isDark() ? '☀' : '☾';
  ui.theme.setAttribute('aria-pressed', String(isDark()));
}

function makeCharts() {
  return {
    runs: new LiveChart($('chart-runs'), () => [t('con.seriesRuns')], { fill: true }),
    latency: new LiveChart($('chart-latency'), () => ['p50', 'p99']),
    starts: new LiveChart($('chart-starts'), () => [t('con.seriesWarm'), t('con.seriesCold')]),
    errors: new LiveChart($('chart-errors'), () => [t('con.seriesErrors')], { fill: true }),
    queue: new LiveChart($('chart-queue'), () => [t('con.seriesQueue'), t('con.seriesInFlight')]),
    pools: new LiveChart($('chart-pools'), () => state.poolKeys),
  };
}

const fmt = (v, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits).replace(/\.0+$/, '') : '–');

function showFigures(f) {
  const now = Date.now() / 1000;
  ui.node.textContent = f.node ?? '';
  ui.tiles.runs.textContent = fmt(f.runs_per_s);
  ui.tiles.p50.textContent = t('con.ms', { value: fmt(f.p50_ms, 0) });
  ui.tiles.p99.textContent = t('con.ms', { value: fmt(f.p99_ms, 0) });
  ui.tiles.inFlight.textContent = fmt(f.in_flight, 0);
  ui.tiles.queue.textContent = fmt(f.queue_depth, 0);
  state.recentErrors.push([now, f.errors || 0]);
  state.recentErrors = state.recentErrors.filter(([at]) => at > now - ERRORS_WINDOW_S);
  ui.tiles.errors.textContent = String(state.recentErrors.reduce((n, [, e]) => n + e, 0));
  const c = state.charts;
  c.runs.push(now, [f.runs_per_s]);
  c.latency.push(now, [f.p50_ms, f.p99_ms]);
  c.starts.push(now, [f.warm_starts, f.cold_starts]);
  c.errors.push(now, [f.errors]);
  c.queue.push(now, [f.queue_depth, f.in_flight]);
  const pools = f.pools || [];
  const keys = pools.map((p) => p.runtime);
  if (keys.join('\n') !== state.poolKeys.join('\n')) {
    const old = state.poolKeys;
    state.poolKeys = keys;
    c.pools.setSeries(() => state.poolKeys, keys, old);
  }
  ui.poolsNone.hidden = pools.length > 0;
  c.pools.push(now, pools.map((p) => p.ready));
}

/** Keep the live stream open: reconnect after it ends, back to the key form when refused. */
async function stream() {
  state.abort?.abort();
  const abort = new AbortController();
  state.abort = abort;
  let attempt = 0;
  while (!abort.signal.aborted) {
    setLive(attempt ? 'retry' : 'connecting');
    try {
      await readEvents(
        '/api/v1/console/live',
        state.token,
        (name, data) => {
          if (name !== 'figures') return;
          if (state.live !== 'on') {
            setLive('on');
            attempt = 0;
          }
          showFigures(JSON.parse(data));
        },
        abort.signal,
      );
    } catch (e) {
      if (abort.signal.aborted) return;
      if (e instanceof StreamRefused && (e.status === 401 || e.status === 403)) {
        signOut(e.status === 401 ? t('con.badKey') : t('con.notAdmin', { message: e.message }));
        return;
      }
    }
    if (abort.signal.aborted) return;
    setLive('retry');
    await new Promise((r) => setTimeout(r, RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)]));
    attempt += 1;
  }
}

function runFilters() {
  const params = new URLSearchParams({ limit: String(RUNS_PAGE) });
  for (const [name, value] of new FormData(ui.runsForm)) if (String(value).trim()) params.set(name, String(value).trim());
  return params;
}

/** The newest page of the run log (again), or the next older page with `more`. */
async function loadRuns(more = false) {
  const params = runFilters();
  if (more && state.runsBefore) params.set('before', state.runsBefore);
  const r = await getJson(`/api/v1/runs?${params}`, state.token);
  state.lastRuns = r;
  const tbody = ui.runsTable.querySelector('tbody');
  if (!r.ok) {
    if (r.status === 401 || r.status === 403) return signOut(r.status === 401 ? t('con.badKey') : t('con.notAdmin', { message: r.message }));
    ui.runsTable.hidden = true;
    ui.runsMore.hidden = true;
    ui.runsMessage.textContent = r.status === 404 || r.status === 405 ? t('con.runsMissing', { status: r.status }) : t('con.runsError', { message: r.message });
    return;
  }
  const runs = Array.isArray(r.body.runs) ? r.body.runs : [];
  if (!more) tbody.replaceChildren();
  appendRuns(tbody, runs);
  if (runs.length) state.runsBefore = runs[runs.length - 1].id;
  else if (!more) state.runsBefore = null;
  const rows = tbody.children.length;
  ui.runsTable.hidden = rows === 0;
  ui.runsTable.dataset.rows = String(rows);
  ui.runsMessage.textContent = rows === 0 ? t('con.runsEmpty') : '';
  ui.runsMore.hidden = runs.length < RUNS_PAGE;
}

async function loadUsage() {
  const days = Number(ui.usageDays.value) || 7;
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86400_000);
  const params = new URLSearchParams({ from: utcDay(from), to: utcDay(to) });
  const r = await getJson(`/api/v1/usage?${params}`, state.token);
  state.lastUsage = r;
  showUsage();
}

function showUsage() {
  const r = state.lastUsage;
  if (!r) return;
  if (!r.ok) {
    ui.usage.replaceChildren();
    ui.usageMessage.textContent = r.status === 404 || r.status === 405 ? t('con.usageMissing', { status: r.status }) : t('con.usageError', { message: r.message });
    return;
  }
  const body = r.body;
  const shown = body && body.from && body.to ? renderUsage(ui.usage, body, (i) => PALETTE[i % PALETTE.length]) : 0;
  ui.usageMessage.textContent = shown ? '' : t('con.usageEmpty');
}

function showDashboard() {
  ui.login.hidden = true;
  ui.dashboard.hidden = false;
  ui.signOut.hidden = false;
  state.charts ??= makeCharts();
  for (const c of Object.values(state.charts)) c.resize();
  stream();
  loadRuns();
  loadUsage();
  clearInterval(state.runsTimer);
  state.runsTimer = setInterval(() => {
    // Only the newest page is refreshed; an admin reading older runs keeps them.
    if (document.visibilityState === 'visible' && !state.runsBefore_paged) loadRuns();
  }, RUNS_EVERY_MS);
}

function signOut(message = '') {
  state.abort?.abort();
  clearInterval(state.runsTimer);
  state.token = null;
  storeToken(null);
  setLive('off');
  ui.dashboard.hidden = true;
  ui.signOut.hidden = true;
  ui.login.hidden = false;
  ui.loginError.textContent = message;
  ui.token.value = '';
  ui.token.focus();
}

ui.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const token = ui.token.value.trim();
  if (!token) return;
  state.token = token;
  storeToken(token);
  ui.loginError.textContent = '';
  showDashboard();
});
ui.signOut.addEventListener('click', () => signOut());
ui.runsForm.addEventListener('submit', (e) => {
  e.preventDefault();
  state.runsBefore_paged = false;
  loadRuns();
});
ui.runsMore.addEventListener('click', () => {
  state.runsBefore_paged = true;
  loadRuns(true);
});
ui.usageDays.addEventListener('change', loadUsage);
ui.theme.addEventListener('click', () =>
  toggleTheme(() => {
    labelPrefs();
    if (state.charts) for (const c of Object.values(state.charts)) c.build();
  }),
);
ui.locale.addEventListener('click', () => setLocale(locale() === 'zh' ? 'en' : 'zh'));
onLocaleChange(() => {
  labelPrefs();
  setLive(state.live);
  if (state.charts) for (const c of Object.values(state.charts)) c.build();
  if (state.lastRuns) loadRuns();
  showUsage();
});

initTheme(() => labelPrefs());
applyStatic();
labelPrefs();
setLive('off');
state.token = storedToken();
if (state.token) showDashboard();
else {
  ui.login.hidden = false;
  ui.token.focus();
}
