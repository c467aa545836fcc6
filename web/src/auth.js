// The page's key, on a server that requires one. A teacher gives the class a link
// `https://host/#key=tr_…` (or `?key=`), or a student pastes the class key once; the page trades
// the key at `POST /api/v1/session` for a short-lived page session (a classroom token) and
// forgets the key: it leaves the address bar at once (the history entry is replaced) and is
// never stored. The session lives in sessionStorage (this tab only) and goes with every
// request as `Authorization: Bearer`, and with the WebSocket as its second subprotocol
// (`tiderun.auth.TOKEN` beside `tiderun.v1`: a browser cannot set headers on a WebSocket).
//
// A student's session takes the same one slot: a class's join link (`/#join=CODE`, taken out of
// the address like a key) and a display name, or the student's personal login code, are traded
// for it at `POST /api/v1/classes/join` / `signin`. Runs, submissions and the WebSocket then
// carry it as they carry a page session; the server stores a signed-in student's submissions.
// A school's sign-in (OpenID Connect, when the server has it) ends on `/#oidc=CODE`, a one-time
// code traded at `POST /api/v1/oidc/session`, so the session is never in the address.
// sessionStorage on purpose: school computers are shared, and a closed tab signs the student out.

const STORE_KEY = 'tiderun.session';
/** A session this close to its expiry is treated as expired (the page asks again). */
const EXPIRY_MARGIN_MS = 60_000;

function load() {
  try {
    const session = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
    if (session && session.token && Date.parse(session.expires_at) - EXPIRY_MARGIN_MS > Date.now()) return session;
  } catch {
    // Unreadable or no storage: no session.
  }
  return null;
}

function save(session) {
  try {
    if (session) sessionStorage.setItem(STORE_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(STORE_KEY);
  } catch {
    // No storage: the session lasts as long as the page.
  }
  current = session;
}

let current = load();

/** Forget the session (the server refused it, or the student signed out). */
export function forget() {
  save(null);
}

/**
 * The signed-in student (`{student_id, display_name, class_id, class_name}`), or
 * null when the session is none or a page session.
 */
export function student() {
  return current && current.role === 'student' ? current : null;
}

/** Whether the page holds a session. */
export function hasSession() {
  return Boolean(current);
}

/** Headers that authenticate a fetch. */
export function headers() {
  return current ? { Authorization: `Bearer ${current.token}` } : {};
}

/** The subprotocols of a WebSocket: `tiderun.v1` and, with a session, its token. */
export function protocols() {
  return current ? ['tiderun.v1', `tiderun.auth.${current.token}`] : [];
}

/**
 * The value of `name` in the page's address (`#name=` or `?name=`), taken out of it: the history
 * entry is replaced, so it is in neither the address bar nor the back button.
 */
function takeFromAddress(name) {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ''));
  const value = hash.get(name) || url.searchParams.get(name);
  if (!value) return null;
  hash.delete(name);
  url.searchParams.delete(name);
  const rest = hash.toString();
  url.hash = rest ? `#${rest}` : '';
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return value.trim();
}

/** A class link's key (`#key=` or `?key=`), taken out of the address. */
export const takeKeyFromAddress = () => takeFromAddress('key');

/** A class's join code (`#join=CODE`, the teacher's join link), taken out of the address. */
export const takeJoinFromAddress = () => takeFromAddress('join');

/** A finished school sign-in's one-time code (`#oidc=CODE`), taken out of the address. */
export const takeSchoolSignInFromAddress = () => takeFromAddress('oidc');

/** Why a school sign-in failed (`#oidc_error=REASON`), taken out of the address. */
export const takeSchoolErrorFromAddress = () => takeFromAddress('oidc_error');

/**
 * POST to one of the routes that hand out a session, with no session of ours. The answer's
 * JSON; throws `{status, message, retryAfter}` when refused, in the server's words.
 */
async function post(path, init) {
  let response;
  try {
    response = await fetch(path, { method: 'POST', ...init });
  } catch (e) {
    throw { status: 0, message: String(e && e.message ? e.message : e) };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get('Retry-After') || '', 10);
    throw {
      status: response.status,
      message: (data && data.error) || response.statusText,
      retryAfter: Number.isFinite(retry) ? retry : null,
    };
  }
  return data;
}

const json = (body) => ({ headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

/** Keep a student session (it replaces any page session: one slot). The login code is not
 * kept: it is a credential, shown to the student once. */
function saveStudent(data) {
  const { token, expires_at, student_id, display_name, class_id, class_name } = data;
  save({ token, expires_at, role: 'student', student_id, display_name, class_id, class_name });
  return student();
}

/** Join a class with its join code and a display name: the student, signed in, with the
 * personal login code (`login_code`) to show once. */
export async function join(code, displayName) {
  const data = await post('/api/v1/classes/join', json({ code, display_name: displayName }));
  return { ...saveStudent(data), login_code: data.login_code };
}

/** Sign a student in again with the personal login code: the student. */
export async function signIn(loginCode) {
  return saveStudent(await post('/api/v1/classes/signin', json({ login_code: loginCode })));
}

/** Trade a finished school sign-in's one-time code for the student's session: the student. */
export async function schoolSignIn(code) {
  return saveStudent(await post('/api/v1/oidc/session', json({ code })));
}

/** Whether the server offers school sign-in (OpenID Connect). */
export async function schoolSignInOffered() {
  try {
    const response = await fetch('/api/v1/oidc');
    return response.ok && (await response.json()).enabled === true;
  } catch {
    return false;
  }
}

/**
 * Trade a key for a page session. Throws `{status, message}` when the server refuses it
 * (401: unknown, expired or revoked, in the server's words).
 */
export async function exchange(key) {
  const data = await post('/api/v1/session', { headers: { Authorization: `Bearer ${key}` } });
  save({ token: data.token, expires_at: data.expires_at, key: data.key });
  return data;
}
