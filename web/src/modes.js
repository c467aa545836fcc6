// The editor's modes, by the name a runtime file's `highlight` gives (GET /api/v1/runtimes):
// a CodeMirror language package where one exists, else a legacy (stream) mode. Each is loaded
// on first use, as a separate chunk of the bundle; a language whose runtime names no mode, or
// a mode missing here, is plain text. A language added by one runtime file gets highlighting by
// naming a mode of this table — the names are the page's, not the runtimes'.
import { StreamLanguage } from '@codemirror/language';

/** A legacy mode: `load` imports its module, `pick` takes the mode out of it. */
const legacy = (load, pick) => () => load().then((m) => StreamLanguage.define(pick(m)));

/** Mode name → a function that loads the mode's extension. */
export const MODES = {
  // CodeMirror's language packages (a Lezer grammar each).
  python: () => import('@codemirror/lang-python').then((m) => m.python()),
  javascript: () => import('@codemirror/lang-javascript').then((m) => m.javascript()),
  typescript: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ typescript: true })),
  c: () => import('@codemirror/lang-cpp').then((m) => m.cpp()),
  cpp: () => import('@codemirror/lang-cpp').then((m) => m.cpp()),
  java: () => import('@codemirror/lang-java').then((m) => m.java()),
  rust: () => import('@codemirror/lang-rust').then((m) => m.rust()),
  go: () => import('@codemirror/lang-go').then((m) => m.go()),
  // PHP's language alone: `php()` wraps it in HTML with @lezer/common's parseMixed, which (a
  // module the first chunk holds) would grow the first chunk; text outside <?php is plain.
  php: () => import('@codemirror/lang-php').then(({ phpLanguage }) => phpLanguage.extension),
  sql: () => import('@codemirror/lang-sql').then((m) => m.sql({ dialect: m.StandardSQL })),
  sqlite: () => import('@codemirror/lang-sql').then((m) => m.sql({ dialect: m.SQLite })),
  // Legacy modes (@codemirror/legacy-modes), for languages without a package.
  shell: legacy(() => import('@codemirror/legacy-modes/mode/shell'), (m) => m.shell),
  perl: legacy(() => import('@codemirror/legacy-modes/mode/perl'), (m) => m.perl),
  ruby: legacy(() => import('@codemirror/legacy-modes/mode/ruby'), (m) => m.ruby),
  lua: legacy(() => import('@codemirror/legacy-modes/mode/lua'), (m) => m.lua),
  haskell: legacy(() => import('@codemirror/legacy-modes/mode/haskell'), (m) => m.haskell),
  r: legacy(() => import('@codemirror/legacy-modes/mode/r'), (m) => m.r),
  csharp: legacy(() => import('@codemirror/legacy-modes/mode/clike'), (m) => m.csharp),
  kotlin: legacy(() => import('@codemirror/legacy-modes/mode/clike'), (m) => m.kotlin),
  scala: legacy(() => import('@codemirror/legacy-modes/mode/clike'), (m) => m.scala),
  dart: legacy(() => import('@codemirror/legacy-modes/mode/clike'), (m) => m.dart),
  objectivec: legacy(() => import('@codemirror/legacy-modes/mode/clike'), (m) => m.objectiveC),
  fortran: legacy(() => import('@codemirror/legacy-modes/mode/fortran'), (m) => m.fortran),
  pascal: legacy(() => import('@codemirror/legacy-modes/mode/pascal'), (m) => m.pascal),
  ocaml: legacy(() => import('@codemirror/legacy-modes/mode/mllike'), (m) => m.oCaml),
  fsharp: legacy(() => import('@codemirror/legacy-modes/mode/mllike'), (m) => m.fSharp),
  sml: legacy(() => import('@codemirror/legacy-modes/mode/mllike'), (m) => m.sml),
  d: legacy(() => import('@codemirror/legacy-modes/mode/d'), (m) => m.d),
  scheme: legacy(() => import('@codemirror/legacy-modes/mode/scheme'), (m) => m.scheme),
  commonlisp: legacy(() => import('@codemirror/legacy-modes/mode/commonlisp'), (m) => m.commonLisp),
  clojure: legacy(() => import('@codemirror/legacy-modes/mode/clojure'), (m) => m.clojure),
  tcl: legacy(() => import('@codemirror/legacy-modes/mode/tcl'), (m) => m.tcl),
  erlang: legacy(() => import('@codemirror/legacy-modes/mode/erlang'), (m) => m.erlang),
  cobol: legacy(() => import('@codemirror/legacy-modes/mode/cobol'), (m) => m.cobol),
  octave: legacy(() => import('@codemirror/legacy-modes/mode/octave'), (m) => m.octave),
  groovy: legacy(() => import('@codemirror/legacy-modes/mode/groovy'), (m) => m.groovy),
  julia: legacy(() => import('@codemirror/legacy-modes/mode/julia'), (m) => m.julia),
  swift: legacy(() => import('@codemirror/legacy-modes/mode/swift'), (m) => m.swift),
  crystal: legacy(() => import('@codemirror/legacy-modes/mode/crystal'), (m) => m.crystal),
  elm: legacy(() => import('@codemirror/legacy-modes/mode/elm'), (m) => m.elm),
  vb: legacy(() => import('@codemirror/legacy-modes/mode/vb'), (m) => m.vb),
  powershell: legacy(() => import('@codemirror/legacy-modes/mode/powershell'), (m) => m.powerShell),
  smalltalk: legacy(() => import('@codemirror/legacy-modes/mode/smalltalk'), (m) => m.smalltalk),
  forth: legacy(() => import('@codemirror/legacy-modes/mode/forth'), (m) => m.forth),
  brainfuck: legacy(() => import('@codemirror/legacy-modes/mode/brainfuck'), (m) => m.brainfuck),
  coffeescript: legacy(() => import('@codemirror/legacy-modes/mode/coffeescript'), (m) => m.coffeeScript),
  haxe: legacy(() => import('@codemirror/legacy-modes/mode/haxe'), (m) => m.haxe),
  gas: legacy(() => import('@codemirror/legacy-modes/mode/gas'), (m) => m.gas),
  z80: legacy(() => import('@codemirror/legacy-modes/mode/z80'), (m) => m.z80),
};

/** The extension of mode `name`: null for none (plain text) or a name this table lacks. */
export async function loadMode(name) {
  const load = name && Object.hasOwn(MODES, name) ? MODES[name] : null;
  return load ? load() : null;
}
