// deploy/prometheus (alert rules) and deploy/grafana (the dashboard): `promtool check rules`
// and the rules' unit tests (`promtool test rules`, Debian's prometheus package, installed by
// scripts/deploy-tests), the house's rules for an alert (a `for:`, a severity, a summary that
// says what to do), the PrometheusRule in deploy/kubernetes/monitoring holding the same
// groups, every dashboard query parsed by promtool too — and every metric a rule or a panel
// names is one the real server exports: read from /metrics of `tiderun serve` (the debug
// binary scripts/deploy-tests builds, or TIDERUN_BIN) after a run and a refused run, never
// from a list written here.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parse, stringify } from "yaml";

import { ROOT } from "./rules.js";

const RULES = path.join(ROOT, "deploy/prometheus/tiderun-alerts.yaml");
const RULE_TESTS = path.join(ROOT, "deploy/prometheus/tiderun-alerts.test.yaml");
const PROMETHEUS_RULE = path.join(ROOT, "deploy/kubernetes/monitoring/prometheusrule.yaml");
const DASHBOARD = path.join(ROOT, "deploy/grafana/tiderun.json");
// scripts/deploy-tests builds it (or TIDERUN_BIN names one).
const BINARY = process.env.TIDERUN_BIN || path.join(ROOT, "target/debug/tiderun");
const SEVERITIES = ["warning", "critical"];

function promtool(args, cwd) {
  const r = spawnSync("promtool", args, { encoding: "utf8", cwd });
  assert.notEqual(r.error?.code, "ENOENT", "promtool is not installed: scripts/deploy-tests installs Debian's prometheus");
  return r;
}

function scratch() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tiderun-rules-"));
}

const rules = () => parse(fs.readFileSync(RULES, "utf8"));
const alerts = () => rules().groups.flatMap((g) => g.rules);
const dashboard = () => JSON.parse(fs.readFileSync(DASHBOARD, "utf8"));

/** Every query of the dashboard, with Grafana's variables put in as Prometheus would see them. */
function dashboardQueries(d = dashboard()) {
  const out = [];
  for (const p of d.panels) for (const t of p.targets ?? []) out.push({ panel: p.title, expr: t.expr });
  for (const v of d.templating.list) if (v.type === "query") out.push({ panel: `variable ${v.name}`, expr: v.definition.replace(/^label_values\((\w+),.*\)$/, "$1") });
  return out.map((q) => ({ ...q, expr: q.expr.replaceAll("$__rate_interval", "5m").replaceAll("$instance", ".*") }));
}

/**
 * The metric names a PromQL expression selects: identifiers left once strings, label
 * matchers, ranges, grouping label lists, function calls and keywords are taken out. (A
 * regex on `__name__` would hide a name from this: the rules and panels use none, checked.)
 */
