// deploy/kubernetes: every kustomization rendered (render.js), every object checked against
// its schema with unknown fields refused (schema.js), then the cluster's and tiderun's own
// rules (rules.js). The last tests break a rendered copy on purpose, one way each, and check
// that the checks catch it: a validator that accepts everything fails them.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { test } from "node:test";

import { render } from "./render.js";
import { validate } from "./schema.js";
import { ROOT, clusterRules, tiderunRules } from "./rules.js";
import { imagePort } from "./dockerfile.js";

const K8S = path.join(ROOT, "deploy/kubernetes");
// Every kustomization under deploy/kubernetes.
const DIRS = ["base", "keda", "monitoring", "overlays/example", "overlays/privileged"];
// The directories that are complete installations (the others are parts of them).
const INSTALLATIONS = ["base", "overlays/example", "overlays/privileged"];

async function problems(objects) {
  const out = [];
  for (const o of objects) for (const p of await validate(o)) out.push(`${o.kind}/${o.metadata?.name}: ${p}`);
  out.push(...clusterRules(objects));
  return out;
}

async function allProblems(objects) {
  return [...(await problems(objects)), ...tiderunRules(objects, { containerPort: imagePort() })];
}

for (const dir of DIRS) {
  test(`${dir}: every object matches its schema, with no unknown field, and the cluster's rules`, async () => {
    const objects = render(path.join(K8S, dir));
    assert.ok(objects.length > 0);
    assert.deepEqual(await problems(objects), []);
  });
}

for (const dir of INSTALLATIONS) {
  test(`${dir}: what tiderun needs (names, probes, drain, budgets, sandbox, scaling split)`, () => {
    const objects = render(path.join(K8S, dir));
    assert.deepEqual(tiderunRules(objects, { containerPort: imagePort() }), []);
  });
}

// The renderer is the tests' own: check it against kustomize (kubectl kustomize, installed by
// scripts/deploy-tests) on every kustomization. Same objects, same fields, same values.
for (const dir of DIRS) {
  test(`${dir}: the tests' renderer gives what kustomize gives`, () => {
    const kubectl = [process.env.TIDERUN_KUBECTL, path.join(ROOT, "target/deploy-venv/bin/kubectl")].find((c) => c && fs.existsSync(c));
    assert.ok(kubectl, "kubectl is not installed: scripts/deploy-tests installs it (target/deploy-venv)");
    const r = spawnSync(kubectl, ["kustomize", path.join(K8S, dir)], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const canon = (objects) =>
      objects
        .map((o) => JSON.stringify(o, (_, v) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v)))
        .sort();
    const theirs = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
    assert.deepEqual(canon(render(path.join(K8S, dir))), canon(theirs));
  });
}

test("the example overlay has every part: nodes, service, budgets, autoscaling, scraping", () => {
  const kinds = render(path.join(K8S, "overlays/example")).map((o) => `${o.kind}/${o.metadata.name}`);
  for (const want of [
    "Namespace/tiderun", "RuntimeClass/tiderun", "ConfigMap/tiderun", "Secret/tiderun",
    "Deployment/tiderun-web", "Deployment/tiderun-worker", "Service/tiderun",
    "PodDisruptionBudget/tiderun-web", "PodDisruptionBudget/tiderun-worker",
    "ScaledObject/tiderun-web", "ScaledObject/tiderun-worker", "PodMonitor/tiderun", "PrometheusRule/tiderun",
  ]) {
    assert.ok(kinds.includes(want), `${want} missing from ${kinds.join(", ")}`);
  }
  const worker = render(path.join(K8S, "overlays/example")).find((o) => o.kind === "ScaledObject" && o.metadata.name === "tiderun-worker");
  assert.equal(worker.spec.minReplicaCount, 0, "the workers scale to zero");
  assert.deepEqual(worker.spec.triggers.map((t) => t.type).sort(), ["nats-jetstream", "prometheus"]);
});

