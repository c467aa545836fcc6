// Each rendered object against its schema: the Kubernetes OpenAPI schemas (npm
// `kubernetes-models`), KEDA's CRDs (`@kubernetes-models/keda`) and Prometheus Operator's
// (`@kubernetes-models/prometheus-operator`), all pinned in package.json.
//
// Those validators check types, enums, formats and required fields but accept a field they do
// not know, which the API server rejects (kubectl's default field validation is Strict). So
// every field is also probed: its value is replaced by values of other types (a fraction, a
// string, a boolean) and the object validated again. A field the schema knows changes the
// errors for at least one of them; one it does not know changes nothing and is reported as
// unknown (its children are not probed). Map entries (labels, ConfigMap data) are typed
// strings in the schema, so they count as known, as they should.

const MODELS = {
  "": "kubernetes-models",
  apps: "kubernetes-models",
  policy: "kubernetes-models",
  "node.k8s.io": "kubernetes-models",
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

const PROBES = [12345.5, "tiderun-schema-probe", true];

/// The model class for an object's apiVersion and kind, or an error saying there is none.
export async function modelFor(obj) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  const pkg = MODELS[group];
  if (!pkg) throw new Error(`no schema for ${obj.apiVersion} (add its models to tests/deploy)`);
  const dir = group === "" ? version : `${group}/${version}`;
  let mod;
  try {
    mod = await import(`${pkg}/${dir}/${obj.kind}`);
  } catch (e) {
    throw new Error(`no schema for ${obj.apiVersion} ${obj.kind} in ${pkg}: ${e.message}`);
  }
  const Model = mod[obj.kind];
  if (Model.apiVersion !== obj.apiVersion || Model.kind !== obj.kind) {
    throw new Error(`${pkg} names ${obj.kind} as ${Model.apiVersion} ${Model.kind}`);
  }
  return Model;
}

function errorsOf(Model, obj) {
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    if (!e.errors) throw e;
    return e.errors.map((x) => `${x.instancePath || "/"} ${x.message}`);
  }
}

function fingerprint(errors) {
  return JSON.stringify([...errors].sort());
}

function getParent(obj, keys) {
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k];
  return o;
}

/// Schema errors and unknown fields of one object, as lines `path: what`.
export async function validate(obj) {
  const Model = await modelFor(obj);
  const errors = errorsOf(Model, obj);
  const problems = errors.map((e) => `schema: ${e}`);
  const base = fingerprint(errors);
  const unknown = [];
  const walk = (value, keys) => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...keys, i]));
      return;
    }
    if (value === null || typeof value !== "object") return;
    for (const key of Object.keys(value)) {
      const path = [...keys, key];
      if (path.length === 1 && (key === "apiVersion" || key === "kind")) continue;
      const known = PROBES.some((probe) => {
        const copy = structuredClone(obj);
        getParent(copy, path)[key] = probe;
        return fingerprint(errorsOf(Model, copy)) !== base;
      });
      if (known) walk(value[key], path);
      else unknown.push("/" + path.join("/"));
    }
  };
  walk(obj, []);
  for (const u of unknown) problems.push(`unknown field: ${u}`);
  return problems;
}
