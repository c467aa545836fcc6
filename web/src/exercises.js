// Exercises: the list, the open exercise's statement and examples, and the graded results
// (per-test verdicts and a score; a hidden test shows only pass or fail).
import * as api from './api.js';
import { t, locale } from './i18n.js';
import { describeRefusal, describeVerdict } from './status.js';
import { errorLine } from './errorline.js';

/** The title or statement in the interface's language, when the teacher gave one. */
export function localized(item, field) {
  return (locale() === 'zh' && item[`${field}_zh`]) || item[field] || '';
}

/** An element with `props` (`class`, `text`, attributes) and children: text as text, never HTML. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/**
 * A statement in simple markdown: paragraphs, ``` code blocks ```, `inline code`, **bold**.
 * Built as DOM nodes from text: nothing the teacher wrote is parsed as HTML.
 */
export function renderStatement(text) {
  const out = document.createDocumentFragment();
  const blocks = String(text).split(/^```[^\n]*\n([\s\S]*?)^```\s*$/m);
  blocks.forEach((block, i) => {
    if (i % 2 === 1) {
      out.append(el('pre', {}, el('code', { text: block.replace(/\n$/, '') })));
      return;
    }
    for (const para of block.split(/\n\s*\n/)) {
      const trimmed = para.trim();
      if (!trimmed) continue;
      const p = el('p');
      for (const [j, part] of trimmed.split(/(`[^`]+`|\*\*[^*]+\*\*)/).entries()) {
        if (j % 2 === 0) p.append(part);
        else if (part.startsWith('`')) p.append(el('code', { text: part.slice(1, -1) }));
        else p.append(el('strong', { text: part.slice(2, -2) }));
      }
      out.append(p);
    }
  });
  return out;
}

/** One visible example's input and expected output. */
function example(test) {
  return el(
    'div',
    { class: 'example' },
    el('div', {}, el('h4', { text: t('ex.input') }), el('pre', { text: test.stdin || '' })),
    el('div', {}, el('h4', { text: t('ex.expected') }), el('pre', { text: test.expected_output || '' })),
  );
}

/** The statement panel of an open exercise. */
export function renderExercise(exercise, { title, statement }) {
  title.textContent = localized(exercise, 'title');
  statement.replaceChildren(renderStatement(localized(exercise, 'statement')));
  const visible = (exercise.tests || []).filter((test) => !test.hidden);
  if (visible.length) {
    const details = el('details', { class: 'examples' }, el('summary', { text: `${t('ex.tests')} (${visible.length})` }));
    details.open = true;
    for (const test of visible) details.append(example(test));
    statement.append(details);
  }
}

/** The languages an exercise accepts, as the student reads them (`runtimes`: by name). */
function languagesText(item, runtimes) {
  if (item.any_language) return t('ex.languages', { list: t('ex.allLanguages') });
  const names = (item.languages || []).map((l) => runtimes?.get(l)?.display_name || l);
  return t('ex.languages', { list: names.join(' · ') });
}

/**
 * The list in the exercises dialog, in the teacher's order (the server's). `onOpen(id)` is
 * called with the chosen exercise; `runtimes` (by name) gives the languages' names.
 */
export async function renderList(container, onOpen, runtimes = null) {
  container.replaceChildren(el('p', { text: t('ex.loading') }));
  let list;
  try {
    list = await api.exercises();
  } catch (e) {
    container.replaceChildren(el('p', { class: 'error-text', text: describeRefusal(e) }));
    return;
  }
  if (!list.length) {
    container.replaceChildren(el('p', { text: t('ex.none') }));
    return;
  }
  const ul = el('ul', { class: 'exercise-items' });
  for (const item of list) {
    const button = el('button', { type: 'button', class: 'exercise-item' });
    const title = el('span', { class: 'exercise-item-title', text: localized(item, 'title') });
    // Done or not, once the server says so for this student (`done` in the list).
    if (typeof item.done === 'boolean') {
      button.dataset.done = String(item.done);
      title.prepend(el('span', { class: 'exercise-item-done', text: item.done ? '✓ ' : '', title: t(item.done ? 'ex.done' : 'ex.notDone') }));
    }
    const langs = el('span', { class: 'exercise-item-langs', text: languagesText(item, runtimes) });
    if (item.any_language) langs.title = (item.languages || []).map((l) => runtimes?.get(l)?.display_name || l).join(' · ');
    button.append(title, langs);
    button.addEventListener('click', () => onOpen(item.id));
    ul.append(el('li', {}, button));
  }
  container.replaceChildren(ul);
  ul.querySelector('button')?.focus();
}

/**
 * The graded results in `container`: score, then a row per test. Returns the error line of a
 * compile error (or of the first failed visible test), or null.
 */
export function renderResults(container, result, file) {
  const score = el('p', { class: 'score', text: t('ex.score', { passed: result.passed, total: result.total }) });
  score.dataset.passed = String(result.passed);
  score.dataset.total = String(result.total);
  if (result.total > 0 && result.passed === result.total) score.append(' — ', t('ex.allPassed'));
  const list = el('ol', { class: 'verdicts' });
  result.tests.forEach((test, i) => {
    const ok = test.verdict === 'accepted';
    const name = test.name || `${t('ex.test')} ${i + 1}`;
    const item = el('li', { class: `verdict ${ok ? 'pass' : 'fail'}` });
    item.dataset.verdict = test.verdict;
    item.dataset.hidden = String(Boolean(test.hidden));
    const mark = el('span', { class: 'verdict-mark', 'aria-hidden': 'true', text: ok ? '✓' : '✗' });
    const label = el('span', { class: 'verdict-name', text: name });
    if (test.hidden) label.append(el('span', { class: 'tag', text: t('ex.hidden') }));
    item.append(mark, label, el('span', { class: 'verdict-word', text: describeVerdict(test.verdict) }));
    if (!ok && !test.hidden && test.run) {
      const details = el('details', {}, el('summary', { text: t('ex.got') }));
      details.append(el('pre', { text: (test.run.stdout || '') + (test.run.stderr || '') }));
      item.append(details);
    }
    list.append(item);
  });
  container.replaceChildren(score, list);
  container.hidden = false;
  if (result.compile && result.compile.status !== 'ok') {
    return errorLine(result.compile.stderr, file);
  }
  const failed = result.tests.find((test) => test.run && test.run.status === 'runtime_error');
  return failed ? errorLine(failed.run.stderr, file) : null;
}
