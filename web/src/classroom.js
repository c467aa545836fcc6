// The student's side of a class: joining by the class's link (`/#join=CODE`) with a display
// name, the personal login code shown once, signing in again with it, who is signed in (the
// header), "My class" (the published assignments and what the student has done, a tab of the
// exercises dialog) and the note under a graded submission that the teacher now has it.
// The session itself is auth.js's (one slot); everything shown is text, never HTML.
import * as api from './api.js';
import * as auth from './auth.js';
import { t, locale } from './i18n.js';
import { describeRefusal } from './status.js';
import { el, localized, renderList } from './exercises.js';

const $ = (id) => document.getElementById(id);

/** The last `GET /api/v1/classes/me` (for the late note and a locale switch), or null. */
let mine = null;
/** The join waiting for the student's name: `{code, resolve}`, or null. */
let joining = null;
/** What the exercises dialog opens an exercise with, and the runtimes by name. */
let lists = { onOpen: () => {}, runtimes: null };
/** Called after a student signed in, joined or signed out (`student` or null). */
let changed = () => {};

/** A time as the student reads it, in the page's language. */
function when(iso) {
  const format = new Intl.DateTimeFormat(locale() === 'zh' ? 'zh-CN' : 'en', { dateStyle: 'medium', timeStyle: 'short' });
  return format.format(new Date(iso));
}

/** Show a form's message: `kind` busy or error. */
function say(node, text, kind) {
  node.textContent = text;
  node.dataset.kind = kind;
}

// ---- the header ----

/**
 * "Signed in as NAME · CLASS" as spans: the words (`who-words`), the name (`who-name`) and the
 * class (`who-class`), so a phone can show the name over the class, each cut with an ellipsis.
 */
function whoParts(student) {
  const values = { name: student.display_name, class: student.class_name };
  return t('account.who')
    .split(/(\{\w+\})/)
    .filter(Boolean)
    .map((part) => {
      const key = /^\{(\w+)\}$/.exec(part)?.[1];
      return key && key in values ? el('span', { class: `who-${key}`, text: values[key] }) : el('span', { class: 'who-words', text: part });
    });
}

/** "Signed in as NAME · CLASS" and Sign out, or Sign in; the exercises button says My class. */
export function renderAccount() {
  const student = auth.student();
  const who = $('account-who');
  $('account').dataset.signedIn = String(Boolean(student));
  $('signin-button').hidden = Boolean(student);
  who.hidden = !student;
  $('signout').hidden = !student;
  who.replaceChildren(...(student ? whoParts(student) : []));
  who.title = who.textContent;
  $('exercises-button').textContent = t(student ? 'class.button' : 'exercises');
}

// ---- joining ----

/** A refused join or sign-in that any request may meet: the rate limit, a restart, no network. */
function refusal(error) {
  if (error.status === 429) return t('join.tooMany', { seconds: error.retryAfter ?? 5 });
  return describeRefusal(error);
}

/** Why a join was refused, in the student's language where the page knows the case. */
function joinRefusal(error, name) {
  if (error.status === 404) return t('join.unknownCode');
  if (error.status === 409 && /another student/i.test(error.message)) return t('join.nameTaken', { name });
  // The store's roster bound: "at most 300 students of one class".
  const full = error.status === 409 && /^at most (\d+) students of one class/i.exec(error.message);
  if (full) return t('join.classFull', { max: full[1] });
  if (error.status === 400 && /display_name/.test(error.message)) return t('join.badName');
  if ([0, 429, 503, 507].includes(error.status)) return refusal(error);
  return t('join.refused', { message: error.message });
}

/**
 * Ask for the student's name and join the class of `code`. Resolves true once joined (the
 * login code is then on screen), false when the student chose "Not now".
 */
export function askToJoin(code) {
  const dialog = $('join-dialog');
  joining?.resolve(false);
  return new Promise((resolve) => {
    joining = { code, resolve };
    $('join-code-line').textContent = t('join.code', { code });
    $('join-school-link').href = `/api/v1/oidc/start?join=${encodeURIComponent(code)}`;
    say($('join-message'), '', 'idle');
    if (!dialog.open) dialog.showModal();
    $('join-name').focus();
  });
}

