// The run log and usage: GET /api/v1/runs and GET /api/v1/usage (admin). A server without
// them (404), or one that fails, gets a message in place of the table, never an exception.
import { t } from '../i18n.js';

export async function getJson(path, token) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch {
    return { ok: false, status: 0, message: t('con.unreachable') };
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON.
  }
  if (!response.ok) return { ok: false, status: response.status, message: body?.error || `HTTP ${response.status}` };
  if (body === null) return { ok: false, status: response.status, message: 'not JSON' };
  return { ok: true, status: response.status, body };
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
}

const number = (n) => (typeof n === 'number' ? n.toLocaleString() : '–');

/** Rows of the run log, appended to `tbody`. */
export function appendRuns(tbody, runs) {
  for (const r of runs) {
    const tr = document.createElement('tr');
    const at = new Date(r.at);
    cell(tr, Number.isNaN(at.getTime()) ? String(r.at ?? '') : at.toLocaleString(document.documentElement.lang || undefined));
    cell(tr, r.node ?? '');
    cell(tr, r.key ?? t('con.noKey'), r.key ? '' : 'muted');
    cell(tr, r.api ?? '');
    cell(tr, r.runtime ?? '');
    cell(tr, r.status ?? '', `status-cell status-${r.status === 'ok' ? 'ok' : r.status === 'internal_error' ? 'bad' : 'other'}`);
    cell(tr, number(r.cpu_ms), 'num');
    cell(tr, number(r.wall_ms), 'num');
    cell(tr, typeof r.memory_kb === 'number' ? (r.memory_kb / 1024).toFixed(1) : '–', 'num');
    cell(tr, r.start ?? '');
    tbody.append(tr);
  }
}

/** YYYY-MM-DD of a date, in UTC (the usage's days are UTC days). */
export function utcDay(date) {
  return date.toISOString().slice(0, 10);
}

/** Every UTC day from `from` to `to` (inclusive, YYYY-MM-DD). */
export function days(from, to) {
  const out = [];
  for (let d = new Date(`${from}T00:00:00Z`); utcDay(d) <= to && out.length < 400; d.setUTCDate(d.getUTCDate() + 1)) out.push(utcDay(d));
  return out;
}

/**
 * Usage per key over the days, as bars: one row per key (its totals, then a bar per day
 * with the day's runs, scaled to the busiest day of any key).
 */
export function renderUsage(el, usage, colour) {
  el.replaceChildren();
  const allDays = days(usage.from, usage.to);
  const byKey = new Map();
  for (const row of usage.rows || []) {
    const key = row.key ?? '';
    if (!byKey.has(key)) byKey.set(key, { perDay: new Map(), runs: 0, errors: 0, cpu: 0, gbs: 0 });
    const k = byKey.get(key);
    k.perDay.set(row.day, (k.perDay.get(row.day) || 0) + (row.runs || 0));
    k.runs += row.runs || 0;
    k.errors += row.errors || 0;
    k.cpu += row.cpu_s || 0;
    k.gbs += row.gb_s || 0;
  }
  const max = Math.max(1, ...[...byKey.values()].flatMap((k) => [...k.perDay.values()]));
  const keys = [...byKey.keys()].sort((a, b) => byKey.get(b).runs - byKey.get(a).runs);
  keys.forEach((key, i) => {
    const k = byKey.get(key);
    const row = document.createElement('div');
    row.className = 'usage-row';
    const head = document.createElement('div');
    head.className = 'usage-head';
    const name = document.createElement('strong');
    name.textContent = key || t('con.noKey');
    const totals = document.createElement('span');
    totals.className = 'muted small';
    totals.textContent = t('con.usageTotals', {
      runs: k.runs.toLocaleString(),
      errors: k.errors.toLocaleString(),
      cpu: k.cpu.toFixed(1),
      gbs: k.gbs.toFixed(1),
    });
    head.append(name, totals);
    const bars = document.createElement('div');
    bars.className = 'usage-bars';
    bars.setAttribute('role', 'img');
    bars.setAttribute('aria-label', allDays.map((day) => t('con.usageBar', { day, runs: k.perDay.get(day) || 0 })).join('; '));
    for (const day of allDays) {
      const runs = k.perDay.get(day) || 0;
      const bar = document.createElement('span');
      bar.className = 'usage-bar';
      bar.style.height = `${Math.max(runs ? 4 : 1, Math.round((runs / max) * 100))}%`;
      bar.style.background = runs ? colour(i) : '';
      bar.title = t('con.usageBar', { day, runs });
      bars.append(bar);
    }
    const axis = document.createElement('div');
    axis.className = 'usage-axis muted small';
    const first = document.createElement('span');
    first.textContent = allDays[0] || '';
    const last = document.createElement('span');
    last.textContent = allDays[allDays.length - 1] || '';
    axis.append(first, last);
    row.append(head, bars, axis);
    el.append(row);
  });
  return keys.length;
}
