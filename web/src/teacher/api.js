// The teacher's API calls, with the page session of auth.js as the Bearer header. A failure
// is an answer `{ok: false, status, message}` (the server's words), never an exception.
import { headers } from '../auth.js';
import { t } from '../i18n.js';

/** Called with the status of an answer that says the session is gone or not a teacher's. */
let onRefused = () => {};

export function whenRefused(fn) {
  onRefused = fn;
}

async function send(method, path, body) {
  const init = { method, headers: { ...headers() }, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch {
    return null;
  }
}

/** A JSON call: `{ok, status, body}` or `{ok: false, status, message}`. */
export async function call(method, path, body) {
  const response = await send(method, path, body);
  if (!response) return { ok: false, status: 0, message: t('tch.unreachable') };
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message = data?.error || `HTTP ${response.status}`;
    if (response.status === 401) onRefused(401, message);
    return { ok: false, status: response.status, message };
  }
  return { ok: true, status: response.status, body: data };
}

export const get = (path) => call('GET', path);

/** A file from the API, saved as a download named `name` (a link cannot send the header). */
export async function download(path, name) {
  const response = await send('GET', path);
  if (!response) return { ok: false, status: 0, message: t('tch.unreachable') };
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).error || message;
    } catch {
      // Not JSON.
    }
    if (response.status === 401) onRefused(401, message);
    return { ok: false, status: response.status, message };
  }
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has started by then; the object URL is no longer needed.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { ok: true, status: response.status };
}

/** A class's path below the API. */
export const classPath = (id, rest = '') => `/api/v1/classes/${encodeURIComponent(id)}${rest}`;
