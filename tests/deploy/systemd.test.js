// deploy/systemd/tiderun.service: `systemd-analyze verify` in a scratch root (this machine's
// unit directory copied in, a stand-in executable at ExecStart, so nothing of the host is
// read), which must print nothing — systemd only warns about an unknown key or a bad value —
// then the settings the sandbox depends on. The unit is not started here: no systemd runs as
// this container's init.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

import { ROOT } from "./rules.js";

const UNIT = path.join(ROOT, "deploy/systemd/tiderun.service");
const ENV = path.join(ROOT, "deploy/systemd/tiderun.env");

function verify(text) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tiderun-unit-"));
  try {
    fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
    fs.mkdirSync(path.join(root, "usr/lib/systemd"), { recursive: true });
    fs.cpSync("/usr/lib/systemd/system", path.join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
    const exec = text.match(/^ExecStart=(\S+)/m)[1];
    fs.mkdirSync(path.join(root, path.dirname(exec)), { recursive: true });
    fs.writeFileSync(path.join(root, exec), "#!/bin/sh\n", { mode: 0o755 });
    fs.writeFileSync(path.join(root, "etc/systemd/system/tiderun.service"), text);
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, "tiderun.service"], { encoding: "utf8" });
    assert.notEqual(r.error?.code, "ENOENT", "systemd-analyze is not installed: scripts/deploy-tests installs systemd");
    return r;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function settings(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Za-z]+)=(.*)$/);
    if (m) (out[m[1]] ??= []).push(m[2]);
  }
  return out;
}

test("systemd-analyze verify accepts the unit without a warning", () => {
  const r = verify(fs.readFileSync(UNIT, "utf8"));
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal((r.stdout + r.stderr).trim(), "");
});

test("the check bites: a misspelt key and a bad value are reported", () => {
  const text = fs.readFileSync(UNIT, "utf8");
  for (const [from, to, needle] of [
    ["KillMode=mixed", "KilMode=mixed", "Unknown key"],
    ["KillMode=mixed", "KillMode=mixd", "Failed to parse"],
  ]) {
    const r = verify(text.replace(from, to));
    assert.match(r.stdout + r.stderr, new RegExp(needle));
  }
});

// Options that break the sandbox or its programs (the unit's comments say why for each).
const FORBIDDEN = [
  "ProtectKernelTunables", "ProtectKernelLogs", "ProtectProc", "ProcSubset", "ProtectControlGroups",
  "PrivateDevices", "RestrictNamespaces", "PrivateUsers", "PrivateNetwork", "ProtectHostname",
  "MemoryDenyWriteExecute", "SystemCallFilter", "UMask",
];

/// Problems with what the sandbox needs from the unit.
function sandboxProblems(text, env) {
  const s = settings(text);
  const p = [];
  const one = (k) => s[k]?.at(-1);
  if (one("User") !== "root") p.push("User=root: the full sandbox needs root");
  if (one("Delegate") !== "yes") p.push("Delegate=yes: the runs' cgroups live in the unit's");
  if (one("KillMode") !== "mixed") p.push("KillMode=mixed: SIGTERM to the server only, so the drain lets runs finish");
  const caps = (one("CapabilityBoundingSet") ?? "").split(/\s+/).sort();
  const want = ["CAP_MKNOD", "CAP_NET_ADMIN", "CAP_SETGID", "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"];
  if (JSON.stringify(caps) !== JSON.stringify(want)) p.push(`CapabilityBoundingSet=${want.join(" ")}`);
  for (const k of FORBIDDEN) if (k in s) p.push(`${k}= breaks the sandbox`);
  const rw = s.ReadWritePaths ?? [];
  if (!rw.includes("/sys/fs/cgroup/system.slice/tiderun.service")) p.push("the unit's own cgroup must stay writable");
  const drain = Number(env.match(/^TIDERUN_DRAIN_TIMEOUT_S=(\d+)/m)?.[1] ?? 30);
  const stop = Number(one("TimeoutStopSec"));
  if (!(stop >= drain + 10)) p.push(`TimeoutStopSec=${one("TimeoutStopSec")} does not cover the ${drain} s drain`);
  return p;
}

test("the unit gives the sandbox what it needs and nothing that breaks it", () => {
  assert.deepEqual(sandboxProblems(fs.readFileSync(UNIT, "utf8"), fs.readFileSync(ENV, "utf8")), []);
});

test("the sandbox check bites: a breaking option, the default KillMode, a short stop timeout", () => {
  const text = fs.readFileSync(UNIT, "utf8");
  const env = fs.readFileSync(ENV, "utf8");
  assert.match(sandboxProblems(text.replace("PrivateTmp=yes", "PrivateTmp=yes\nProtectKernelTunables=yes"), env).join("\n"), /ProtectKernelTunables= breaks/);
  assert.match(sandboxProblems(text.replace("KillMode=mixed\n", ""), env).join("\n"), /KillMode=mixed/);
  assert.match(sandboxProblems(text, env.replace("TIDERUN_DRAIN_TIMEOUT_S=30", "TIDERUN_DRAIN_TIMEOUT_S=60")).join("\n"), /does not cover the 60 s drain/);
});
