// A small reader of deploy/Dockerfile: its instructions grouped by stage, enough for the
// structural checks of dockerfile.test.js (no Docker engine is needed or used).

import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./rules.js";

export const DOCKERFILE = path.join(ROOT, "deploy/Dockerfile");

/// [{ name, from, instructions: [{ op, args, flags }] }] and the global ARGs.
export function parseDockerfile(text) {
  const lines = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (current === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue; // a comment inside a continued instruction
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    lines.push(current + line);
    current = "";
  }
  if (current) lines.push(current);
  const args = {};
  const stages = [];
  for (const line of lines) {
    const [, op, rest] = line.match(/^(\S+)\s*(.*)$/);
    const upper = op.toUpperCase();
    const flags = {};
    let body = rest;
    while (body.startsWith("--")) {
      const [, k, v, tail] = body.match(/^--([a-z-]+)=(\S+)\s*(.*)$/);
      flags[k] = flags[k] ? [].concat(flags[k], v) : v;
      body = tail;
    }
    if (upper === "FROM") {
      const m = body.match(/^(\S+)(?:\s+AS\s+(\S+))?$/i);
      const image = m[1].replace(/\$\{(\w+)\}/g, (_, a) => args[a] ?? `\${${a}}`);
      stages.push({ name: m[2], from: image, instructions: [] });
    } else if (stages.length === 0) {
      if (upper !== "ARG") throw new Error(`${op} before the first FROM`);
      const [k, v] = body.split("=");
      args[k] = v;
    } else {
      stages.at(-1).instructions.push({ op: upper, args: body, flags });
    }
  }
  return { args, stages };
}

export function readDockerfile(file = DOCKERFILE) {
  return parseDockerfile(fs.readFileSync(file, "utf8"));
}

/// The port the image listens on (its TIDERUN_ADDR), which EXPOSE must name too.
export function imagePort(file = DOCKERFILE) {
  const { stages } = readDockerfile(file);
  const runtime = stages.find((s) => s.name === "runtime");
  const env = runtime.instructions.filter((i) => i.op === "ENV").map((i) => i.args).join(" ");
  const m = env.match(/TIDERUN_ADDR=[^\s:]+:(\d+)/);
  return m ? Number(m[1]) : undefined;
}

/// Packages an `apt-get install` in the stage's RUN instructions names.
export function aptPackages(stage) {
  const out = [];
  for (const i of stage.instructions.filter((x) => x.op === "RUN")) {
    for (const m of i.args.matchAll(/apt-get install ([^&;|]*)/g)) {
      out.push(...m[1].split(/\s+/).filter((w) => w && !w.startsWith("-")));
    }
  }
  return out;
}
