// What the schemas cannot say. Two kinds of rule, each returning problems as strings:
//
// clusterRules: checks the API server (or KEDA's admission webhook) makes beyond the schema,
// the subset that applies to the kinds deploy/ uses (k8s.io/kubernetes pkg/apis/*/validation):
// names and labels, a Deployment's selector against its template, container and port names,
// named probe ports, requests within limits, allowPrivilegeEscalation=false with
// CAP_SYS_ADMIN or privileged, procMount Unmasked only with hostUsers=false, hostUsers=false
// without host namespaces, one of minAvailable/maxUnavailable, one ScaledObject per target.
//
// tiderunRules: what tiderun needs from these objects: the names the issue-9 nodes share
// (stream, consumer, probes, metrics), settings a node reads, grace periods covering the
// drain, memory and uid budgets inside the pod, the sandbox's security context, and the split
// between the always-on HTTP nodes and the workers KEDA may scale to zero.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

function where(o) {
  return `${o.kind}/${o.metadata?.name}`;
}

function podSpecs(objects) {
  return objects.filter((o) => o.kind === "Deployment").map((o) => ({ owner: o, spec: o.spec.template.spec }));
}

function selects(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

/// A Kubernetes quantity in base units (bytes, cores).
export function quantity(q) {
  const m = String(q).match(/^([0-9.]+)([a-zA-Z]*)$/);
  if (!m) throw new Error(`bad quantity ${q}`);
  const units = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  if (!(m[2] in units)) throw new Error(`bad quantity suffix ${q}`);
  return Number(m[1]) * units[m[2]];
}

function checkIanaSvcName(name) {
  return name.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) && /[a-z]/.test(name) && !name.includes("--");
}

export function clusterRules(objects) {
  const p = [];
  const scaledTargets = new Map();
  for (const o of objects) {
    const name = o.metadata?.name ?? "";
    const nameOk = ["Service", "Namespace"].includes(o.kind) ? DNS1035_LABEL.test(name) && name.length <= 63 : DNS1123_SUBDOMAIN.test(name) && name.length <= 253;
    if (!nameOk) p.push(`${where(o)}: invalid name`);
    for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) {
      const [prefix, base] = k.includes("/") ? k.split("/") : [null, k];
      if ((prefix !== null && !DNS1123_SUBDOMAIN.test(prefix)) || !LABEL_NAME.test(base) || base.length > 63) p.push(`${where(o)}: invalid label key ${k}`);
      if (v !== "" && (!LABEL_NAME.test(v) || v.length > 63)) p.push(`${where(o)}: invalid label value ${k}=${v}`);
    }
    if (o.kind === "PodDisruptionBudget" && ("minAvailable" in o.spec) === ("maxUnavailable" in o.spec)) {
      p.push(`${where(o)}: exactly one of minAvailable and maxUnavailable`);
    }
    if (o.kind === "ScaledObject") {
      const t = `${o.metadata.namespace ?? ""}/${o.spec.scaleTargetRef.kind ?? "Deployment"}/${o.spec.scaleTargetRef.name}`;
      if (scaledTargets.has(t)) p.push(`${where(o)}: ${t} is already scaled by ${scaledTargets.get(t)} (KEDA's webhook refuses a second ScaledObject)`);
      scaledTargets.set(t, where(o));
      if ((o.spec.minReplicaCount ?? 0) > (o.spec.maxReplicaCount ?? 100)) p.push(`${where(o)}: minReplicaCount above maxReplicaCount`);
    }
  }
  for (const { owner, spec } of podSpecs(objects)) {
    const w = where(owner);
    if (!selects(owner.spec.selector.matchLabels, owner.spec.template.metadata?.labels)) p.push(`${w}: selector does not match the template's labels`);
    const all = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
    const names = new Set();
    for (const c of all) {
      if (!DNS1123_LABEL.test(c.name) || c.name.length > 63) p.push(`${w}: invalid container name ${c.name}`);
      if (names.has(c.name)) p.push(`${w}: container name ${c.name} used twice`);
      names.add(c.name);
      const ports = new Set();
      for (const port of c.ports ?? []) {
        if (port.name !== undefined) {
          if (!checkIanaSvcName(port.name)) p.push(`${w}: ${c.name}: invalid port name ${port.name}`);
          if (ports.has(port.name)) p.push(`${w}: ${c.name}: port name ${port.name} used twice`);
          ports.add(port.name);
        }
      }
      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        const port = c[probe]?.httpGet?.port;
        if (typeof port === "string" && !ports.has(port)) p.push(`${w}: ${c.name}: ${probe} names port ${port}, which the container does not have`);
      }
      for (const e of c.env ?? []) if (!ENV_NAME.test(e.name)) p.push(`${w}: ${c.name}: invalid env name ${e.name}`);
      const { requests = {}, limits = {} } = c.resources ?? {};
      for (const [r, v] of Object.entries(requests)) {
        if (r in limits && quantity(v) > quantity(limits[r])) p.push(`${w}: ${c.name}: ${r} request above its limit`);
      }
      const sc = c.securityContext ?? {};
      const addsSysAdmin = (sc.capabilities?.add ?? []).some((x) => x === "SYS_ADMIN" || x === "CAP_SYS_ADMIN");
      if (sc.allowPrivilegeEscalation === false && (sc.privileged || addsSysAdmin)) {
        p.push(`${w}: ${c.name}: cannot set allowPrivilegeEscalation to false and privileged or CAP_SYS_ADMIN`);
      }
      if (sc.procMount === "Unmasked" && spec.hostUsers !== false) p.push(`${w}: ${c.name}: procMount Unmasked needs hostUsers: false`);
      for (const m of c.volumeMounts ?? []) {
        if (!(spec.volumes ?? []).some((v) => v.name === m.name)) p.push(`${w}: ${c.name}: mounts volume ${m.name}, which the pod does not have`);
      }
    }
    if (spec.hostUsers === false && (spec.hostNetwork || spec.hostPID || spec.hostIPC)) p.push(`${w}: hostUsers: false with a host namespace`);
  }
  return p;
}

