// The server's exercises (GET /api/v1/exercises), for titles in the gradebook and the
// assignment editor's choices.
import { get } from './api.js';
import { t, locale } from '../i18n.js';

let exercises = [];

export async function loadExercises() {
  const r = await get('/api/v1/exercises');
  exercises = r.ok && Array.isArray(r.body) ? r.body : [];
  return r;
}

export function allExercises() {
  return exercises;
}

/** An exercise's title in the page's language (its id when the server does not know it). */
export function exerciseTitle(id) {
  const e = exercises.find((x) => x.id === id);
  if (!e) return id;
  return (locale() === 'zh' && e.title_zh) || e.title || id;
}

/** A verdict (`wrong_answer`…) in the page's language, as the classroom page says it. */
export function verdictText(verdict) {
  const key = `verdict.${verdict}`;
  const text = t(key);
  return text === key ? String(verdict) : text;
}
