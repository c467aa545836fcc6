// The teacher's page (/teacher): sign in with a teacher key (traded for a page session by
// ../auth.js), then classes with their join code and link, the roster, assignments and the
// gradebook, and the exercises the teacher adds. Everything comes from teacher-only API
// calls; the page itself holds no data.
import '../style.css';
import '../console/console.css';
import './teacher.css';
import { t, locale, setLocale, applyStatic, onLocaleChange, addStrings } from '../i18n.js';
import { initTheme, toggleTheme, isDark } from '../theme.js';
import { exchange, forget, hasSession, takeKeyFromAddress } from '../auth.js';
import { STRINGS } from './strings.js';
import { get, call, whenRefused } from './api.js';
import { el } from './dom.js';
import * as gradebook from './gradebook.js';
import * as assignments from './assignments.js';
import * as roster from './roster.js';
import * as exercises from './exercises.js';

addStrings(STRINGS);

/** How long "Copied" (or "new code") stays beside the buttons. */
const COPIED_MS = 2500;

/** The class shown last in this tab (shown again after a reload). */
const CLASS_KEY = 'tiderun.teacher.class';

const $ = (id) => document.getElementById(id);
const ui = {
  login: $('login'),
  loginForm: $('login-form'),
  key: $('key'),
  loginError: $('login-error'),
  app: $('app'),
  signOut: $('sign-out'),
  theme: $('theme'),
  locale: $('locale'),
  classList: $('class-list'),
  classesMessage: $('classes-message'),
  classForm: $('class-form'),
  className: $('class-name'),
  classError: $('class-error'),
  classView: $('class-view'),
  classTitle: $('class-title'),
  joinCode: $('join-code'),
  joinLink: $('join-link'),
  joinMessage: $('join-message'),
  copyLink: $('copy-link'),
  rotate: $('rotate-code'),
  tabs: [...document.querySelectorAll('[role=tab]')],
};

const state = {
  classes: null,
  current: null,
  tab: 'gradebook',
};

function labelPrefs() {
  ui.locale.textContent = t('locale.switch');
  ui.locale.lang = locale() === 'zh' ? 'en' : 'zh-CN';
  ui.theme.querySelector('.theme-label').textContent = t(isDark() ? 'theme.toLight' : 'theme.toDark');
  ui.theme.querySelector('.theme-icon').textContent = isDark() ? '☀' : '☾';
  ui.theme.setAttribute('aria-pressed', String(isDark()));
}

/** Forget the session and go back to the key form, with why. */
function signOut(message = '') {
  forget();
  showLogin(message);
}

/** The key form, with why. */
function showLogin(message = '') {
  state.classes = null;
  state.current = null;
  ui.app.hidden = true;
  ui.signOut.hidden = true;
  ui.login.hidden = false;
  ui.loginError.textContent = message;
  ui.key.value = '';
  ui.key.focus();
}

/** A refusal of the session in the page's words. */
function refusal(status, message) {
  if (status === 401) return t('tch.expired');
  if (status === 403) return t('tch.notTeacher', { message });
  return message;
}

async function signIn(key) {
  ui.loginError.textContent = '';
  try {
    const session = await exchange(key);
    if (session.role !== 'teacher') {
      signOut(t('tch.notTeacherKey', { key: session.key, role: session.role }));
      return;
    }
  } catch (e) {
    signOut(e.status === 401 ? t('tch.badKey', { message: e.message }) : e.status === 0 ? t('tch.unreachable') : e.message);
    return;
  }
  await openApp();
}

async function openApp() {
  const r = await get('/api/v1/classes');
  if (!r.ok) {
    // A session of another role (the classroom page's, in this tab) is left to its page.
    if (r.status === 403) showLogin(refusal(r.status, r.message));
    else signOut(refusal(r.status, r.message));
    return;
  }
  ui.login.hidden = true;
  ui.app.hidden = false;
  ui.signOut.hidden = false;
  state.classes = r.body;
  // The exercises' titles first: the gradebook and the assignments name them.
  await assignments.loadExercises();
  renderClasses();
  let wanted = null;
  try {
    wanted = sessionStorage.getItem(CLASS_KEY);
  } catch {
    // No storage: the first class.
  }
  const first = state.classes.find((c) => c.id === wanted) || state.classes[0];
  if (first) openClass(first);
  else ui.classView.hidden = true;
}

