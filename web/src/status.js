// A run's status in plain words. The statuses are the engine's (`ok`, `time_limit`...); the
// page only words them.
import { t } from './i18n.js';

const KNOWN = new Set([
  'ok',
  'runtime_error',
  'signal',
  'time_limit',
  'wall_time_limit',
  'input_wait_limit',
  'memory_limit',
  'output_limit',
  'file_size_limit',
  'compile_error',
  'internal_error',
]);

/** Linux's names of the signals a student's program is likely to meet (x86-64 and arm64). */
const SIGNALS = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  5: 'SIGTRAP',
  6: 'SIGABRT',
  7: 'SIGBUS',
  8: 'SIGFPE',
  9: 'SIGKILL',
  10: 'SIGUSR1',
  11: 'SIGSEGV',
  12: 'SIGUSR2',
  13: 'SIGPIPE',
  14: 'SIGALRM',
  15: 'SIGTERM',
  24: 'SIGXCPU',
  25: 'SIGXFSZ',
  31: 'SIGSYS',
};

/** A signal number as its name (`SIGSEGV`), or `signal N` for one without a name here. */
export function signalName(signal) {
  if (signal === null || signal === undefined) return '?';
  return SIGNALS[signal] ?? `signal ${signal}`;
}

/**
 * The words for a stage's `exit` (the native socket's: `status`, `exit_code`, `signal` as a
 * number), and whether it is a failure.
 */
export function describeExit(exit, { stopped = false } = {}) {
  // Stop kills the program: a signal. A limit reached before the click is still a limit.
  if (stopped && (exit.status === 'signal' || exit.status === 'runtime_error')) {
    return { kind: 'stopped', text: t('status.stopped') };
  }
  const status = KNOWN.has(exit.status) ? exit.status : 'internal_error';
  const text = t(`status.${status}`, { code: exit.exit_code ?? '?', signal: signalName(exit.signal) });
  return { kind: status === 'ok' ? 'ok' : 'error', text };
}

/** The limits the page words (`limit.name` without its `compile_` prefix). */
const LIMITS = new Set([
  'cpu_ms',
  'wall_ms',
  'memory_mb',
  'max_output_bytes',
  'max_file_size_bytes',
  'request_output_bytes',
  'request_wall_ms',
  'input_wait_ms',
]);

/**
 * The limit that ended a stage (the API's `limit: {name, value}`) in the page's language, or
 * null when none did (or the page does not know it: the API's English `message` then).
 */
export function describeLimit(limit) {
  if (!limit || typeof limit.name !== 'string') return null;
  const name = limit.name.replace(/^compile_/, '');
  if (!LIMITS.has(name)) return null;
  const value = Number(limit.value);
  return t(`limit.${name}`, {
    value,
    seconds: Number((value / 1000).toFixed(1)),
    minutes: Math.round(value / 60_000),
    kb: Math.round(value / 1024),
    duration: duration(value),
  });
}

/** Milliseconds as whole minutes when they are, else seconds (`5 分钟`, `3 秒`). */
export function duration(ms) {
  if (ms >= 60_000 && ms % 60_000 === 0) return t('time.minutes', { n: ms / 60_000 });
  return t('time.seconds', { n: Number((ms / 1000).toFixed(1)) });
}

/** What the console says under a failed stage: its limit in words, else the API's message. */
export function describeEnd(exit) {
  const limit = describeLimit(exit.limit);
  if (limit) return limit;
  if (exit.truncated) return t('console.cut');
  return exit.message || null;
}

/** A test's verdict in words. */
export function describeVerdict(verdict) {
  return t(`verdict.${verdict}`);
}

/** A refused request (an ApiError) in words: 429 says how long to wait. */
export function describeRefusal(error) {
  if (error.status === 429) return t('status.tooMany', { seconds: error.retryAfter ?? 5 });
  if (error.status === 503) return t('status.unavailable', { seconds: error.retryAfter ?? 5 });
  if (error.status === 507) return t('status.storageFull');
  if (error.status === 0) return t('status.unreachable');
  if (error.status === 401) return t('key.needed');
  return t('status.serverError', { message: error.message });
}
