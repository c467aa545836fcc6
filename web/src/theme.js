// Light and dark: the system's preference until the student picks one (remembered).
// index.html sets `data-theme` before the first paint; this module keeps it in step.
import { prefs } from './storage.js';

const media = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

export function isDark() {
  return document.documentElement.dataset.theme === 'dark';
}

function apply(dark, onChange) {
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  onChange(dark);
}

/** Follow the system until a choice is saved; `onChange(dark)` after every change. */
export function initTheme(onChange) {
  const saved = prefs.get('theme');
  apply(saved ? saved === 'dark' : Boolean(media?.matches), onChange);
  media?.addEventListener?.('change', (e) => {
    if (!prefs.get('theme')) apply(e.matches, onChange);
  });
}

export function toggleTheme(onChange) {
  const dark = !isDark();
  prefs.set('theme', dark ? 'dark' : 'light');
  apply(dark, onChange);
}