// One way to break the rendered example each: [what, change, a words the report must hold].
const BROKEN = [
  ["an unknown field", (o) => (dep(o).spec.replica = 2), "unknown field: /spec/replica"],
  ["a misspelt security field", (o) => (dep(o).spec.template.spec.hostUser = false), "unknown field: /spec/template/spec/hostUser"],
  ["a wrong type", (o) => (dep(o).spec.replicas = "two"), "must be integer"],
  ["a bad enum value", (o) => (tiderun(o).securityContext.seccompProfile.type = "Default"), "seccompProfile/type"],
  ["a selector that misses its template", (o) => (dep(o).spec.selector.matchLabels["app.kubernetes.io/component"] = "other"), "selector does not match"],
  ["allowPrivilegeEscalation false with CAP_SYS_ADMIN", (o) => (tiderun(o).securityContext.allowPrivilegeEscalation = false), "allowPrivilegeEscalation"],
  ["procMount Unmasked in the host's user namespace", (o) => delete dep(o).spec.template.spec.hostUsers, "procMount Unmasked needs hostUsers: false"],
  ["a probe on a port the container lacks", (o) => (tiderun(o).readinessProbe.httpGet.port = "web"), "names port web"],
  ["a ScaledObject field KEDA does not have", (o) => (so(o, "tiderun-worker").spec.minReplicas = 0), "unknown field: /spec/minReplicas"],
  ["a trigger without its type", (o) => delete so(o, "tiderun-worker").spec.triggers[0].type, "must have required property"],
  ["a misspelt trigger parameter", (o) => { const m = so(o, "tiderun-worker").spec.triggers[0].metadata; m.lagTreshold = m.lagThreshold; delete m.lagThreshold; }, "no parameter lagTreshold"],
  ["another stream", (o) => (so(o, "tiderun-worker").spec.triggers[0].metadata.stream = "SUBMISSIONS"), "the stream is TIDERUN_SUBMISSIONS"],
  ["the HTTP nodes scaled to zero", (o) => (so(o, "tiderun-web").spec.minReplicaCount = 0), "need a node behind the Service"],
  ["a grace period shorter than the drain", (o) => (dep(o).spec.template.spec.terminationGracePeriodSeconds = 30), "does not cover"],
  ["a memory budget above the limit", (o) => (o.find((x) => x.kind === "ConfigMap").data.TIDERUN_MEMORY_BUDGET_MB = "4096"), "TIDERUN_MEMORY_BUDGET_MB"],
  ["runs' ids outside the pod's user namespace", (o) => delete o.find((x) => x.kind === "ConfigMap").data.TIDERUN_SANDBOX_UID_BASE, "TIDERUN_SANDBOX_UID_BASE"],
  ["a setting tiderun does not read", (o) => (o.find((x) => x.kind === "ConfigMap").data.TIDERUN_QUEUE = "nats://x:4222"), "TIDERUN_QUEUE is not a setting"],
  ["a capability beyond the measured set", (o) => tiderun(o).securityContext.capabilities.add.push("SYS_MODULE"), "capabilities must be"],
  ["a PodDisruptionBudget with both bounds", (o) => (o.find((x) => x.kind === "PodDisruptionBudget").spec.maxUnavailable = 1), "exactly one of"],
  ["a Service on a port the pods lack", (o) => (o.find((x) => x.kind === "Service").spec.ports[0].targetPort = "web"), "has no port web"],
];

function dep(objects) {
  return objects.find((o) => o.kind === "Deployment" && o.metadata.name === "tiderun-web");
}
function tiderun(objects) {
  return dep(objects).spec.template.spec.containers[0];
}
function so(objects, name) {
  return objects.find((o) => o.kind === "ScaledObject" && o.metadata.name === name);
}

for (const [what, change, needle] of BROKEN) {
  test(`a broken copy is refused: ${what}`, async () => {
    const objects = structuredClone(render(path.join(K8S, "overlays/example")));
    change(objects);
    const found = await allProblems(objects);
    assert.ok(found.some((p) => p.includes(needle)), `expected a problem with "${needle}", got:\n${found.join("\n") || "(none)"}`);
  });
}

test("the renderer refuses what it does not implement, rather than skipping it", () => {
  assert.throws(() => render(path.join(ROOT, "tests/deploy/fixtures/unsupported-kustomization")), /does not implement `commonLabels`/);
});
