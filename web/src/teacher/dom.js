// Building the teacher's page from data: every text goes in as textContent (names, code and
// outputs are the students' and untrusted), never as HTML.
import { locale } from '../i18n.js';

/** An element with properties (`class`, `text`, other attributes) and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const tag = () => (locale() === 'zh' ? 'zh-CN' : 'en');

/** A time as the teacher's clock shows it (date and minutes). */
export function when(iso) {
  const at = new Date(iso);
  if (!iso || Number.isNaN(at.getTime())) return '';
  return at.toLocaleString(tag(), { dateStyle: 'medium', timeStyle: 'short' });
}

/** A score from 0 to 1 as a whole percentage. */
export function percent(score) {
  return `${Math.round((Number(score) || 0) * 100)}%`;
}

/** The value of a `datetime-local` input for an RFC 3339 time (the teacher's clock). */
export function toLocalInput(iso) {
  const at = new Date(iso);
  if (!iso || Number.isNaN(at.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/** An RFC 3339 time from a `datetime-local` input (null when empty). */
export function fromLocalInput(value) {
  if (!value) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}
