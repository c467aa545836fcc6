// The editor's colours. CodeMirror's default and one-dark palettes have tokens below the 4.5:1
// contrast of WCAG AA; these keep every token at 4.5:1 or more on the editor's background
// and on the active line, in both themes.
import { HighlightStyle } from '@codemirror/language';
import { EditorView } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';

function style(c) {
  return HighlightStyle.define([
    { tag: [t.keyword, t.controlKeyword, t.moduleKeyword, t.operatorKeyword, t.definitionKeyword], color: c.keyword },
    { tag: [t.string, t.special(t.string), t.character, t.regexp], color: c.string },
    { tag: [t.number, t.integer, t.float], color: c.number },
    { tag: [t.bool, t.null, t.atom, t.self], color: c.atom },
    { tag: [t.comment, t.lineComment, t.blockComment, t.docComment], color: c.comment, fontStyle: 'italic' },
    { tag: [t.function(t.variableName), t.function(t.definition(t.variableName)), t.function(t.propertyName)], color: c.func },
    { tag: [t.definition(t.variableName), t.definition(t.propertyName)], color: c.definition },
    { tag: [t.typeName, t.className, t.namespace, t.standard(t.typeName)], color: c.type },
    { tag: [t.propertyName, t.attributeName], color: c.property },
    { tag: [t.meta, t.processingInstruction, t.macroName, t.annotation], color: c.meta },
    { tag: t.escape, color: c.number },
    { tag: t.invalid, color: c.invalid },
    { tag: t.strong, fontWeight: 'bold' },
    { tag: t.emphasis, fontStyle: 'italic' },
  ]);
}

/** On #ffffff and the light active line (#eef4fb): every colour 5:1 or more. */
export const lightHighlight = style({
  keyword: '#7a1ea1',
  string: '#a31515',
  number: '#0b6b4d',
  atom: '#0550ae',
  comment: '#5c6673',
  func: '#0550ae',
  definition: '#1b2230',
  type: '#0b6170',
  property: '#8a3a00',
  meta: '#6a3fb5',
  invalid: '#b42318',
});

/** On #1b1f27 and the dark active line (#252b36): every colour 5:1 or more. */
export const darkHighlight = style({
  keyword: '#d7a9ff',
  string: '#f0a883',
  number: '#b9dca6',
  atom: '#8cc8ff',
  comment: '#9aa3b2',
  func: '#8fb8ff',
  definition: '#e7eaf0',
  type: '#5fd4bc',
  property: '#ffb070',
  meta: '#d7a9ff',
  invalid: '#ff8a80',
});

/** The editor's frame, from the page's colour variables (so one theme serves both). */
export const editorTheme = EditorView.theme({
  '&': { color: 'var(--text)', backgroundColor: 'var(--panel)' },
  '.cm-content': { caretColor: 'var(--text)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--text)' },
  '.cm-activeLine': { backgroundColor: 'var(--active-line)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--active-line)', color: 'var(--text)' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, ::selection': {
    backgroundColor: 'var(--selection)',
  },
  '.cm-matchingBracket': { backgroundColor: 'var(--selection)', outline: '1px solid var(--muted)' },
});