function renderClasses() {
  const list = state.classes || [];
  ui.classList.replaceChildren(
    ...list.map((c) =>
      el(
        'li',
        {},
        el('button', {
          type: 'button',
          class: 'class-button',
          'aria-current': state.current?.id === c.id ? 'true' : null,
          'data-class': c.id,
          text: c.name,
          onclick: () => openClass(c),
        }),
      ),
    ),
  );
  ui.classesMessage.textContent = list.length ? '' : t('tch.noClasses');
}

function renderClass() {
  const c = state.current;
  if (!c) return;
  ui.classTitle.textContent = c.name;
  ui.joinCode.textContent = c.join_code;
  ui.joinLink.textContent = joinLink(c);
}

const joinLink = (c) => `${location.origin}/#join=${encodeURIComponent(c.join_code)}`;

function openClass(c) {
  state.current = c;
  try {
    sessionStorage.setItem(CLASS_KEY, c.id);
  } catch {
    // No storage: the first class next time.
  }
  ui.classView.hidden = false;
  ui.joinMessage.textContent = '';
  renderClasses();
  renderClass();
  gradebook.open(c);
  assignments.open(c);
  roster.open(c);
  showTab(state.tab);
}

function showTab(name) {
  state.tab = name;
  for (const tab of ui.tabs) {
    const on = tab.dataset.tab === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute('aria-controls')).hidden = !on;
  }
  if (name === 'gradebook') gradebook.reload();
  if (name === 'roster') roster.reload();
  if (name === 'exercises') exercises.open();
}

ui.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const key = ui.key.value.trim();
  if (key) signIn(key);
});
ui.signOut.addEventListener('click', () => signOut());
ui.classForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = ui.className.value.trim();
  if (!name) return;
  const r = await call('POST', '/api/v1/classes', { name });
  if (!r.ok) {
    ui.classError.textContent = refusal(r.status, r.message);
    return;
  }
  ui.classError.textContent = '';
  ui.className.value = '';
  state.classes = [...(state.classes || []), r.body];
  openClass(r.body);
});
ui.copyLink.addEventListener('click', async () => {
  const text = ui.joinLink.textContent;
  try {
    await navigator.clipboard.writeText(text);
    ui.joinMessage.textContent = t('tch.copied');
  } catch {
    // No clipboard (an insecure origin): select the link for the teacher to copy.
    getSelection().selectAllChildren(ui.joinLink);
    ui.joinMessage.textContent = t('tch.copyByHand');
  }
  setTimeout(() => (ui.joinMessage.textContent = ''), COPIED_MS);
});
ui.rotate.addEventListener('click', async () => {
  const c = state.current;
  if (!c || !confirm(t('tch.rotateConfirm'))) return;
  const r = await call('POST', `/api/v1/classes/${encodeURIComponent(c.id)}/join-code`);
  if (!r.ok) {
    ui.joinMessage.textContent = refusal(r.status, r.message);
    return;
  }
  state.current = r.body;
  state.classes = state.classes.map((x) => (x.id === c.id ? r.body : x));
  renderClass();
  ui.joinMessage.textContent = t('tch.rotated');
  setTimeout(() => (ui.joinMessage.textContent = ''), COPIED_MS);
});
for (const tab of ui.tabs) {
  tab.addEventListener('click', () => showTab(tab.dataset.tab));
  tab.addEventListener('keydown', (e) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (!step) return;
    const i = (ui.tabs.indexOf(tab) + step + ui.tabs.length) % ui.tabs.length;
    ui.tabs[i].focus();
    showTab(ui.tabs[i].dataset.tab);
  });
}
ui.theme.addEventListener('click', () => toggleTheme(() => labelPrefs()));
ui.locale.addEventListener('click', () => setLocale(locale() === 'zh' ? 'en' : 'zh'));
onLocaleChange(() => {
  labelPrefs();
  renderClasses();
  gradebook.render();
  assignments.render();
  roster.render();
  exercises.render();
});
whenRefused((status, message) => signOut(refusal(status, message)));
assignments.onChange(() => gradebook.reload());
roster.onChange(() => gradebook.reload());
// A saved or deleted exercise is in the assignments' picker at once.
exercises.onChange(async () => {
  await assignments.loadExercises();
  exercises.render();
});

initTheme(() => labelPrefs());
applyStatic();
labelPrefs();
const key = takeKeyFromAddress();
if (key) signIn(key);
else if (hasSession()) openApp();
else showLogin();
