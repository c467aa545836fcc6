// The classroom page: wires the editor, the console, runs, exercises and share links.
import './style.css';
import * as api from './api.js';
import * as auth from './auth.js';
import { t, locale, setLocale, applyStatic, onLocaleChange } from './i18n.js';
import { prefs, loadCode, saveCode } from './storage.js';
import { initTheme, toggleTheme, isDark } from './theme.js';
import { Editor, NARROW } from './editor.js';
import { Console, measure } from './console.js';
import { RunController } from './run.js';
import { describeRefusal } from './status.js';
import { renderExercise, renderResults } from './exercises.js';
import { share, copyLink, sharedId } from './share.js';
import { findHint, renderHint } from './hints.js';
import * as classroom from './classroom.js';

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
  hint: $('hint'),
};

/** Languages this page falls back to, in order, when nothing was chosen before. */
const PREFERRED_LANGUAGES = ['python', 'javascript', 'c'];

const state = {
  runtimes: new Map(),
  language: null,
  exercise: null,
  /** The last graded result, shown again after a locale switch. */
  lastResult: null,
  /** Whether the last graded result was stored for the teacher, and late (classroom.js). */
  savedNote: null,
  /** The runtimes are loaded: the page has started. */
  started: false,
  /** The server refused the page for want of a key (the key dialog is its way in). */
  needsKey: false,
  /** The beginner's hint shown for the last failed run, if any. */
  hint: null,
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
  onEnd: ({ failed, stopped, stderr }) => {
    if (failed && !stopped) showHint(findHint(currentRuntime()?.hints, { stderr, code: editor.code }));
  },
});

function showHint(hint) {
  state.hint = hint;
  renderHint(ui.hint, hint);
}

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
  // An untouched example or starter follows the page's language; the student's code stays.
  const runtime = currentRuntime();
  if (runtime && untouchedTexts(runtime).includes(editor.code)) {
    editor.setCode(state.exercise ? starterOf(state.exercise, runtime.language) : exampleOf(runtime));
  }
  updateToggles();
  fillLanguages();
  showStatus(state.status);
  if (state.exercise) renderExercise(state.exercise, { title: ui.exerciseTitle, statement: ui.exerciseStatement });
  if (state.lastResult) {
    renderResults(ui.results, state.lastResult, currentRuntime()?.file);
    classroom.renderSaved(ui.results, state.savedNote);
  }
  classroom.relabel();
  renderHint(ui.hint, state.hint);
  const empty = document.querySelector('.console-empty');
  if (empty) empty.textContent = t('console.empty');
});

function currentRuntime() {
  return state.runtimes.get(state.language) || null;
}

/** The page's language as the runtime files and exercises name it. */
const FILE_LOCALE = { en: 'en', zh: 'zh-CN' };

/** The friendly first program of a language in the page's language (`lang`): the interactive
 * example when it has one. */
function exampleOf(runtime, lang = locale()) {
  const example = runtime?.example || {};
  const localized = example.localized?.[FILE_LOCALE[lang]] || {};
  return (localized.interactive || example.interactive || localized.hello || example.hello || '').replace(/^\n+/, '');
}

/** An exercise's starter code for `language`, with its comments in the page's language. */
function starterOf(exercise, language, lang = locale()) {
  return (lang === 'zh' && exercise.starter_zh?.[language]) || exercise.starter?.[language] || '';
}

/** What the editor holds before the student wrote anything: the starter or example, in any
 * of the page's languages. */
function untouchedTexts(runtime) {
  const exercise = state.exercise;
  return ['en', 'zh'].map((lang) => (exercise ? starterOf(exercise, runtime.language, lang) : exampleOf(runtime, lang)));
}

/** Whether `language` is one a solution of the open exercise may be written in. */
function accepted(language) {
  const exercise = state.exercise;
  return !exercise || exercise.any_language || (exercise.languages || []).includes(language);
}

