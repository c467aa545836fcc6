// Exercises: the server's list (the teacher's own first, to edit or delete; the directory's
// and other keys' read-only, with a view of the statement and visible tests) and the editor
// (new or edit: id, title and statement in English and Chinese, tests as rows, grading,
// limits, languages, one starter), saved by POST /api/v1/exercises in the shape the server
// reads (exercise_spec.rs); an empty optional field is left out. Fields the form does not show
// (other starters, Chinese starters...) are kept as they were.
import { t } from '../i18n.js';
import { get, call } from './api.js';
import { el } from './dom.js';
import { showDetail } from './detail.js';
import { allExercises, exerciseTitle } from './catalog.js';
import { renderStatement, localized } from '../exercises.js';

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('exercise-list'),
  message: $('exercises-message'),
  add: $('new-exercise'),
  form: $('exercise-form'),
  formTitle: $('exercise-form-title'),
  id: $('x-id'),
  title: $('x-title'),
  titleZh: $('x-title-zh'),
  statement: $('x-statement'),
  statementZh: $('x-statement-zh'),
  tests: $('x-tests'),
  addTest: $('x-add-test'),
  trim: $('x-trim'),
  ignoreCase: $('x-case'),
  tolerance: $('x-tolerance'),
  languages: $('x-languages'),
  starterLanguage: $('x-starter-language'),
  starter: $('x-starter'),
  limitsError: $('x-limits-error'),
  error: $('exercise-error'),
  cancel: $('x-cancel'),
};

/**
 * The form's limits (`[limits]` of the definition): the field, its input, and how many of the
 * field's unit make the unit a teacher types (seconds for the times, MB for memory).
 */
const LIMITS = [
  { field: 'cpu_ms', input: $('x-cpu'), label: 'tch.xCpu', per: 1000 },
  { field: 'wall_ms', input: $('x-wall'), label: 'tch.xWall', per: 1000 },
  { field: 'memory_mb', input: $('x-memory'), label: 'tch.xMemory', per: 1 },
];

/** A limit's value (in the field's unit) as a teacher reads it: `20 s`, `2048 MB`. */
function limitText(limit, value) {
  return limit.per === 1000 ? t('tch.xSecondsN', { n: value / 1000 }) : `${value} MB`;
}

/** The exercise being edited as the server gave it (null: a new one). */
let editing = null;
/** Installed runtimes (`language`, `display_name`), for the languages and the starter. */
let runtimes = [];
let changed = async () => {};

/** Called after a save or delete, to reload the list (and the assignments' picker). */
export function onChange(fn) {
  changed = fn;
}

export async function open() {
  if (!runtimes.length) {
    const r = await get('/api/v1/runtimes');
    const all = r.ok ? (Array.isArray(r.body) ? r.body : r.body?.runtimes || []) : [];
    runtimes = all.filter((x) => x.installed !== false);
  }
  render();
}

/** The teacher's own (editable) first, then the rest, each in the server's order. */
function ordered() {
  const list = allExercises();
  return [...list.filter((e) => e.editable), ...list.filter((e) => !e.editable)];
}

export function render() {
  renderChoices();
  ui.formTitle.textContent = editing ? t('tch.editExercise', { id: editing.id }) : t('tch.newExercise');
  const list = ordered();
  ui.list.replaceChildren(
    ...list.map((e) => {
      const mark = e.editable ? 'yours' : e.source === 'directory' ? 'directory' : 'other';
      const actions = e.editable
        ? [
            el('button', { type: 'button', class: 'button small', text: t('tch.edit'), onclick: () => openForm(e.id) }),
            el('button', { type: 'button', class: 'button quiet small', text: t('tch.delete'), onclick: () => remove(e) }),
          ]
        : [el('button', { type: 'button', class: 'button small', text: t('tch.view'), onclick: () => view(e.id) })];
      return el(
        'li',
        { class: `assignment exercise-item ${mark}`, 'data-exercise': e.id },
        el(
          'div',
          { class: 'assignment-head' },
          el('strong', { class: 'assignment-title', text: exerciseTitle(e.id) }),
          el('code', { class: 'muted small', text: e.id }),
          el('span', { class: `state state-${mark}`, text: t(`tch.ex.${mark}`) }),
        ),
        el('div', { class: 'actions' }, ...actions),
      );
    }),
  );
  if (!list.length) ui.message.textContent = t('tch.noExercises');
}

/** The languages' checkboxes and the starter's choice. */
function renderChoices() {
  const checked = new Set([...ui.languages.querySelectorAll('input:checked')].map((i) => i.value));
  ui.languages.replaceChildren(
    ...runtimes.map((r) =>
      el(
        'label',
        { class: 'toggle' },
        el('input', { type: 'checkbox', value: r.language, checked: checked.has(r.language) }),
        ' ',
        el('span', { text: r.display_name || r.language }),
      ),
    ),
  );
  const keep = ui.starterLanguage.value;
  ui.starterLanguage.replaceChildren(
    el('option', { value: '', text: t('tch.xNoStarter') }),
    ...runtimes.map((r) => el('option', { value: r.language, text: r.display_name || r.language })),
  );
  ui.starterLanguage.value = keep;
  limitDefaults();
}

