// The gradebook: students × assignment exercises with the best and latest score per cell;
// a cell opens that student's submissions of the exercise (code, verdicts per test), a
// column's button the exercise's common failures; the CSV comes from the server.
import { t } from '../i18n.js';
import { get, download, classPath } from './api.js';
import { el, when, percent } from './dom.js';
import { exerciseTitle, verdictText } from './catalog.js';
import { showDetail } from './detail.js';

const $ = (id) => document.getElementById(id);
const ui = {
  table: $('gradebook'),
  message: $('gradebook-message'),
  refresh: $('refresh-gradebook'),
  csv: $('download-csv'),
};

let current = null;
let book = null;
let loading = 0;

export function open(c) {
  current = c;
  book = null;
  render();
}

export async function reload() {
  if (!current) return;
  const c = current;
  const ticket = ++loading;
  if (!book) ui.message.textContent = t('tch.loading');
  const r = await get(classPath(c.id, '/gradebook'));
  // A slower answer for a class no longer shown is dropped.
  if (ticket !== loading || c !== current) return;
  book = r.ok ? r.body : { error: r.message };
  render();
}

/** Two decimals, as the CSV writes a score. */
const fixed = (score) => (Number(score) || 0).toFixed(2);

function average(row) {
  if (!row.cells.length) return 0;
  return row.cells.reduce((sum, c) => sum + (c ? c.best_score : 0), 0) / row.cells.length;
}

function headRows() {
  const top = el('tr', {}, el('th', { scope: 'col', rowspan: 2, class: 'name-col', text: t('tch.student') }));
  const bottom = el('tr');
  // Consecutive columns of one assignment share its title.
  let i = 0;
  while (i < book.columns.length) {
    const a = book.columns[i].assignment_id;
    let span = 0;
    while (i + span < book.columns.length && book.columns[i + span].assignment_id === a) span++;
    top.append(el('th', { scope: 'colgroup', colspan: span, class: 'assignment-col', text: book.columns[i].assignment_title }));
    i += span;
  }
  top.append(el('th', { scope: 'col', rowspan: 2, class: 'num', text: t('tch.average') }));
  for (const col of book.columns) {
    const title = exerciseTitle(col.exercise_id);
    bottom.append(
      el(
        'th',
        { scope: 'col', 'data-exercise': col.exercise_id },
        el('span', { class: 'exercise-name', text: title }),
        el('button', {
          type: 'button',
          class: 'link small failures-button',
          'aria-label': t('tch.failuresOf', { exercise: title }),
          text: t('tch.failures'),
          onclick: () => openFailures(col.exercise_id),
        }),
      ),
    );
  }
  return [top, bottom];
}

function cellNode(row, col, cell) {
  if (!cell) return el('td', { class: 'cell empty', 'data-best': '' }, el('span', { 'aria-label': t('tch.notSubmitted'), text: '–' }));
  const label = t('tch.cellLabel', {
    name: row.display_name,
    exercise: exerciseTitle(col.exercise_id),
    best: percent(cell.best_score),
    latest: percent(cell.latest_score),
  });
  const solved = cell.best_points === cell.max_points && cell.max_points > 0;
  return el(
    'td',
    { class: `cell${solved ? ' solved' : ''}`, 'data-best': fixed(cell.best_score), 'data-latest': fixed(cell.latest_score) },
    el(
      'button',
      { type: 'button', class: 'cell-button', 'aria-label': label, onclick: () => openSubmissions(row, col) },
      el('span', { class: 'best', text: percent(cell.best_score) }),
      el('span', { class: 'latest', text: t('tch.latest', { score: percent(cell.latest_score), n: cell.submissions }) }),
      cell.latest_late ? el('span', { class: 'late', text: t('tch.late') }) : null,
    ),
  );
}

export function render() {
  if (!current) return;
  if (!book) {
    ui.table.hidden = true;
    return;
  }
  if (book.error) {
    ui.table.hidden = true;
    ui.message.textContent = t('tch.loadError', { message: book.error });
    return;
  }
  const empty = !book.columns.length ? t('tch.noAssignmentsYet') : !book.rows.length ? t('tch.noStudentsYet') : '';
  ui.message.textContent = empty;
  ui.table.hidden = Boolean(empty);
  if (empty) return;
  const body = el(
    'tbody',
    {},
    ...book.rows.map((row) =>
      el(
        'tr',
        { 'data-student': row.student_id },
        el('th', { scope: 'row', class: 'name-col', text: row.display_name }),
        ...book.columns.map((col, i) => cellNode(row, col, row.cells[i])),
        el('td', { class: 'num average', 'data-average': fixed(average(row)), text: percent(average(row)) }),
      ),
    ),
  );
  ui.table.replaceChildren(el('caption', { class: 'sr-only', text: t('tch.gradebookOf', { name: book.class_name }) }), el('thead', {}, ...headRows()), body);
}