async function join(event) {
  event.preventDefault();
  const input = $('join-name');
  const name = input.value.trim();
  if (!joining || !name) return;
  const message = $('join-message');
  const button = $('join-submit');
  button.disabled = true;
  say(message, t('join.joining'), 'busy');
  try {
    const joined = await auth.join(joining.code, name);
    const { resolve } = joining;
    joining = null;
    $('join-dialog').close();
    input.value = '';
    showLoginCode(joined);
    renderAccount();
    changed(auth.student());
    resolve(true);
  } catch (e) {
    say(message, joinRefusal(e, name), 'error');
    input.focus();
    input.select();
  } finally {
    button.disabled = false;
  }
}

/** The personal login code, once, large, with a copy button. */
function showLoginCode(joined) {
  $('code-heading').textContent = t('code.title', { name: joined.display_name, class: joined.class_name });
  $('login-code').textContent = joined.login_code;
  $('code-copy').textContent = t('code.copy');
  $('code-dialog').showModal();
}

async function copyCode() {
  const code = $('login-code').textContent;
  try {
    await navigator.clipboard.writeText(code);
  } catch {
    // No clipboard (an insecure origin): select the code, so Ctrl+C copies it.
    getSelection().selectAllChildren($('login-code'));
    return;
  }
  $('code-copy').textContent = t('code.copied');
}

// ---- signing in ----