/**
 * Each limit's placeholder: the default of the languages accepted (all when none is ticked),
 * or their range (`3–5`), so an empty field says what it stands for.
 */
function limitDefaults() {
  const ticked = new Set([...ui.languages.querySelectorAll('input:checked')].map((i) => i.value));
  const accepted = runtimes.filter((r) => !ticked.size || ticked.has(r.language));
  for (const limit of LIMITS) {
    const values = accepted.map((r) => r.limits?.defaults?.[limit.field]).filter(Number.isFinite);
    const range = values.length ? [...new Set([Math.min(...values), Math.max(...values)])] : [];
    limit.input.placeholder = range.map((v) => v / limit.per).join('–');
  }
}

/** Clear the mark of a refused limit. */
function clearLimitError() {
  ui.limitsError.textContent = '';
  for (const { input } of LIMITS) {
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-describedby');
  }
}

/**
 * A refusal that names a limit, shown beside its field in the teacher's units: the server's
 * `limits: cpu_ms = 99000 is out of range (at most 20000) for Python` (exercise_spec.rs) as
 * `CPU time: at most 20 s for Python.`; any other words about a limit as they are.
 */
function showLimitError(message) {
  const named = /\blimits\b.*?\b(cpu_ms|wall_ms|memory_mb)\b/.exec(message || '');
  const limit = named && LIMITS.find((l) => l.field === named[1]);
  if (!limit) return;
  const past = /is out of range \(at most (\d+)\) for (.+)$/.exec(message);
  ui.limitsError.textContent = past
    ? t('tch.xLimitTooHigh', { limit: t(limit.label), max: limitText(limit, Number(past[1])), language: past[2] })
    : `${t(limit.label)}: ${message}`;
  limit.input.setAttribute('aria-invalid', 'true');
  limit.input.setAttribute('aria-describedby', ui.limitsError.id);
  limit.input.focus();
}

/** One test as a row of the editor. */
function testRow(test = {}) {
  const n = () => [...ui.tests.children].indexOf(row) + 1;
  const field = (cls, label, value) => {
    const area = el('textarea', { class: `code ${cls}`, rows: 2, spellcheck: 'false' });
    area.value = value || '';
    return el('label', { class: 'test-field' }, el('span', { class: 'small', text: label }), area);
  };
  const weight = el('input', { type: 'number', class: 'weight', min: 1, max: 1000, step: 1, placeholder: '1' });
  if (test.weight) weight.value = String(test.weight);
  const row = el(
    'div',
    { class: 'test-row' },
    field('stdin', t('tch.xStdin'), test.stdin),
    field('expected', t('tch.xExpected'), test.expected_output),
    el(
      'div',
      { class: 'test-extra' },
      el('label', { class: 'toggle' }, el('input', { type: 'checkbox', class: 'hidden-test', checked: !!test.hidden }), ' ', el('span', { text: t('tch.xHidden') })),
      el('label', { class: 'toggle' }, el('span', { text: t('tch.xWeight') }), weight),
      el('button', {
        type: 'button',
        class: 'button quiet small',
        text: t('tch.xRemoveTest'),
        onclick: () => {
          if (ui.tests.children.length > 1) row.remove();
        },
      }),
    ),
  );
  // A test's name is kept as it was; a new one gets `test N` from the server.
  if (test.name) row.dataset.name = test.name;
  row.setAttribute('aria-label', t('tch.xTestN', { n: n() }));
  return row;
}

async function openForm(id) {
  ui.error.textContent = '';
  ui.message.textContent = '';
  editing = null;
  let exercise = { tests: [{}], grading: {} };
  if (id) {
    const r = await get(`/api/v1/exercises/${encodeURIComponent(id)}/definition`);
    if (!r.ok) {
      ui.message.textContent = t('tch.loadError', { message: r.message });
      return;
    }
    editing = exercise = r.body;
  }
  const grading = exercise.grading || {};
  ui.id.value = exercise.id || '';
  ui.id.disabled = !!editing;
  ui.title.value = exercise.title || '';
  ui.titleZh.value = exercise.title_zh || '';
  ui.statement.value = exercise.statement || '';
  ui.statementZh.value = exercise.statement_zh || '';
  for (const limit of LIMITS) {
    const value = exercise.limits?.[limit.field];
    limit.input.value = value == null ? '' : String(value / limit.per);
  }
  clearLimitError();
  ui.tests.replaceChildren(...(exercise.tests?.length ? exercise.tests : [{}]).map(testRow));
  // The server's default rule ignores trailing whitespace.
  ui.trim.checked = grading.ignore_trailing_whitespace ?? true;
  ui.ignoreCase.checked = !!grading.ignore_case;
  ui.tolerance.value = grading.numeric_tolerance ?? '';
  for (const box of ui.languages.querySelectorAll('input')) box.checked = (exercise.languages || []).includes(box.value);
  const [language, code] = Object.entries(exercise.starter || {})[0] || ['', ''];
  ui.starterLanguage.value = language;
  ui.starter.value = code;
  ui.form.dataset.starter = language;
  ui.form.hidden = false;
  render();
  (editing ? ui.title : ui.id).focus();
}

