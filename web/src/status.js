// A run's status in plain words. The statuses are the engine's (`ok`, `time_limit`...); the
// page only words them.
import { t } from './i18n.js';

const KNOWN = new Set([
  'ok',
  'runtime_error',
  'signal',
  'time_limit',
  'wall_time_limit',
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

/** A test's verdict in words. */
export function describeVerdict(verdict) {
  return t(`verdict.${verdict}`);
}

/** A refused request (an ApiError) in words: 429 says how long to wait. */
export function describeRefusal(error) {
  if (error.status === 429) return t('status.tooMany', { seconds: error.retryAfter ?? 5 });
  if (error.status === 503) return t('status.unavailable', { seconds: error.retryAfter ?? 5 });
  if (error.status === 0) return t('status.unreachable');
  if (error.status === 401) return t('key.needed');
  return t('status.serverError', { message: error.message });
}
