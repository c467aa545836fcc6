// The classroom page: wires the editor, the console, runs, exercises and share links.
import './style.css';
import * as api from './api.js';
import * as auth from './auth.js';
import { t, locale, setLocale, applyStatic, onLocaleChange } from './i18n.js';
import { prefs, loadCode, saveCode } from './storage.js';
import { initTheme, toggleTheme, isDark } from './theme.js';
import { Editor } from './editor.js';
import { Console, measure } from './console.js';
import { RunController } from './run.js';
import { describeRefusal } from './status.js';
import { renderExercise, renderList, renderResults } from './exercises.js';
import { share, copyLink, sharedId } from './share.js';

const $ = (id) => document.getElementById(id);
const ui = {
  language: $('language'),
  run: $('run'),
  stop: $('stop'),
  share: $('share'),
  theme: $('theme'),
  locale: $('locale'),
  stdin: $('stdin'),
  send: $('send'),
  eof: $('eof'),
  inputRow: $('input-row'),
  clear: $('clear'),
  reset: $('reset'),
  results: $('results'),
  exercisesButton: $('exercises-button'),
  exercisesDialog: $('exercises-dialog'),
  exerciseList: $('exercise-list'),
  exercise: $('exercise'),
  exerciseTitle: $('exercise-title'),
  exerciseStatement: $('exercise-statement'),
  submit: $('submit'),
  exerciseClose: $('exercise-close'),
  shareDialog: $('share-dialog'),
  shareCopy: $('share-copy'),
  keyDialog: $('key-dialog'),
  keyForm: $('key-form'),
  keyInput: $('key-input'),
  keyMessage: $('key-message'),
};

/** Languages this page falls back to, in order, when nothing was chosen before. */
const PREFERRED_LANGUAGES = ['python', 'javascript', 'c'];

const state = {
  runtimes: new Map(),
  language: null,
  exercise: null,
  /** The last graded result, shown again after a locale switch. */
  lastResult: null,
  /** The current status as a function, so a locale switch can word it again. */
  status: () => ({ kind: 'idle', text: t('status.idle') }),
  busy: false,
};

applyStatic();
const consoleView = new Console({ output: $('output'), status: $('status') });
const editor = new Editor($('editor'), {
  label: t('editor.label'),
  onRun: () => run(),
  onChange: (code) => {
    if (state.language) saveCode(state.language, code, state.exercise?.id);
  },
});

function showStatus(fn) {
  state.status = fn;
  const s = fn();
  consoleView.setStatus({ ...s, onLine: (line) => editor.goToLine(line.line, line.column) });
}

const runner = new RunController({
  view: consoleView,
  editor,
  status: showStatus,
  state: (running, acceptsInput) => {
    state.busy = running;
    ui.run.disabled = running || !state.language;
    ui.submit.disabled = running;
    ui.stop.disabled = !running;
    ui.language.disabled = running;
    ui.stdin.disabled = !acceptsInput;
    ui.send.disabled = !acceptsInput;
    ui.eof.disabled = !acceptsInput;
    ui.stdin.placeholder = t(acceptsInput ? 'input.placeholder' : 'input.placeholderIdle');
    if (!acceptsInput && document.activeElement === ui.stdin) editor.focus();
  },
});

function updateToggles() {
  ui.locale.textContent = t('locale.switch');
  ui.locale.lang = locale() === 'zh' ? 'en' : 'zh-CN';
  ui.theme.querySelector('.theme-label').textContent = t(isDark() ? 'theme.toLight' : 'theme.toDark');
  ui.theme.querySelector('.theme-icon').textContent = isDark() ? '☀' : '☾';
  ui.theme.setAttribute('aria-pressed', String(isDark()));
  ui.stdin.placeholder = t(ui.stdin.disabled ? 'input.placeholderIdle' : 'input.placeholder');
}

initTheme((dark) => {
  editor.setDark(dark);
  updateToggles();
});

onLocaleChange(() => {
  editor.setLabel(t('editor.label'));
  updateToggles();
  fillLanguages();
  showStatus(state.status);
  if (state.exercise) renderExercise(state.exercise, { title: ui.exerciseTitle, statement: ui.exerciseStatement });
  if (state.lastResult) renderResults(ui.results, state.lastResult, currentRuntime()?.file);
  const empty = document.querySelector('.console-empty');
  if (empty) empty.textContent = t('console.empty');
});

function currentRuntime() {
  return state.runtimes.get(state.language) || null;
}

/** The friendly first program of a language: the interactive example when it has one. */
function exampleOf(runtime) {
  const example = runtime?.example || {};
  return (example.interactive || example.hello || '').replace(/^\n+/, '');
}