function closeForm() {
  editing = null;
  ui.form.hidden = true;
  ui.error.textContent = '';
  clearLimitError();
}

/** Set `key` to the text, or leave it out when the text is blank (the server refuses ""). */
function optional(exercise, key, text) {
  if (text.trim()) exercise[key] = text;
  else delete exercise[key];
}

/** The exercise as the form says it, over what the server gave. */
function fromForm() {
  const base = editing ? { ...editing } : {};
  const tests = [...ui.tests.children].map((row) => {
    const test = {
      stdin: row.querySelector('.stdin').value,
      expected_output: row.querySelector('.expected').value,
      hidden: row.querySelector('.hidden-test').checked,
    };
    if (row.dataset.name) test.name = row.dataset.name;
    const weight = row.querySelector('.weight').value.trim();
    if (weight) test.weight = Number(weight);
    return test;
  });
  const grading = { ignore_trailing_whitespace: ui.trim.checked, ignore_case: ui.ignoreCase.checked };
  if (ui.tolerance.value.trim() !== '') grading.numeric_tolerance = Number(ui.tolerance.value);
  const starter = { ...(base.starter || {}) };
  if (ui.form.dataset.starter) delete starter[ui.form.dataset.starter];
  const language = ui.starterLanguage.value;
  if (language && ui.starter.value.trim()) starter[language] = ui.starter.value;
  const exercise = {
    ...base,
    id: editing ? editing.id : ui.id.value.trim(),
    title: ui.title.value,
    statement: ui.statement.value,
    tests,
    grading,
    languages: [...ui.languages.querySelectorAll('input:checked')].map((i) => i.value),
    starter,
  };
  optional(exercise, 'title_zh', ui.titleZh.value);
  optional(exercise, 'statement_zh', ui.statementZh.value);
  // Each limit typed, in the field's unit; none: the languages' defaults.
  const limits = {};
  for (const limit of LIMITS) {
    const text = limit.input.value.trim();
    if (text !== '') limits[limit.field] = Math.round(Number(text) * limit.per);
  }
  if (Object.keys(limits).length) exercise.limits = limits;
  else delete exercise.limits;
  return exercise;
}

async function save(e) {
  e.preventDefault();
  const exercise = fromForm();
  clearLimitError();
  const r = await call('POST', '/api/v1/exercises', exercise);
  if (!r.ok) {
    // The server's own words: which field, which limit, whose id.
    ui.error.textContent = t('tch.saveError', { message: r.message });
    showLimitError(r.message);
    return;
  }
  // The list reloaded first, then the form closed and the message said in one go: whoever
  // waits for the form to close finds the list and the message already there.
  await changed();
  closeForm();
  say(t('tch.exSaved', { title: exercise.title }));
}

async function remove(e) {
  if (!confirm(t('tch.exDeleteConfirm', { title: exerciseTitle(e.id) }))) return;
  const r = await call('DELETE', `/api/v1/exercises/${encodeURIComponent(e.id)}`);
  if (!r.ok) {
    say(t('tch.saveError', { message: r.message }));
    return;
  }
  if (editing?.id === e.id) closeForm();
  await changed();
  say(t('tch.exDeleted', { title: e.id }));
}

function say(text) {
  ui.message.textContent = text;
}

/** A read-only exercise as a student sees it: the statement and the visible tests. */
async function view(id) {
  const r = await get(`/api/v1/exercises/${encodeURIComponent(id)}`);
  if (!r.ok) {
    ui.message.textContent = t('tch.loadError', { message: r.message });
    return;
  }
  const x = r.body;
  const tests = x.tests.map((test) =>
    test.hidden
      ? el('p', { class: 'muted small', text: t('tch.xHiddenTest', { name: test.name }) })
      : el(
          'div',
          { class: 'example' },
          el('div', {}, el('h4', { text: t('tch.xStdin') }), el('pre', { text: test.stdin || '' })),
          el('div', {}, el('h4', { text: t('tch.xExpected') }), el('pre', { text: test.expected_output || '' })),
        ),
  );
  showDetail(exerciseTitle(id), el('div', { class: 'statement' }, renderStatement(localized(x, 'statement'))), el('h3', { text: t('tch.xTests') }), ...tests);
}

ui.add.addEventListener('click', () => openForm(null));
ui.addTest.addEventListener('click', () => {
  const row = testRow();
  ui.tests.append(row);
  row.querySelector('textarea').focus();
});
ui.cancel.addEventListener('click', closeForm);
ui.languages.addEventListener('change', limitDefaults);
ui.form.addEventListener('submit', save);