function verdictList(verdicts) {
  return el(
    'ol',
    { class: 't-verdicts' },
    ...verdicts.map((v, i) =>
      el(
        'li',
        { class: v.verdict === 'accepted' ? 'pass' : 'fail' },
        el('span', { class: 'test-name', text: v.name || t('tch.testN', { n: i + 1 }) }),
        v.hidden ? el('span', { class: 'badge', text: t('tch.hidden') }) : null,
        el('span', { class: 't-verdict', text: verdictText(v.verdict) }),
        v.output !== undefined && v.output !== null && v.verdict !== 'accepted'
          ? el('pre', { class: 't-output' }, el('code', { text: v.output }))
          : null,
      ),
    ),
  );
}

async function openSubmissions(row, col) {
  const title = `${row.display_name} · ${exerciseTitle(col.exercise_id)}`;
  const body = showDetail(title, el('p', { class: 'muted', text: t('tch.loading') }));
  const params = new URLSearchParams({ exercise: col.exercise_id });
  const r = await get(classPath(current.id, `/students/${encodeURIComponent(row.student_id)}/submissions?${params}`));
  if (!r.ok) {
    body.replaceChildren(el('p', { class: 'error-text', text: t('tch.loadError', { message: r.message }) }));
    return;
  }
  const list = [...r.body].reverse();
  body.replaceChildren(
    el('p', { class: 'muted small', text: t('tch.submissionsCount', { n: list.length }) }),
    ...list.map((s) =>
      el(
        'article',
        { class: 'submission' },
        el(
          'header',
          { class: 'submission-head' },
          el('strong', { text: `${percent(s.score)} · ${s.points}/${s.max_points}` }),
          s.late ? el('span', { class: 'late', text: t('tch.late') }) : null,
          el('span', { class: 'muted', text: `${s.language} · ${when(s.at)}` }),
          el('span', { class: 'muted', text: t('tch.passedOf', { passed: s.passed, total: s.total }) }),
        ),
        verdictList(s.verdicts || []),
        el('pre', { class: 't-code' }, el('code', { text: s.code })),
      ),
    ),
  );
}

async function openFailures(exercise) {
  const title = t('tch.failuresTitle', { exercise: exerciseTitle(exercise) });
  const body = showDetail(title, el('p', { class: 'muted', text: t('tch.loading') }));
  const r = await get(classPath(current.id, `/exercises/${encodeURIComponent(exercise)}/failures`));
  if (!r.ok) {
    body.replaceChildren(el('p', { class: 'error-text', text: t('tch.loadError', { message: r.message }) }));
    return;
  }
  const f = r.body;
  const failing = f.tests.filter((x) => x.failed > 0);
  body.replaceChildren(
    el('p', { text: t('tch.failuresSummary', { submissions: f.submissions, students: f.students, solved: f.solved_by }) }),
    failing.length
      ? el(
          'ol',
          { class: 'failures' },
          ...failing.map((x) =>
            el(
              'li',
              { class: 'failure' },
              el(
                'div',
                { class: 'submission-head' },
                el('strong', { class: 'test-name', text: x.name }),
                x.hidden ? el('span', { class: 'badge', text: t('tch.hidden') }) : null,
                el('span', { text: t('tch.failedTimes', { n: x.failed }) }),
              ),
              el(
                'p',
                { class: 'muted small' },
                Object.entries(x.verdicts)
                  .map(([v, n]) => `${verdictText(v)} × ${n}`)
                  .join(' · '),
              ),
              x.wrong_outputs.length ? el('p', { class: 'small', text: t('tch.wrongOutputs') }) : null,
              ...x.wrong_outputs.map((w) =>
                el('div', { class: 'wrong-output' }, el('span', { class: 'count', text: `× ${w.count}` }), el('pre', { class: 't-output' }, el('code', { text: w.output }))),
              ),
            ),
          ),
        )
      : el('p', { class: 'muted', text: f.submissions ? t('tch.noFailures') : t('tch.noSubmissions') }),
  );
}

ui.refresh.addEventListener('click', () => reload());
ui.csv.addEventListener('click', async () => {
  if (!current) return;
  const safe = current.name.replace(/[\\/:*?"<>|\s]+/g, '-').replace(/^-+|-+$/g, '') || current.id;
  const day = new Date().toISOString().slice(0, 10);
  const r = await download(classPath(current.id, '/gradebook.csv'), `gradebook-${safe}-${day}.csv`);
  ui.message.textContent = r.ok ? '' : t('tch.loadError', { message: r.message });
});
