// Assignments: the list (title, exercises, publish time, deadline, state) and the editor
// (create or edit: title, exercises in order from the server's list, publish time, deadline).
import { t } from '../i18n.js';
import { get, call, classPath } from './api.js';
import { el, when, toLocalInput, fromLocalInput } from './dom.js';
import { loadExercises as loadCatalog, allExercises, exerciseTitle } from './catalog.js';

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('assignment-list'),
  message: $('assignments-message'),
  add: $('new-assignment'),
  form: $('assignment-form'),
  formTitle: $('assignment-form-title'),
  title: $('a-title'),
  chosen: $('a-exercises'),
  pick: $('a-pick'),
  addExercise: $('a-add'),
  publish: $('a-publish'),
  deadline: $('a-deadline'),
  error: $('assignment-error'),
  cancel: $('a-cancel'),
};

let current = null;
let list = null;
/** The assignment being edited (null: a new one), and its exercises in order. */
let editing = null;
let chosen = [];
let changed = () => {};

export function onChange(fn) {
  changed = fn;
}

export async function loadExercises() {
  await loadCatalog();
  renderPicker();
}

export async function open(c) {
  current = c;
  list = null;
  closeForm();
  render();
  const r = await get(classPath(c.id, '/assignments'));
  if (c !== current) return;
  list = r.ok ? r.body : { error: r.message };
  render();
}

/** `draft` before its publish time, `closed` after its deadline, else `published`. */
export function stateOf(a, now = Date.now()) {
  if (a.publish_at && Date.parse(a.publish_at) > now) return 'draft';
  if (a.deadline && Date.parse(a.deadline) < now) return 'closed';
  return 'published';
}

export function render() {
  renderPicker();
  renderChosen();
  ui.formTitle.textContent = editing ? t('tch.editAssignment') : t('tch.newAssignment');
  if (!list) {
    ui.list.replaceChildren();
    return;
  }
  if (list.error) {
    ui.message.textContent = t('tch.loadError', { message: list.error });
    return;
  }
  ui.message.textContent = list.length ? '' : t('tch.noAssignments');
  ui.list.replaceChildren(
    ...list.map((a) => {
      const s = stateOf(a);
      return el(
        'li',
        { class: 'assignment', 'data-assignment': a.id },
        el(
          'div',
          { class: 'assignment-head' },
          el('strong', { class: 'assignment-title', text: a.title }),
          el('span', { class: `state state-${s}`, text: t(`tch.state.${s}`) }),
        ),
        el('p', { class: 'small', text: a.exercises.map(exerciseTitle).join(' → ') }),
        el(
          'p',
          { class: 'muted small' },
          a.publish_at ? t('tch.publishes', { at: when(a.publish_at) }) : t('tch.publishedAtOnce'),
          ' · ',
          a.deadline ? t('tch.due', { at: when(a.deadline) }) : t('tch.noDeadline'),
        ),
        el(
          'div',
          { class: 'actions' },
          el('button', { type: 'button', class: 'button small', text: t('tch.edit'), onclick: () => openForm(a) }),
          el('button', { type: 'button', class: 'button quiet small', text: t('tch.delete'), onclick: () => remove(a) }),
        ),
      );
    }),
  );
}

function renderPicker() {
  const keep = ui.pick.value;
  const options = allExercises()
    .filter((e) => !chosen.includes(e.id))
    .map((e) => el('option', { value: e.id, text: `${exerciseTitle(e.id)} (${e.id})` }));
  ui.pick.replaceChildren(...options);
  if (options.some((o) => o.value === keep)) ui.pick.value = keep;
  ui.addExercise.disabled = options.length === 0;
}

function move(i, step) {
  const j = i + step;
  if (j < 0 || j >= chosen.length) return;
  [chosen[i], chosen[j]] = [chosen[j], chosen[i]];
  renderChosen();
}

function renderChosen() {
  ui.chosen.replaceChildren(
    ...chosen.map((id, i) => {
      const name = exerciseTitle(id);
      return el(
        'li',
        { 'data-exercise': id },
        el('span', { class: 'chosen-name', text: name }),
        el('button', { type: 'button', class: 'button quiet small', 'aria-label': t('tch.moveUp', { exercise: name }), text: '↑', disabled: i === 0, onclick: () => move(i, -1) }),
        el('button', { type: 'button', class: 'button quiet small', 'aria-label': t('tch.moveDown', { exercise: name }), text: '↓', disabled: i === chosen.length - 1, onclick: () => move(i, 1) }),
        el('button', {
          type: 'button',
          class: 'button quiet small',
          'aria-label': t('tch.removeExercise', { exercise: name }),
          text: '✕',
          onclick: () => {
            chosen.splice(i, 1);
            renderChosen();
            renderPicker();
          },
        }),
      );
    }),
  );
  if (!chosen.length) ui.chosen.append(el('li', { class: 'muted small', text: t('tch.noExercisesChosen') }));
}

function openForm(a = null) {
  editing = a;
  chosen = a ? [...a.exercises] : [];
  ui.title.value = a ? a.title : '';
  ui.publish.value = a ? toLocalInput(a.publish_at) : '';
  ui.deadline.value = a ? toLocalInput(a.deadline) : '';
  ui.error.textContent = '';
  ui.form.hidden = false;
  render();
  ui.title.focus();
}

function closeForm() {
  editing = null;
  chosen = [];
  ui.form.hidden = true;
  ui.error.textContent = '';
}

async function remove(a) {
  if (!confirm(t('tch.deleteConfirm', { title: a.title }))) return;
  const r = await call('DELETE', classPath(current.id, `/assignments/${encodeURIComponent(a.id)}`));
  if (!r.ok) {
    ui.message.textContent = t('tch.loadError', { message: r.message });
    return;
  }
  await open(current);
  changed();
}

ui.add.addEventListener('click', () => openForm(null));
ui.cancel.addEventListener('click', () => {
  closeForm();
  render();
});
ui.addExercise.addEventListener('click', () => {
  if (!ui.pick.value) return;
  chosen.push(ui.pick.value);
  renderChosen();
  renderPicker();
});
ui.form.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!chosen.length) {
    ui.error.textContent = t('tch.chooseExercise');
    return;
  }
  const last = Array.isArray(list) ? list.reduce((n, a) => Math.max(n, a.position + 1), 0) : 0;
  const request = {
    title: ui.title.value.trim(),
    exercises: chosen,
    position: editing ? editing.position : last,
    publish_at: fromLocalInput(ui.publish.value),
    deadline: fromLocalInput(ui.deadline.value),
  };
  const r = editing
    ? await call('PUT', classPath(current.id, `/assignments/${encodeURIComponent(editing.id)}`), request)
    : await call('POST', classPath(current.id, '/assignments'), request);
  if (!r.ok) {
    ui.error.textContent = t('tch.saveError', { message: r.message });
    return;
  }
  closeForm();
  await open(current);
  changed();
});
