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

/** The words for a stage's `exit` (`status`, `code`, `signal`), and whether it is a failure. */
export function describeExit(exit, { stopped = false } = {}) {
  // Stop kills the program: a signal. A limit reached before the click is still a limit.
  if (stopped && (exit.status === 'signal' || exit.status === 'runtime_error')) {
    return { kind: 'stopped', text: t('status.stopped') };
  }
  const status = KNOWN.has(exit.status) ? exit.status : 'internal_error';
  const text = t(`status.${status}`, { code: exit.code ?? '?', signal: exit.signal ?? '?' });
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
  return t('status.serverError', { message: error.message });
}
