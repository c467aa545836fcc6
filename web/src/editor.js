// The CodeMirror 6 editor: highlighting in the mode the chosen language's runtime names
// (`modes.js`: each mode is loaded only when first used), light/dark styles, Ctrl/Cmd+Enter
// to run, the highlighted line of an error, and long lines wrapped on a narrow screen (a phone
// scrolls the page, never a line sideways).
import { EditorState, Compartment, StateEffect, StateField } from '@codemirror/state';
import {
  EditorView,
  Decoration,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  drawSelection,
  highlightSpecialChars,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { syntaxHighlighting, indentOnInput, bracketMatching, indentUnit } from '@codemirror/language';
import { lightHighlight, darkHighlight, editorTheme } from './highlight.js';

const setErrorLine = StateEffect.define();
const errorLineDecoration = Decoration.line({ class: 'cm-errorLine', attributes: { 'data-error-line': 'true' } });

/** The line an error names, highlighted until the code changes. */
const errorLineField = StateField.define({
  create: () => Decoration.none,
  update(decorations, tr) {
    for (const effect of tr.effects) {
      if (effect.is(setErrorLine)) {
        const n = effect.value;
        if (n === null || n < 1 || n > tr.state.doc.lines) return Decoration.none;
        return Decoration.set([errorLineDecoration.range(tr.state.doc.line(n).from)]);
      }
    }
    return tr.docChanged ? Decoration.none : decorations.map(tr.changes);
  },
  provide: (field) => EditorView.decorations.from(field),
});

/** Screens on which long lines wrap: the page's stacked (phone) layout, as style.css has it. */
export const NARROW = '(max-width: 820px)';

const lightTheme = syntaxHighlighting(lightHighlight);
const darkTheme = syntaxHighlighting(darkHighlight);

/** The editor. `onRun` is called on Ctrl/Cmd+Enter, `onChange(code)` after each edit. */
export class Editor {
  constructor(parent, { onRun, onChange, label }) {
    this.language = new Compartment();
    this.theme = new Compartment();
    this.attrs = new Compartment();
    this.wrap = new Compartment();
    const narrow = window.matchMedia(NARROW);
    const wrapping = () => (narrow.matches ? EditorView.lineWrapping : []);
    this.loaded = null;
    this.onChange = onChange;
    this.view = new EditorView({
      parent,
      state: EditorState.create({
        doc: '',
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightSpecialChars(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          highlightActiveLine(),
          indentUnit.of('    '),
          keymap.of([
            { key: 'Mod-Enter', run: () => (onRun(), true), preventDefault: true },
            ...defaultKeymap,
            ...historyKeymap,
            indentWithTab,
          ]),
          errorLineField,
          editorTheme,
          this.language.of([]),
          this.theme.of(lightTheme),
          this.attrs.of(EditorView.contentAttributes.of({ 'aria-label': label })),
          this.wrap.of(wrapping()),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) this.onChange?.(this.code);
          }),
        ],
      }),
    });
    narrow.addEventListener('change', () => this.view.dispatch({ effects: this.wrap.reconfigure(wrapping()) }));
  }

  get code() {
    return this.view.state.doc.toString();
  }

  /** Replace the whole text (not an edit of the student's: no change callback). */
  setCode(code) {
    const onChange = this.onChange;
    this.onChange = null;
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: code } });
    this.onChange = onChange;
  }

  /** Highlighting in `mode` (a runtime's `highlight`); none, or a mode the page lacks, is plain
   * text. The editor's `data-mode` says which mode is in effect once it is. */
  async setMode(mode) {
    this.loaded = mode;
    let extension = null;
    try {
      // The table of modes is a chunk of its own too: the page's first chunk stays as small.
      extension = mode ? await import('./modes.js').then((m) => m.loadMode(mode)) : null;
    } catch {
      extension = null;
    }
    // A later choice wins over a mode that arrived late.
    if (this.loaded !== mode) return;
    this.view.dispatch({ effects: this.language.reconfigure(extension || []) });
    this.view.dom.dataset.mode = extension ? mode : '';
  }

  setDark(dark) {
    this.view.dispatch({ effects: this.theme.reconfigure(dark ? darkTheme : lightTheme) });
  }

  setLabel(label) {
    this.view.dispatch({ effects: this.attrs.reconfigure(EditorView.contentAttributes.of({ 'aria-label': label })) });
  }

  /** Highlight line `n` (1-based) and bring it into view; null clears. */
  showErrorLine(n) {
    const effects = [setErrorLine.of(n)];
    if (n !== null && n >= 1 && n <= this.view.state.doc.lines) {
      effects.push(EditorView.scrollIntoView(this.view.state.doc.line(n).from, { y: 'center' }));
    }
    this.view.dispatch({ effects });
  }

  /** Put the cursor on line `n` (and column) and focus the editor. */
  goToLine(n, column = null) {
    const doc = this.view.state.doc;
    if (n < 1 || n > doc.lines) return;
    const line = doc.line(n);
    const pos = Math.min(line.to, line.from + Math.max(0, (column || 1) - 1));
    this.view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    this.view.focus();
  }

  focus() {
    this.view.focus();
  }
}