function fillLanguages() {
  const options = [...state.runtimes.values()].map((r) => {
    const option = document.createElement('option');
    option.value = r.language;
    const name = r.version ? `${r.display_name} ${r.version}` : r.display_name;
    option.textContent = r.installed ? name : t('lang.notInstalled', { name: r.display_name });
    option.disabled = !r.installed;
    return option;
  });
  ui.language.replaceChildren(...options);
  if (state.language) ui.language.value = state.language;
}

/** Switch the editor to `language` with `code` (else the saved code, the starter or the example). */
async function selectLanguage(language, code = null) {
  const runtime = state.runtimes.get(language);
  if (!runtime) return;
  state.language = language;
  ui.language.value = language;
  if (!state.exercise) prefs.set('language', language);
  const exercise = state.exercise;
  const text =
    code ??
    (exercise
      ? loadCode(language, exercise.id) ?? exercise.starter?.[language] ?? ''
      : loadCode(language) ?? exampleOf(runtime));
  editor.setCode(text);
  editor.showErrorLine(null);
  ui.run.disabled = state.busy;
  ui.share.disabled = false;
  await editor.setMode(runtime.highlight || null);
}

/** On a phone the console is below the editor: bring it into view when there is news. */
const stacked = window.matchMedia('(max-width: 820px)');
function revealConsole() {
  if (stacked.matches) document.querySelector('.console-pane').scrollIntoView({ block: 'start' });
}

function run() {
  const runtime = currentRuntime();
  if (!runtime || runner.running) return;
  ui.results.hidden = true;
  state.lastResult = null;
  runner.start(runtime, editor.code);
  revealConsole();
}

// ---- exercises ----

async function openExercise(id) {
  let exercise;
  try {
    exercise = await api.exercise(id);
  } catch (e) {
    showStatus(() => ({ kind: 'error', text: e.status === 404 ? t('ex.notFound') : describeRefusal(e) }));
    return;
  }
  if (ui.exercisesDialog.open) ui.exercisesDialog.close();
  state.exercise = exercise;
  state.lastResult = null;
  ui.results.hidden = true;
  renderExercise(exercise, { title: ui.exerciseTitle, statement: ui.exerciseStatement });
  ui.exercise.hidden = false;
  history.replaceState(null, '', `/?exercise=${encodeURIComponent(exercise.id)}`);
  const starters = Object.keys(exercise.starter || {}).filter((l) => state.runtimes.get(l)?.installed);
  const language = starters.includes(state.language) || !starters.length ? state.language : starters[0];
  await selectLanguage(language);
  ui.exerciseTitle.setAttribute('tabindex', '-1');
  ui.exerciseTitle.focus();
}

function closeExercise() {
  state.exercise = null;
  state.lastResult = null;
  ui.exercise.hidden = true;
  ui.results.hidden = true;
  history.replaceState(null, '', '/');
  selectLanguage(state.language);
  editor.focus();
}

async function submitExercise() {
  const exercise = state.exercise;
  const runtime = currentRuntime();
  if (!exercise || !runtime || runner.running) return;
  ui.submit.disabled = true;
  ui.run.disabled = true;
  editor.showErrorLine(null);
  showStatus(() => ({ kind: 'busy', text: t('ex.submitting') }));
  revealConsole();
  try {
    const result = await api.submit(exercise.id, runtime.language, editor.code);
    state.lastResult = result;
    consoleView.reset();
    const where = renderResults(ui.results, result, runtime.file);
    if (where) editor.showErrorLine(where.line);
    if (result.compile && result.compile.status !== 'ok') consoleView.write('stderr', result.compile.stderr);
    const all = result.total > 0 && result.passed === result.total;
    showStatus(() => ({
      kind: all ? 'ok' : 'error',
      text: t('ex.score', { passed: result.passed, total: result.total }),
      measure: measure(result.compile && result.compile.status !== 'ok' ? result.compile : null),
      line: where,
    }));
  } catch (e) {
    showStatus(() => ({ kind: 'error', text: describeRefusal(e) }));
  } finally {
    ui.submit.disabled = false;
    ui.run.disabled = false;
  }
}

// ---- events ----