/// The environment variables tiderun reads: the `env = "..."` of its flags and the TIDERUN_*
/// names its sources mention, plus the names issue 9's queue work adds to `tiderun serve`
/// (fixed in advance: the two halves of the issue are built at the same time).
export function tiderunEnvNames() {
  const names = new Set(["TIDERUN_QUEUE_URL", "TIDERUN_NODE_ID", "TIDERUN_DRAIN_TIMEOUT_S"]);
  const dir = path.join(ROOT, "crates/tiderun/src");
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    if (!String(f).endsWith(".rs")) continue;
    for (const m of fs.readFileSync(path.join(dir, f), "utf8").matchAll(/"(TIDERUN_[A-Z0-9_]+)"/g)) names.add(m[1]);
  }
  return names;
}

// The capabilities the sandbox was measured to need (deploy/README.md), added to the
// unprivileged pods; anything else added is drift to justify first.
export const POD_CAPABILITIES = ["NET_ADMIN", "SETGID", "SETUID", "SYS_ADMIN", "SYS_PTRACE"];
// A pod's own user namespace: ids 0-65535 (hostUsers: false).
const POD_IDS = 65536;
const SANDBOX_SLOTS = 1024;
// What the server itself may use beside its runs' budget.
const SERVER_MEMORY_BYTES = 512 * 1024 ** 2;
// Seconds between the end of the drain and SIGKILL, for the process to exit.
const EXIT_MARGIN_S = 5;
export const CONTRACT = {
  stream: "TIDERUN_SUBMISSIONS",
  consumer: "tiderun-workers",
  monitoringPort: "8222",
  metric: "tiderun_runs_in_flight",
};

/// The value of a TIDERUN_* setting in a container: its own env, else an envFrom ConfigMap.
function setting(objects, container, name) {
  const own = (container.env ?? []).find((e) => e.name === name);
  if (own) return own.value;
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? "ConfigMap" : "Secret";
    const o = objects.find((x) => x.kind === kind && x.metadata.name === ref.name);
    const value = o?.data?.[name] ?? o?.stringData?.[name];
    if (value !== undefined) return value;
  }
  return undefined;
}

