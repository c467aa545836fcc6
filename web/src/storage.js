// What the page remembers in the browser: preferences and the student's last code per
// language (and per exercise). localStorage can be missing or full (private windows,
// quotas): the page then simply forgets.
const PREFIX = 'tiderun.';

function get(key) {
  try {
    return localStorage.getItem(PREFIX + key);
  } catch {
    return null;
  }
}

function set(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, value);
  } catch {
    // Quota or disabled storage: nothing to keep.
  }
}

export const prefs = { get, set };

function codeKey(language, exercise) {
  return exercise ? `code.exercise.${exercise}.${language}` : `code.${language}`;
}

/** The student's last code for this language (or this exercise in this language). */
export function loadCode(language, exercise = null) {
  return get(codeKey(language, exercise));
}

export function saveCode(language, code, exercise = null) {
  set(codeKey(language, exercise), code);
}
