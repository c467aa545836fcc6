// The roster: display names, when they joined, each student's login code (only when the
// teacher asks: a projected page must not show them), rename and remove.
import { t } from '../i18n.js';
import { get, call, classPath } from './api.js';
import { el, when } from './dom.js';

const $ = (id) => document.getElementById(id);
const ui = {
  table: $('roster'),
  message: $('roster-message'),
  showCodes: $('show-codes'),
};

let current = null;
let students = null;
/** The student whose name is being edited. */
let renaming = null;
let changed = () => {};

export function onChange(fn) {
  changed = fn;
}

export async function open(c) {
  current = c;
  students = null;
  renaming = null;
  ui.showCodes.checked = false;
  await reload();
}

export async function reload() {
  const c = current;
  if (!c) return;
  const r = await get(classPath(c.id, '/students'));
  if (c !== current) return;
  students = r.ok ? r.body : { error: r.message };
  render();
}

function nameCell(s) {
  if (renaming !== s.id) return el('th', { scope: 'row', class: 'name-col', text: s.display_name });
  const input = el('input', { type: 'text', maxlength: 40, required: true, 'aria-label': t('tch.newName', { name: s.display_name }) });
  input.value = s.display_name;
  const error = el('span', { class: 'error-text small', role: 'alert' });
  const form = el(
    'form',
    { class: 'rename', autocomplete: 'off' },
    input,
    el('button', { type: 'submit', class: 'button primary small', text: t('tch.save') }),
    el('button', { type: 'button', class: 'button quiet small', text: t('tch.cancel'), onclick: () => ((renaming = null), render()) }),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (!name) return;
    const r = await call('PATCH', classPath(current.id, `/students/${encodeURIComponent(s.id)}`), { display_name: name });
    if (!r.ok) {
      error.textContent = t('tch.saveError', { message: r.message });
      return;
    }
    renaming = null;
    await reload();
    changed();
  });
  queueMicrotask(() => input.focus());
  return el('th', { scope: 'row', class: 'name-col' }, form);
}

async function remove(s) {
  if (!confirm(t('tch.removeConfirm', { name: s.display_name }))) return;
  const r = await call('DELETE', classPath(current.id, `/students/${encodeURIComponent(s.id)}`));
  if (!r.ok) {
    ui.message.textContent = t('tch.loadError', { message: r.message });
    return;
  }
  await reload();
  changed();
}

export function render() {
  if (!students) {
    ui.table.hidden = true;
    return;
  }
  if (students.error) {
    ui.table.hidden = true;
    ui.message.textContent = t('tch.loadError', { message: students.error });
    return;
  }
  ui.message.textContent = students.length ? t('tch.studentCount', { n: students.length }) : t('tch.noStudents');
  ui.table.hidden = students.length === 0;
  const show = ui.showCodes.checked;
  ui.table.querySelector('tbody').replaceChildren(
    ...students.map((s) =>
      el(
        'tr',
        { 'data-student': s.id },
        nameCell(s),
        el('td', { text: when(s.joined_at) }),
        el('td', { class: 'login-code' }, show ? el('code', { text: s.login_code }) : el('span', { class: 'muted', text: '••••••' })),
        el(
          'td',
          { class: 'row-actions' },
          el('button', { type: 'button', class: 'button small', text: t('tch.rename'), 'aria-label': t('tch.renameWho', { name: s.display_name }), onclick: () => ((renaming = s.id), render()) }),
          el('button', { type: 'button', class: 'button quiet small', text: t('tch.remove'), 'aria-label': t('tch.removeWho', { name: s.display_name }), onclick: () => remove(s) }),
        ),
      ),
    ),
  );
}

ui.showCodes.addEventListener('change', render);