/** Ask for the login code; `message` says why (a session that ended). */
export function askToSignIn(message = null) {
  const dialog = $('signin-dialog');
  say($('signin-message'), message ?? '', message ? 'error' : 'idle');
  if (!dialog.open) dialog.showModal();
  $('signin-code').focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = $('signin-code');
  const code = input.value.trim();
  if (!code) return;
  const message = $('signin-message');
  const button = $('signin-submit');
  button.disabled = true;
  say(message, t('signin.checking'), 'busy');
  try {
    await auth.signIn(code);
    input.value = '';
    $('signin-dialog').close();
    renderAccount();
    changed(auth.student());
  } catch (e) {
    say(message, e.status === 401 ? t('signin.unknown') : refusal(e), 'error');
    input.focus();
    input.select();
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  auth.forget();
  mine = null;
  renderAccount();
  changed(null);
}

/** The server ended the student's session (expired, or removed from the class). */
export function sessionEnded() {
  mine = null;
  renderAccount();
  changed(null);
  askToSignIn(t('signin.ended'));
}

// ---- school sign-in ----

/** Why a school sign-in failed, from the reason the server put in the address. */
function schoolRefusal(reason) {
  const known = { no_link: 'oidc.noLink', no_class: 'join.unknownCode', denied: 'oidc.denied', unreachable: 'oidc.unreachable' };
  return t(known[reason] || 'oidc.failed');
}

/**
 * Back from the school's sign-in: trade `#oidc=CODE` for the student's session (true: signed
 * in, the page starts), or say why it failed in the sign-in dialog (false).
 */
export async function returnFromSchool() {
  const code = auth.takeSchoolSignInFromAddress();
  const error = auth.takeSchoolErrorFromAddress();
  if (error) askToSignIn(schoolRefusal(error));
  if (!code) return false;
  try {
    await auth.schoolSignIn(code);
  } catch (e) {
    askToSignIn(e.status === 401 ? t('oidc.failed') : refusal(e));
    return false;
  }
  renderAccount();
  changed(auth.student());
  return true;
}

// ---- My class ----

/** How far the student got with one exercise of an assignment. */
function progress(exercise) {
  if (exercise.done) return { state: 'done', text: t('class.done') };
  if (exercise.best_score !== undefined && exercise.best_score !== null) {
    return { state: 'tried', text: t('class.best', { percent: Math.round(exercise.best_score * 100) }) };
  }
  return { state: 'new', text: t('class.notStarted') };
}

/** The class's published assignments in the teacher's order, each exercise with its progress;
 * clicking one opens it. */
async function renderMyClass(container) {
  container.replaceChildren(el('p', { text: t('ex.loading') }));
  let titles;
  try {
    [mine, titles] = await Promise.all([api.myClass(), api.exercises()]);
  } catch (e) {
    container.replaceChildren(el('p', { class: 'error-text', text: describeRefusal(e) }));
    return;
  }
  const byId = new Map(titles.map((item) => [item.id, item]));
  const parts = [el('p', { class: 'class-name', text: mine.class_name })];
  if (!mine.assignments.length) parts.push(el('p', { class: 'muted', text: t('class.none') }));
  for (const assignment of mine.assignments) {
    const past = assignment.deadline && Date.parse(assignment.deadline) < Date.now();
    const deadline = el('p', {
      class: 'deadline',
      text: assignment.deadline ? t(past ? 'class.overdue' : 'class.due', { date: when(assignment.deadline) }) : t('class.noDeadline'),
    });
    deadline.dataset.past = String(Boolean(past));
    const list = el('ul', { class: 'exercise-items' });
    for (const exercise of assignment.exercises) {
      const item = byId.get(exercise.id);
      const shown = progress(exercise);
      const state = el('span', { class: 'exercise-progress', text: shown.text });
      state.dataset.state = shown.state;
      const button = el(
        'button',
        { type: 'button', class: 'exercise-item' },
        el('span', { class: 'exercise-item-title', text: item ? localized(item, 'title') : exercise.id }),
        state,
      );
      button.dataset.exercise = exercise.id;
      button.dataset.done = String(exercise.done);
      button.addEventListener('click', () => lists.onOpen(exercise.id));
      list.append(el('li', {}, button));
    }
    parts.push(el('section', { class: 'assignment' }, el('h3', { text: assignment.title }), deadline, list));
  }
  container.replaceChildren(...parts);
  container.querySelector('button')?.focus();
}

/** The exercises dialog's title follows what it shows: My class, or the exercises. */
function titleDialog() {
  $('exercises-heading').textContent = t($('my-class').hidden ? 'ex.title' : 'class.tab');
}

/** Show one tab of the exercises dialog: `class` (My class) or `all`. */
function selectTab(which) {
  const tabs = { class: [$('tab-class'), $('my-class')], all: [$('tab-all'), $('exercise-list')] };
  for (const [name, [tab, panel]] of Object.entries(tabs)) {
    tab.setAttribute('aria-selected', String(name === which));
    panel.hidden = name !== which;
  }
  titleDialog();
  if (which === 'class') renderMyClass($('my-class'));
  else renderList($('exercise-list'), lists.onOpen, lists.runtimes);
}

/** Fill the open exercises dialog: a signed-in student sees My class first, and a tab with
 * every exercise; anyone else the list. */
export function showExercises(onOpen, runtimes) {
  lists = { onOpen, runtimes };
  const student = Boolean(auth.student());
  $('class-tabs').hidden = !student;
  if (student) selectTab('class');
  else {
    $('my-class').hidden = true;
    $('exercise-list').hidden = false;
    titleDialog();
    renderList($('exercise-list'), onOpen, runtimes);
  }
}

// ---- a stored submission ----

/**
 * What became of a graded submission: `{late, deadline}` when the server stored it for the
 * teacher (a signed-in student's: the answer's `stored`, which says whether it was late), null
 * otherwise. The deadline shown is the one of the assignment it counts for.
 */
export async function savedNote(result) {
  const stored = result && result.stored;
  if (!stored) return null;
  try {
    mine = await api.myClass();
  } catch {
    // The last one known names the deadline; the server has said late or not.
  }
  const assignment = (mine?.assignments || []).find((a) => a.id === stored.assignment_id);
  return { late: Boolean(stored.late), deadline: assignment?.deadline || null };
}

/** The note under the score: saved for the teacher, or saved and late. */
export function renderSaved(results, note) {
  if (!note) return;
  const text = note.late ? t('class.savedLate', { date: when(note.deadline) }) : t('class.saved');
  const p = el('p', { class: 'saved-note', text });
  p.dataset.late = String(note.late);
  const score = results.querySelector('.score');
  if (score) score.after(p);
  else results.prepend(p);
}

/** Words built in code, again in the new language. */
export function relabel() {
  renderAccount();
  if (joining) $('join-code-line').textContent = t('join.code', { code: joining.code });
  titleDialog();
  if ($('exercises-dialog').open && !$('my-class').hidden) renderMyClass($('my-class'));
}

/** Wire the dialogs and the header; `onChange(student or null)` after a sign-in, join or
 * sign-out. */
export function initClassroom({ onChange }) {
  changed = onChange;
  $('join-form').addEventListener('submit', join);
  $('join-dialog').addEventListener('close', () => {
    const pending = joining;
    joining = null;
    pending?.resolve(false);
  });
  $('code-copy').addEventListener('click', copyCode);
  $('signin-form').addEventListener('submit', signIn);
  $('signin-button').addEventListener('click', () => askToSignIn());
  $('signout').addEventListener('click', signOut);
  $('tab-class').addEventListener('click', () => selectTab('class'));
  $('tab-all').addEventListener('click', () => selectTab('all'));
  renderAccount();
  auth.schoolSignInOffered().then((offered) => {
    $('join-school').hidden = !offered;
    $('signin-school').hidden = !offered;
  });
}