export function metricNames(expr) {
  assert.ok(!expr.includes("__name__"), `select metrics by name, not by __name__: ${expr}`);
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const keywords = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"]);
  const names = new Set();
  for (const m of bare.matchAll(/(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\()?)/g)) {
    if (m[1] || keywords.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

test("metricNames finds the metrics of an expression, and only those", () => {
  assert.deepEqual(
    metricNames('histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="y",le!="1"}[5m]))) > 10 and on (instance) b_total offset 5m or c'),
    ["a_bucket", "b_total", "c"],
  );
});

test("the alert rules pass promtool check rules", () => {
  const r = promtool(["check", "rules", RULES]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${alerts().length} rules found`));
});

test("every alert has a for:, a severity and a summary saying what to do", () => {
  const names = new Set();
  for (const a of alerts()) {
    assert.ok(a.alert, `a rule without an alert name: ${JSON.stringify(a)}`);
    assert.ok(!names.has(a.alert), `${a.alert} twice`);
    names.add(a.alert);
    assert.match(a.for ?? "", /^\d+[smh]$/, `${a.alert}: a for:`);
    assert.ok(SEVERITIES.includes(a.labels?.severity), `${a.alert}: severity one of ${SEVERITIES}`);
    assert.ok((a.annotations?.summary ?? "").length > 40, `${a.alert}: a summary`);
  }
  // What the issue asks to be warned of.
  for (const want of ["QueueBacklog", "ErrorRate", "SlowRuns", "SandboxInternalErrors", "MemoryBudgetExhausted", "PoolsNotKeepingUp"]) {
    assert.ok([...names].some((n) => n.includes(want)), `an alert on ${want}`);
  }
});

test("each alert fires on a node in trouble and not on a healthy one (promtool test rules)", () => {
  const dir = scratch();
  try {
    const bare = rules();
    for (const g of bare.groups) for (const r of g.rules) delete r.annotations;
    fs.writeFileSync(path.join(dir, "tiderun-alerts.yaml"), stringify(bare));
    fs.copyFileSync(RULE_TESTS, path.join(dir, "tests.yaml"));
    const tested = new Set(parse(fs.readFileSync(RULE_TESTS, "utf8")).tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)));
    for (const a of alerts()) assert.ok(tested.has(a.alert), `${a.alert} has no unit test in ${path.basename(RULE_TESTS)}`);
    const r = promtool(["test", "rules", "tests.yaml"], dir);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a broken rule is refused: promtool is really checking", () => {
  const dir = scratch();
  try {
    const broken = rules();
    broken.groups[0].rules[0].expr = "sum by (instance (rate(faas_errors_total[5m]))";
    fs.writeFileSync(path.join(dir, "r.yaml"), stringify(broken));
    assert.notEqual(promtool(["check", "rules", path.join(dir, "r.yaml")]).status, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the PrometheusRule in deploy/kubernetes/monitoring holds the same groups as the rules file", () => {
  const object = parse(fs.readFileSync(PROMETHEUS_RULE, "utf8"));
  assert.equal(object.kind, "PrometheusRule");
  assert.deepEqual(object.spec, rules());
});

test("the dashboard: every panel has a title, a Prometheus query and a place; every query parses", () => {
  const d = dashboard();
  assert.equal(d.uid, "tiderun");
  const ids = new Set();
  for (const p of d.panels) {
    assert.ok(p.title && !ids.has(p.id), `panel ${p.id}: a title and its own id`);
    ids.add(p.id);
    assert.ok(p.targets?.length > 0, `${p.title}: a query`);
    for (const k of ["x", "y", "w", "h"]) assert.equal(typeof p.gridPos?.[k], "number", `${p.title}: gridPos.${k}`);
    assert.equal(p.datasource?.uid, "${datasource}", `${p.title}: the dashboard's Prometheus`);
  }
  // Grafana has no PromQL check of its own here: have promtool parse every query, as
  // recording rules.
  const dir = scratch();
  try {
    const groups = [{ name: "dashboard", rules: dashboardQueries(d).map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr })) }];
    fs.writeFileSync(path.join(dir, "q.yaml"), stringify({ groups }));
    const r = promtool(["check", "rules", path.join(dir, "q.yaml")]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** The metric names the real server exports once it has run a program and refused one. */
async function exported(t) {
  assert.ok(fs.existsSync(BINARY), `${BINARY} is missing: scripts/deploy-tests builds it (cargo build -p tiderun)`);
  const dir = scratch();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // A budget a run at the runtime's default memory limit (256 MiB, with its request's 32 MiB
  // output hold) fits in beside a fork server (128 MiB), and a run asking for 512 MiB does not.
  // No fork server is kept idle (each runtime that has one would hold 128 MiB from the start):
  // Python's is started for its runs.
  const args = ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", dir, "--memory-budget-mb", "480", "--fork-servers-min", "0"];
  const server = spawn(BINARY, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  let stderr = "";
  server.stderr.on("data", (b) => (stderr += b));
  t.after(() => {
    server.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    assert.ok(Date.now() < deadline && server.exitCode === null, `the server did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const post = async (limits, language, code) => {
    const r = await fetch(`${base}/api/v1/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ language, code, limits }) });
    return [r.status, await r.text(), Number(r.headers.get("retry-after") || 1)];
  };
  // A run that fits is retried after a 429 as a client would (Retry-After): the memory the
  // request before it held may be given back a moment after its answer was sent.
  const run = async (limits, language = "python", code = "print(1)") => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [status, body, retryAfter] = await post(limits, language, code);
      if (status !== 429 || Date.now() > deadline) return [status, body];
      await new Promise((r) => setTimeout(r, retryAfter * 1000));
    }
  };
  const [ok, okBody] = await run(undefined);
  assert.equal(ok, 200, okBody);
  assert.equal(JSON.parse(okBody).run.status, "ok", okBody);
  // Bash has no fork server: its first run starts cold.
  const [cold, coldBody] = await run(undefined, "bash", "echo 1");
  assert.equal(cold, 200, coldBody);
  const [refused, refusedBody] = await post({ memory_mb: 512 }, "python", "print(1)");
  assert.equal(refused, 429, refusedBody);
  const text = await (await fetch(`${base}/metrics`)).text();
  const names = new Set();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, kind] = m;
    if (kind === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
    else if (kind === "summary") for (const s of ["", "_sum", "_count"]) names.add(name + s);
    else names.add(name);
  }
  return { names, text };
}

test("every metric an alert or a dashboard panel names is exported by the server", async (t) => {
  if (process.getuid() !== 0) {
    // Warm pools (tiderun_pool_*, tiderun_starts_total) exist only as root.
    t.skip("SKIPPED: needs root (the server's warm pools)");
    return;
  }
  const { names, text } = await exported(t);
  const used = new Map();
  for (const a of alerts()) for (const n of metricNames(a.expr)) used.set(n, `alert ${a.alert}`);
  for (const q of dashboardQueries()) for (const n of metricNames(q.expr)) used.set(n, `panel ${q.panel}`);
  assert.ok(used.size > 10, [...used.keys()].join(" "));
  const missing = [...used].filter(([n]) => !names.has(n)).map(([n, where]) => `${n} (${where})`);
  assert.deepEqual(missing, [], `not exported:\n${text}`);
});