function fillLanguages() {
  const options = [...state.runtimes.values()].map((r) => {
    const option = document.createElement('option');
    option.value = r.language;
    const name = r.version ? `${r.display_name} ${r.version}` : r.display_name;
    option.textContent = r.installed ? name : t('lang.notInstalled', { name: r.display_name });
    option.disabled = !r.installed || !accepted(r.language);
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
      ? loadCode(language, exercise.id) ?? starterOf(exercise, language)
      : loadCode(language) ?? exampleOf(runtime));
  editor.setCode(text);
  editor.showErrorLine(null);
  showHint(null);
  ui.run.disabled = state.busy;
  ui.share.disabled = false;
  await editor.setMode(runtime.highlight || null);
}

/** On a phone the console is below the editor: bring it into view when there is news, just
 * below the top bar, which stays on screen (sticky) with the Run and Run tests buttons. */
const stacked = window.matchMedia(NARROW);
function revealConsole() {
  if (!stacked.matches) return;
  const pane = document.querySelector('.console-pane');
  const bar = document.querySelector('.topbar').getBoundingClientRect().height;
  window.scrollTo({ top: window.scrollY + pane.getBoundingClientRect().top - bar - 8 });
}

/** On a phone "Run tests" sits in the top bar beside Run (both stay reachable); on a wide
 * screen, in the exercise's heading. */
function placeSubmit() {
  if (stacked.matches) ui.run.after(ui.submit);
  else document.querySelector('.exercise-actions').prepend(ui.submit);
  ui.submit.hidden = stacked.matches && !state.exercise;
}
stacked.addEventListener('change', placeSubmit);

function run() {
  const runtime = currentRuntime();
  if (!runtime || runner.running) return;
  ui.results.hidden = true;
  state.lastResult = null;
  showHint(null);
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
  placeSubmit();
  fillLanguages();
  // The student's language when the exercise takes it, else its first (starter code first).
  const languages = (exercise.languages || []).filter((l) => state.runtimes.get(l)?.installed);
  const language = languages.includes(state.language) || !languages.length ? state.language : languages[0];
  await selectLanguage(language);
  ui.exerciseTitle.setAttribute('tabindex', '-1');
  ui.exerciseTitle.focus();
}

function closeExercise() {
  state.exercise = null;
  state.lastResult = null;
  ui.exercise.hidden = true;
  ui.results.hidden = true;
  placeSubmit();
  fillLanguages();
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
  showHint(null);
  showStatus(() => ({ kind: 'busy', text: t('ex.submitting') }));
  revealConsole();
  try {
    const code = editor.code;
    const result = await api.submit(exercise.id, runtime.language, code);
    state.lastResult = result;
    // A signed-in student's submission is stored: say so (and whether it was late).
    state.savedNote = await classroom.savedNote(result);
    consoleView.reset();
    const where = renderResults(ui.results, result, runtime.file);
    classroom.renderSaved(ui.results, state.savedNote);
    if (where) editor.showErrorLine(where.line);
    if (result.compile && result.compile.status !== 'ok') consoleView.write('stderr', result.compile.stderr);
    showHint(submissionHint(runtime, code, result));
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

/** The hint for a graded submission: its compile error, a test's error, or every test failed. */
function submissionHint(runtime, code, result) {
  const failed = result.compile && result.compile.status !== 'ok' ? result.compile : result.tests.find((t) => t.verdict !== 'accepted' && t.run?.stderr)?.run;
  const allFailed = result.total > 0 && result.passed === 0 && !(result.compile && result.compile.status !== 'ok');
  return findHint(runtime.hints, {
    stderr: failed?.stderr || '',
    code,
    allFailedOutputs: allFailed ? result.tests.filter((t) => t.run).map((t) => t.run.stdout || '') : null,
  });
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
  // The student's own code is not thrown away without asking.
  const code = editor.code;
  if (code.trim() && !untouchedTexts(runtime).includes(code) && !window.confirm(t('reset.confirm'))) return;
  editor.setCode(state.exercise ? starterOf(state.exercise, runtime.language) : exampleOf(runtime));
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
  classroom.showExercises(openExercise, state.runtimes);
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
  state.needsKey = true;
  showStatus(() => ({ kind: 'error', text: t('key.needed') }));
  ui.keyMessage.textContent = message ?? t('key.needed');
  // A student's sign-in dialog open (saying why a sign-in failed) goes first: closing it asks.
  if ($('signin-dialog').open) return;
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
// A student signs in with the personal login code instead of a key.
$('key-signin').addEventListener('click', () => {
  ui.keyDialog.close();
  classroom.askToSignIn();
});
$('signin-dialog').addEventListener('close', () => {
  if (state.needsKey && !auth.hasSession()) askForKey();
});

// ---- the student ----

classroom.initClassroom({
  onChange: (student) => {
    state.savedNote = null;
    if (student && !state.started) {
      if (ui.keyDialog.open) ui.keyDialog.close();
      start();
    }
  },
});
// The server ended a student's session while the page was open.
window.addEventListener('tiderun:signed-out', () => classroom.sessionEnded());

// ---- start ----

async function loadRuntimes() {
  try {
    const list = await api.runtimes();
    state.runtimes = new Map(list.map((r) => [r.language, r]));
  } catch (e) {
    // 401: the key (or sign-in) dialog is open already (`tiderun:key-needed`, `tiderun:signed-out`).
    if (e.status === 401) {
      state.needsKey = true;
      return false;
    }
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
  state.started = true;
  state.needsKey = false;
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
placeSubmit();
showStatus(state.status);
// A class link's key is traded for a session (and leaves the address bar) before anything
// else; a class's join link (`/#join=CODE`) asks the student's name and joins first; a
// school sign-in's return (`/#oidc=CODE`) signs the student in.
async function begin() {
  if (await classroom.returnFromSchool()) return; // signed in: that starts the page
  const linkKey = auth.takeKeyFromAddress();
  const joinCode = auth.takeJoinFromAddress();
  if (linkKey && !(await useKey(linkKey))) return;
  if (joinCode && (await classroom.askToJoin(joinCode))) return; // joining starts the page
  start();
}
begin();
