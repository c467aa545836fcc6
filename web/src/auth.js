// The page's key, on a server that requires one. A teacher gives the class a link
// `https://host/#key=tr_…` (or `?key=`), or a student pastes the class key once; the page trades
// the key at `POST /api/v1/session` for a short-lived page session (a classroom token) and
// forgets the key: it leaves the address bar at once (the history entry is replaced) and is
// never stored. The session lives in sessionStorage (this tab only) and goes with every
// request as `Authorization: Bearer`, and with the WebSocket as its second subprotocol
// (`tiderun.auth.TOKEN` beside `tiderun.v1`: a browser cannot set headers on a WebSocket).

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

/** Forget the session (the server refused it). */
export function forget() {
  save(null);
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
 * A key in the page's address (`#key=` or `?key=`), taken out of it: the history entry is
 * replaced, so the key is in neither the address bar nor the back button.
 */
export function takeKeyFromAddress() {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ''));
  const key = hash.get('key') || url.searchParams.get('key');
  if (!key) return null;
  hash.delete('key');
  url.searchParams.delete('key');
  const rest = hash.toString();
  url.hash = rest ? `#${rest}` : '';
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return key.trim();
}

/**
 * Trade a key for a page session. Throws `{status, message}` when the server refuses it
 * (401: unknown, expired or revoked, in the server's words).
 */
export async function exchange(key) {
  let response;
  try {
    response = await fetch('/api/v1/session', { method: 'POST', headers: { Authorization: `Bearer ${key}` } });
  } catch (e) {
    throw { status: 0, message: String(e && e.message ? e.message : e) };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw { status: response.status, message: (data && data.error) || response.statusText };
  save({ token: data.token, expires_at: data.expires_at, key: data.key });
  return data;
}
