// The service's native API (`/api/v1`) and its WebSocket, and nothing else: the page never
// decides what the engine decides (statuses, verdicts, limits come from the server).
import * as auth from './auth.js';

/** A refused or failed request: the HTTP status, the server's message, and for 429/503 the
 * seconds to wait (Retry-After). `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

async function request(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { ...auth.headers(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, String(e && e.message ? e.message : e));
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.status === 401) {
    // No key, or the session ended (expired, its key revoked, the student removed): the page
    // asks again — a student for the login code — saying why when a session ended.
    const ended = auth.hasSession();
    const student = Boolean(auth.student());
    auth.forget();
    const why = ended ? (data && data.error) || null : null;
    window.dispatchEvent(new CustomEvent(student ? 'tiderun:signed-out' : 'tiderun:key-needed', { detail: why }));
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get('Retry-After') || '', 10);
    const message = (data && data.error) || text || response.statusText;
    throw new ApiError(response.status, message, Number.isFinite(retry) ? retry : null);
  }
  return data;
}

/** Every runtime of the server: `[{language, display_name, installed, file, example, limits...}]`. */
export const runtimes = () => request('GET', '/api/v1/runtimes');

/** Save code on the server: `{id, language, code}`. */
export const createSnippet = (language, code) => request('POST', '/api/v1/snippets', { language, code });
export const getSnippet = (id) => request('GET', `/api/v1/snippets/${encodeURIComponent(id)}`);

/** `[{id, title, title_zh?, languages}]`. */
export const exercises = () => request('GET', '/api/v1/exercises');
/** `{id, title, statement, starter: {lang: code}, tests: [{name, stdin?, expected_output?, hidden}]}`. */
export const exercise = (id) => request('GET', `/api/v1/exercises/${encodeURIComponent(id)}`);
/** Grade code against an exercise's tests: the run-with-tests shape (`tests`, `passed`, `total`, `score`). */
export const submit = (id, language, code) =>
  request('POST', `/api/v1/exercises/${encodeURIComponent(id)}/submit`, { language, code });

/** The signed-in student's class: `{class_name, display_name, assignments: [{id, title,
 * deadline?, exercises: [{id, done, best_score?, submissions}]}], exercises}`. */
export const myClass = () => request('GET', '/api/v1/classes/me');

/**
 * Why a WebSocket could not be opened. A browser does not show a failed handshake's status,
 * so ask the server with a cheap request: it answers 429 with Retry-After when the rate limit
 * was the reason.
 */
async function whyNoSocket() {
  try {
    await runtimes();
    return new ApiError(0, 'the connection closed');
  } catch (e) {
    return e;
  }
}

/**
 * How long a socket opened ahead of a run (on the Run button's press, before its click) waits
 * for its run. The server closes a socket that has not sent `init` within a second from its
 * upgrade; the page gives up on it well before, so a run never takes a socket about to close.
 */
export const SOCKET_AHEAD_MS = 500;

function openSocket() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // The page session goes as a subprotocol: a browser cannot set a WebSocket's headers.
  return new WebSocket(`${scheme}//${location.host}/api/v1/ws`, auth.protocols());
}

/** The socket opened ahead of the next run, if any: `{socket, timer}`. */
let ahead = null;

/**
 * Open the next run's WebSocket now, as the Run button is pressed: its handshake (a TCP
 * connection and an HTTP upgrade, two round trips, more with TLS) then overlaps the press,
 * and the click sends `init` on an open socket. One not taken within SOCKET_AHEAD_MS is
 * closed unused (the server starts nothing for a socket without `init`).
 */
export function openSocketAhead() {
  if (ahead) return;
  const socket = openSocket();
  ahead = { socket, timer: setTimeout(() => takeSocketAhead()?.close(1000), SOCKET_AHEAD_MS) };
}

/** The socket opened ahead, if it is still opening or open (it is the caller's now). */
function takeSocketAhead() {
  const taken = ahead;
  ahead = null;
  if (!taken) return null;
  clearTimeout(taken.timer);
  if (taken.socket.readyState === WebSocket.CONNECTING || taken.socket.readyState === WebSocket.OPEN) return taken.socket;
  return null;
}

/**
 * One interactive run over `/api/v1/ws`, on the socket opened ahead when there is one, else a
 * new one. `handlers`: `runtime({language, version})`, `stage(name)`, `data(stream, text)`,
 * `exit(message)` (per stage), `error(ApiError)` (the run could not start or the server
 * refused it), `close()` (always last).
 */
export class RunSession {
  constructor(init, handlers) {
    this.handlers = handlers;
    this.opened = false;
    this.failed = false;
    this.finished = false;
    this.socket = takeSocketAhead() ?? openSocket();
    // The server closes a socket that has not sent `init` within a second: send it at once.
    const start = () => {
      this.opened = true;
      this.send({ type: 'init', ...init });
    };
    if (this.socket.readyState === WebSocket.OPEN) start();
    else this.socket.addEventListener('open', start);
    this.socket.addEventListener('message', (event) => this.onMessage(event.data));
    this.socket.addEventListener('close', (event) => this.onClose(event));
  }

  send(message) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  /** Send text to the program's stdin. */
  write(text) {
    this.send({ type: 'data', stream: 'stdin', data: text });
  }

  /** Close the program's stdin (end of file). */
  eof() {
    this.send({ type: 'eof' });
  }

  /** Stop the program now. */
  kill() {
    this.send({ type: 'kill' });
  }

  onMessage(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    const h = this.handlers;
    switch (message.type) {
      case 'runtime':
        h.runtime?.(message);
        break;
      case 'stage':
        h.stage?.(message.stage);
        break;
      case 'data':
        h.data?.(message.stream, message.data);
        break;
      case 'exit':
        h.exit?.(message);
        break;
      case 'waiting':
        h.waiting?.(message);
        break;
      case 'error':
        this.failed = true;
        h.error?.(errorFromMessage(message.message));
        break;
      default:
        break;
    }
  }

  async onClose(event) {
    if (this.finished) return;
    this.finished = true;
    if (!this.opened && !this.failed) {
      this.failed = true;
      this.handlers.error?.(await whyNoSocket());
    } else if (!this.failed && event.code !== 4999 && event.code !== 1000) {
      this.handlers.error?.(new ApiError(0, event.reason || `connection closed (${event.code})`));
    }
    this.handlers.close?.();
  }
}

/** An `error` message of the socket. A full server says so in words; keep its advice. */
function errorFromMessage(text) {
  const message = String(text || '');
  const busy = /too many|capacity|busy|retry/i.test(message);
  const seconds = /(\d+)\s*s(econds?)?\b/i.exec(message);
  return new ApiError(busy ? 429 : 400, message, busy && seconds ? Number(seconds[1]) : null);
}
