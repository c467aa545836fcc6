// Beginners' hints: a runtime's `hints` (its file's `[[hints]]`, served with the runtime list)
// matched against a failed run, and shown in the page's language beside the interpreter's
// message. The hints are data; nothing here knows a language.
import { t, locale } from './i18n.js';

/** `pattern` as a regular expression (the runtime files keep to what JavaScript reads alike). */
function compile(pattern) {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return null;
  }
}

/** The match of `pattern` in `text`; true for no pattern; null when it does not match. */
function search(pattern, text) {
  if (!pattern) return true;
  return compile(pattern)?.exec(text) ?? null;
}

/**
 * The first hint of `hints` that fits a failed run: `stderr` (the failed stage's message) and
 * `code` (the program). `allFailedOutputs`: for an exercise whose every test failed, the
 * outputs of the failed tests the student may see (else null).
 */
export function findHint(hints, { stderr = '', code = '', allFailedOutputs = null }) {
  for (const hint of hints || []) {
    const afterTests = hint.when === 'all_tests_failed';
    if (afterTests && !allFailedOutputs) continue;
    if (!search(hint.match, stderr)) continue;
    const source = search(hint.source_match, code);
    if (!source) continue;
    if (afterTests && source !== true) {
      // What the first capturing group caught (a prompt) must begin a failed test's output.
      const caught = source.slice(1).find((g) => g !== undefined);
      if (caught !== undefined && !allFailedOutputs.some((out) => out.startsWith(caught))) continue;
    }
    return hint;
  }
  return null;
}

/** Show `hint` (or nothing) in `box`, in the page's language. */
export function renderHint(box, hint) {
  if (!hint) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const text = (locale() === 'zh' && hint.text['zh-CN']) || hint.text.en;
  const label = document.createElement('strong');
  label.textContent = t('hint.label');
  box.replaceChildren(label, text);
  box.dataset.hint = hint.id;
  box.hidden = false;
}