export function tiderunRules(objects, { containerPort }) {
  const p = [];
  const known = tiderunEnvNames();
  for (const o of objects.filter((x) => x.kind === "ConfigMap" || x.kind === "Secret")) {
    for (const k of Object.keys({ ...o.data, ...o.stringData })) {
      if (k.startsWith("TIDERUN_") && !known.has(k)) p.push(`${where(o)}: ${k} is not a setting tiderun reads`);
    }
  }
  const deployments = objects.filter((x) => x.kind === "Deployment");
  for (const d of deployments) {
    const w = where(d);
    const spec = d.spec.template.spec;
    const c = spec.containers.find((x) => x.name === "tiderun");
    if (!c) {
      p.push(`${w}: no container named tiderun`);
      continue;
    }
    for (const e of c.env ?? []) if (e.name.startsWith("TIDERUN_") && !known.has(e.name)) p.push(`${w}: ${e.name} is not a setting tiderun reads`);
    for (const from of c.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      const kind = from.configMapRef ? "ConfigMap" : "Secret";
      if (!objects.some((x) => x.kind === kind && x.metadata.name === ref.name)) p.push(`${w}: envFrom names ${kind} ${ref.name}, which is not rendered`);
    }
    const http = (c.ports ?? []).find((x) => x.name === "http");
    if (http?.containerPort !== containerPort) p.push(`${w}: containerPort http is not the image's port ${containerPort}`);
    if (c.readinessProbe?.httpGet?.path !== "/readyz") p.push(`${w}: readiness must be GET /readyz`);
    if (c.livenessProbe?.httpGet?.path !== "/healthz") p.push(`${w}: liveness must be GET /healthz`);
    const nodeId = (c.env ?? []).find((e) => e.name === "TIDERUN_NODE_ID");
    if (nodeId?.valueFrom?.fieldRef?.fieldPath !== "metadata.name") p.push(`${w}: TIDERUN_NODE_ID must be the pod's name`);
    const drain = Number(setting(objects, c, "TIDERUN_DRAIN_TIMEOUT_S") ?? 30);
    const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
    if (c.lifecycle?.preStop?.exec) p.push(`${w}: preStop exec joins the container's top cgroup: use the sleep action`);
    const grace = spec.terminationGracePeriodSeconds ?? 30;
    if (grace < preStop + drain + EXIT_MARGIN_S) {
      p.push(`${w}: terminationGracePeriodSeconds ${grace} does not cover preStop ${preStop} s + drain ${drain} s + ${EXIT_MARGIN_S} s`);
    }
    const limit = c.resources?.limits?.memory;
    const budget = Number(setting(objects, c, "TIDERUN_MEMORY_BUDGET_MB"));
    if (!limit) p.push(`${w}: no memory limit`);
    else if (!(budget > 0)) p.push(`${w}: TIDERUN_MEMORY_BUDGET_MB unset: the default reads the node's memory, not the container's`);
    else if (budget * 1024 ** 2 + SERVER_MEMORY_BYTES > quantity(limit)) p.push(`${w}: TIDERUN_MEMORY_BUDGET_MB ${budget} leaves the server less than 512 MiB of the ${limit} limit`);
    const concurrent = Number(setting(objects, c, "TIDERUN_MAX_CONCURRENT"));
    const cpu = quantity(c.resources?.requests?.cpu ?? 0);
    if (!(concurrent > 0) || concurrent > 4 * cpu) p.push(`${w}: TIDERUN_MAX_CONCURRENT must be set, at most 4 per requested core`);
    const sc = c.securityContext ?? {};
    if (spec.hostUsers === false) {
      const base = Number(setting(objects, c, "TIDERUN_SANDBOX_UID_BASE"));
      if (!(base >= 2 && base + SANDBOX_SLOTS <= POD_IDS)) p.push(`${w}: TIDERUN_SANDBOX_UID_BASE must keep the runs' ids inside the pod's 0-65535`);
      const added = [...(sc.capabilities?.add ?? [])].sort();
      if (JSON.stringify(added) !== JSON.stringify(POD_CAPABILITIES) || JSON.stringify(sc.capabilities?.drop) !== '["ALL"]') {
        p.push(`${w}: capabilities must be drop ALL, add ${POD_CAPABILITIES.join(" ")}`);
      }
      if (sc.privileged) p.push(`${w}: privileged with hostUsers: false`);
      if (sc.procMount !== "Unmasked") p.push(`${w}: the sandbox mounts /proc in its own namespaces: procMount Unmasked`);
      if (!spec.runtimeClassName) p.push(`${w}: no runtimeClassName: the runs' cgroups need a writable cgroup`);
    } else if (!sc.privileged) {
      p.push(`${w}: without a user namespace of its own the sandbox needs a privileged container`);
    }
    if (sc.appArmorProfile?.type === "RuntimeDefault") p.push(`${w}: the default AppArmor profiles deny mount`);
    if (sc.seccompProfile?.type === "Unconfined" && !sc.privileged) p.push(`${w}: seccomp Unconfined is not needed`);
    if (spec.runtimeClassName && !objects.some((x) => x.kind === "RuntimeClass" && x.metadata.name === spec.runtimeClassName)) {
      p.push(`${w}: RuntimeClass ${spec.runtimeClassName} is not rendered`);
    }
  }
  // The two Deployments run the same node: their pods differ only where documented.
  const [web, worker] = ["tiderun-web", "tiderun-worker"].map((n) => deployments.find((d) => d.metadata.name === n));
  if (web && worker) {
    const strip = (d) => {
      const s = structuredClone(d.spec.template.spec);
      delete s.terminationGracePeriodSeconds;
      delete s.topologySpreadConstraints;
      for (const c of s.containers) delete c.lifecycle;
      return JSON.stringify(s);
    };
    if (strip(web) !== strip(worker)) p.push("tiderun-web and tiderun-worker pods differ beyond grace period, spread and preStop");
  }
  // Services and PDBs select rendered pods, on ports they have.
  for (const o of objects.filter((x) => ["Service", "PodDisruptionBudget", "PodMonitor"].includes(x.kind))) {
    const sel = o.kind === "Service" ? o.spec.selector : o.spec.selector.matchLabels;
    const pods = deployments.filter((d) => selects(sel, d.spec.template.metadata.labels));
    if (pods.length === 0 && !(o.kind === "PodMonitor" && deployments.length === 0)) p.push(`${where(o)}: selects no pod`);
    const portNames = o.kind === "Service" ? o.spec.ports.map((x) => x.targetPort) : o.kind === "PodMonitor" ? o.spec.podMetricsEndpoints.map((x) => x.port) : [];
    for (const name of portNames) {
      for (const d of pods) {
        if (!d.spec.template.spec.containers.some((c) => (c.ports ?? []).some((x) => x.name === name))) p.push(`${where(o)}: ${where(d)} has no port ${name}`);
      }
    }
    if (o.kind === "PodMonitor" && o.spec.podMetricsEndpoints.some((e) => e.path !== "/metrics")) p.push(`${where(o)}: metrics are at /metrics`);
  }
  // KEDA: the names, and never zero nodes behind the Service.
  const serviced = deployments.filter((d) => objects.some((s) => s.kind === "Service" && selects(s.spec.selector, d.spec.template.metadata.labels)));
  const triggerKeys = {
    "nats-jetstream": ["natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"],
    prometheus: ["serverAddress", "query", "threshold", "activationThreshold", "namespace", "customHeaders", "ignoreNullValues", "unsafeSsl", "queryParameters", "authModes", "timeout"],
  };
  for (const so of objects.filter((x) => x.kind === "ScaledObject")) {
    const w = where(so);
    const target = deployments.find((d) => d.metadata.name === so.spec.scaleTargetRef.name);
    if (!target) p.push(`${w}: scales ${so.spec.scaleTargetRef.name}, which is not rendered`);
    if (target && serviced.includes(target) && (so.spec.minReplicaCount ?? 0) < 1) {
      p.push(`${w}: may scale ${target.metadata.name} to zero, but synchronous runs and WebSockets need a node behind the Service`);
    }
    if (target && target.spec.replicas !== undefined && (so.spec.minReplicaCount ?? 0) === 0) {
      p.push(`${w}: ${target.metadata.name} sets replicas, which an apply would reset under KEDA`);
    }
    for (const t of so.spec.triggers) {
      const keys = triggerKeys[t.type];
      if (!keys) {
        p.push(`${w}: trigger type ${t.type} is not one deploy/ knows`);
        continue;
      }
      for (const k of Object.keys(t.metadata ?? {})) if (!keys.includes(k)) p.push(`${w}: ${t.type} has no parameter ${k}`);
      const m = t.metadata;
      if (t.type === "nats-jetstream") {
        if (m.stream !== CONTRACT.stream || m.consumer !== CONTRACT.consumer) p.push(`${w}: the stream is ${CONTRACT.stream}, the consumer ${CONTRACT.consumer}`);
        if (!String(m.natsServerMonitoringEndpoint).endsWith(`:${CONTRACT.monitoringPort}`)) p.push(`${w}: NATS monitoring is on port ${CONTRACT.monitoringPort}`);
        for (const k of ["lagThreshold", "activationLagThreshold"]) if (k in m && !/^[0-9]+$/.test(m[k])) p.push(`${w}: ${k} must be a whole number as a string`);
      }
      if (t.type === "prometheus") {
        if (!m.query?.includes(CONTRACT.metric)) p.push(`${w}: the query reads ${CONTRACT.metric}`);
        if (!/^[0-9]+(\.[0-9]+)?$/.test(m.threshold ?? "")) p.push(`${w}: threshold must be a number as a string`);
      }
    }
  }
  return p;
}
