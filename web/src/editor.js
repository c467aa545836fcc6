// The CodeMirror 6 editor: highlighting for the chosen language (each language pack is
// loaded only when first chosen), light/dark styles, Ctrl/Cmd+Enter to run, and the
// highlighted line of an error.
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
import {
  syntaxHighlighting,
  indentOnInput,
  bracketMatching,
  StreamLanguage,
  indentUnit,
} from '@codemirror/language';
import { lightHighlight, darkHighlight, editorTheme } from './highlight.js';

/** Each language's highlighting, loaded on first use (a separate chunk of the bundle). */
const LANGUAGE_PACKS = {
  python: () => import('@codemirror/lang-python').then((m) => m.python()),
  javascript: () => import('@codemirror/lang-javascript').then((m) => m.javascript()),
  typescript: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ typescript: true })),
  c: () => import('@codemirror/lang-cpp').then((m) => m.cpp()),
  'c++': () => import('@codemirror/lang-cpp').then((m) => m.cpp()),
  cpp: () => import('@codemirror/lang-cpp').then((m) => m.cpp()),
  java: () => import('@codemirror/lang-java').then((m) => m.java()),
  rust: () => import('@codemirror/lang-rust').then((m) => m.rust()),
  bash: () => import('@codemirror/legacy-modes/mode/shell').then((m) => StreamLanguage.define(m.shell)),
  perl: () => import('@codemirror/legacy-modes/mode/perl').then((m) => StreamLanguage.define(m.perl)),
};

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

const lightTheme = syntaxHighlighting(lightHighlight);
const darkTheme = syntaxHighlighting(darkHighlight);

/** The editor. `onRun` is called on Ctrl/Cmd+Enter, `onChange(code)` after each edit. */
export class Editor {
  constructor(parent, { onRun, onChange, label }) {
    this.language = new Compartment();
    this.theme = new Compartment();
    this.attrs = new Compartment();
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
          EditorView.updateListener.of((update) => {
            if (update.docChanged) this.onChange?.(this.code);
          }),
        ],
      }),
    });
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

  /** Highlighting for `language`; unknown languages are plain text. */
  async setLanguage(language) {
    this.loaded = language;
    const pack = LANGUAGE_PACKS[language];
    let extension = [];
    if (pack) {
      try {
        extension = await pack();
      } catch {
        extension = [];
      }
    }
    // A later choice wins over a pack that arrived late.
    if (this.loaded !== language) return;
    this.view.dispatch({ effects: this.language.reconfigure(extension) });
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
