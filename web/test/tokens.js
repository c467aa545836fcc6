// For the page's tests (tests/browser/highlight.test.js), in node without a browser: the
// tokens a mode of the page's table (`src/modes.js`) highlights in a text. Here, inside the
// web package, so that CodeMirror resolves to the same modules the page bundles.
import { EditorState } from '@codemirror/state';
import { ensureSyntaxTree } from '@codemirror/language';
import { highlightTree, classHighlighter } from '@lezer/highlight';
import { MODES, loadMode } from '../src/modes.js';

export { MODES };

/** How long the parser may take over one example (ms); a hello world takes far less. */
const PARSE_MS = 5_000;

/** `[{ text, classes }]` of each highlighted token of `text` in `mode`; null when the page has no such mode. */
export async function tokens(mode, text) {
  const extension = await loadMode(mode);
  if (!extension) return null;
  const state = EditorState.create({ doc: text, extensions: [extension] });
  const tree = ensureSyntaxTree(state, state.doc.length, PARSE_MS);
  if (!tree) throw new Error(`${mode}: no syntax tree within ${PARSE_MS} ms`);
  const out = [];
  highlightTree(tree, classHighlighter, (from, to, classes) => out.push({ text: state.doc.sliceString(from, to), classes }));
  return out;
}