// The run's socket is opened as the button goes down; the click (on release) uses it.
ui.run.addEventListener('pointerdown', (event) => {
  if (event.button === 0 && !ui.run.disabled && !runner.running) api.openSocketAhead();
});
ui.run.addEventListener('click', run);
ui.stop.addEventListener('click', () => runner.stop());
ui.language.addEventListener('change', () => selectLanguage(ui.language.value));
ui.inputRow.addEventListener('submit', (event) => {
  event.preventDefault();
  if (ui.stdin.disabled) return;
  runner.send(ui.stdin.value);
  ui.stdin.value = '';
});
ui.stdin.addEventListener('keydown', (event) => {
  // Ctrl+D on an empty line ends the input, as on a terminal.
  if (event.key === 'd' && event.ctrlKey && !ui.stdin.value) {
    event.preventDefault();
    runner.eof();
  }
});
ui.eof.addEventListener('click', () => runner.eof());
ui.clear.addEventListener('click', () => consoleView.clear());
ui.reset.addEventListener('click', () => {
  const runtime = currentRuntime();
  if (!runtime) return;
  editor.setCode(state.exercise?.starter?.[runtime.language] ?? exampleOf(runtime));
  saveCode(runtime.language, editor.code, state.exercise?.id);
  editor.focus();
});
ui.theme.addEventListener('click', () =>
  toggleTheme((dark) => {
    editor.setDark(dark);
    updateToggles();
  }),
);
ui.locale.addEventListener('click', () => setLocale(locale() === 'zh' ? 'en' : 'zh'));
ui.share.addEventListener('click', () => {
  if (state.language) share(ui.shareDialog, state.language, editor.code);
});
ui.shareCopy.addEventListener('click', () => copyLink(ui.shareDialog));
ui.exercisesButton.addEventListener('click', () => {
  ui.exercisesDialog.showModal();
  renderList(ui.exerciseList, openExercise);
});
ui.submit.addEventListener('click', submitExercise);
ui.exerciseClose.addEventListener('click', closeExercise);

// Ctrl/Cmd+Enter runs from anywhere on the page (before the editor turns it into a newline).
window.addEventListener(
  'keydown',
  (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !document.querySelector('dialog[open]')) {
      event.preventDefault();
      event.stopPropagation();
      run();
    }
  },
  true,
);

// ---- the class key ----

/** Ask for the class key: the server refused the page without one (or its session ended). */
function askForKey(message = null) {
  auth.forget();
  showStatus(() => ({ kind: 'error', text: t('key.needed') }));
  ui.keyMessage.textContent = message ?? t('key.needed');
  if (!ui.keyDialog.open) ui.keyDialog.showModal();
  ui.keyInput.focus();
}

/** Trade `key` for a page session; false (and the dialog asks again) when it is refused. */
async function useKey(key) {
  showStatus(() => ({ kind: 'busy', text: t('key.checking') }));
  try {
    await auth.exchange(key);
    return true;
  } catch (e) {
    askForKey(e.status === 0 ? t('status.unreachable') : t('key.refused', { message: e.message }));
    return false;
  }
}

ui.keyForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = ui.keyInput.value.trim();
  if (!key) return;
  ui.keyInput.value = '';
  if (await useKey(key)) {
    ui.keyDialog.close();
    start();
  }
});
// A request refused for want of a key (a session that ended while the page was open).
window.addEventListener('tiderun:key-needed', (event) => askForKey(event.detail));
// The page is of no use without a key: Esc does not close the question.
ui.keyDialog.addEventListener('cancel', (event) => event.preventDefault());

// ---- start ----

async function loadRuntimes() {
  try {
    const list = await api.runtimes();
    state.runtimes = new Map(list.map((r) => [r.language, r]));
  } catch (e) {
    // 401: the key dialog is open already (`tiderun:key-needed`).
    if (e.status === 401) return false;
    showStatus(() => ({ kind: 'error', text: describeRefusal(e) }));
    setTimeout(start, 1000 * (e.retryAfter || 5));
    return false;
  }
  return true;
}

function firstLanguage() {
  const installed = [...state.runtimes.values()].filter((r) => r.installed).map((r) => r.language);
  const saved = prefs.get('language');
  if (installed.includes(saved)) return saved;
  return PREFERRED_LANGUAGES.find((l) => installed.includes(l)) || installed[0] || null;
}

async function start() {
  if (!(await loadRuntimes())) return;
  fillLanguages();
  ui.language.disabled = false;
  showStatus(() => ({ kind: 'idle', text: t('status.idle') }));
  const id = sharedId();
  const exerciseId = new URLSearchParams(location.search).get('exercise');
  if (id) {
    try {
      const snippet = await api.getSnippet(id);
      const language = state.runtimes.has(snippet.language) ? snippet.language : firstLanguage();
      await selectLanguage(language, snippet.code);
      showStatus(() => ({ kind: 'idle', text: t('share.loaded') }));
      return;
    } catch (e) {
      showStatus(() => ({ kind: 'error', text: e.status === 404 ? t('share.notFound') : describeRefusal(e) }));
    }
  }
  await selectLanguage(firstLanguage());
  if (exerciseId) await openExercise(exerciseId);
}

updateToggles();
showStatus(state.status);
// A class link's key is traded for a session (and leaves the address bar) before anything else.
const linkKey = auth.takeKeyFromAddress();
if (linkKey) useKey(linkKey).then((ok) => ok && start());
else start();
