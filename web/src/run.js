// One run at a time: starts the interactive session, streams its output into the console,
// sends the student's input, stops it, and words how it ended.
import { RunSession } from './api.js';
import { t } from './i18n.js';
import { measure } from './console.js';
import { describeEnd, describeExit, describeRefusal } from './status.js';
import { errorLine } from './errorline.js';

/**
 * The wall-clock limit asked for an interactive run: a student answering `input()` needs time
 * to read and type, while the CPU limit (the runtime's default) still stops a busy loop.
 * Never more than the runtime's maximum.
 */
export const INTERACTIVE_WALL_MS = 60_000;
/** How long before the time for input runs out the student is warned (at most half of it). */
export const INPUT_WARN_BEFORE_MS = 30_000;

export class RunController {
  /**
   * `view`: the Console; `editor`: the Editor; `status(fn)`: show a status (a function, so it
   * can be worded again in another language); `state(running, acceptsInput)`; `onEnd({failed,
   * stopped, stderr})` when the program (or its compile) has ended.
   */
  constructor({ view, editor, status, state, onEnd = null }) {
    this.view = view;
    this.onEnd = onEnd;
    this.editor = editor;
    this.status = status;
    this.state = state;
    this.session = null;
  }

  get running() {
    return this.session !== null;
  }

  start(runtime, code) {
    if (this.session) return;
    const view = this.view;
    view.reset();
    this.editor.showErrorLine(null);
    this.stopped = false;
    this.ended = false;
    let stderr = '';
    const wall = Math.min(INTERACTIVE_WALL_MS, runtime.limits?.max?.wall_ms ?? INTERACTIVE_WALL_MS);
    this.status(() => ({ kind: 'busy', text: t('status.connecting') }));
    this.state(true, false);
    const init = { language: runtime.language, code, limits: { wall_ms: wall } };
    this.session = new RunSession(init, {
      stage: (stage) => {
        stderr = '';
        const compiling = stage === 'compile';
        this.status(() => ({ kind: 'busy', text: t(compiling ? 'status.compiling' : 'status.running') }));
        this.state(true, !compiling);
      },
      waiting: (message) => this.waiting(message),
      data: (stream, text) => {
        if (stream === 'stderr') stderr += text;
        view.write(stream === 'stderr' ? 'stderr' : 'stdout', text);
      },
      exit: (message) => {
        // The compiler's own failure (it exits non-zero) is what a student calls a compile error.
        const compileError = message.stage === 'compile' && message.status === 'runtime_error';
        const exit = compileError ? { ...message, status: 'compile_error' } : message;
        const failed = exit.status !== 'ok';
        // A compile stage that went well is followed by the run: only its end is final.
        if (exit.stage === 'compile' && !failed) return;
        // From the result to the console showing all of it (see the browser tests).
        performance.mark('run-exit');
        this.ended = true;
        this.waiting({ waiting: false, ended: true });
        const where = failed && !this.stopped ? errorLine(stderr, runtime.file) : null;
        if (where) this.editor.showErrorLine(where.line);
        // The limit in the page's language (worded again when it changes); output cut short
        // says so even when the run then ended another way.
        if (failed && !this.stopped && describeEnd(exit)) view.note(() => describeEnd(exit));
        else if (exit.truncated) view.note(() => t('console.cut'));
        view.files(exit.files);
        const stopped = this.stopped;
        this.status(() => ({ ...describeExit(exit, { stopped }), measure: measure(exit), line: where }));
        this.state(true, false);
        this.onEnd?.({ failed, stopped, stderr });
        requestAnimationFrame(() => performance.measure('run-rendered', 'run-exit'));
      },
      error: (error) => {
        this.ended = true;
        this.status(() => ({ kind: 'error', text: describeRefusal(error) }));
      },
      close: () => {
        this.session = null;
        this.waiting({ waiting: false, ended: true });
        if (!this.ended) {
          this.status(() => ({ kind: this.stopped ? 'stopped' : 'error', text: t(this.stopped ? 'status.stopped' : 'status.unreachable') }));
        }
        this.state(false, false);
      },
    });
  }

  /**
   * The program waits for input that was not sent (`waiting`), or goes on: say so, and warn
   * shortly before its time for input runs out. `input_wait_ms` is the server's budget for all
   * the run's waits together, `input_wait_left_ms` what is left of it as this wait begins.
   */
  waiting({ waiting, input_wait_ms: limit, input_wait_left_ms: left = limit, ended = false }) {
    clearTimeout(this.warnTimer);
    clearInterval(this.countdown);
    this.warnTimer = this.countdown = null;
    if (ended) return;
    if (!waiting) {
      this.status(() => ({ kind: 'busy', text: t('status.running') }));
      return;
    }
    this.status(() => ({ kind: 'busy', text: t('status.waiting') }));
    if (!limit) return;
    const ends = Date.now() + left;
    const warnIn = Math.max(0, left - Math.min(INPUT_WARN_BEFORE_MS, limit / 2));
    this.warnTimer = setTimeout(() => {
      const show = () => {
        const seconds = Math.max(0, Math.ceil((ends - Date.now()) / 1000));
        this.status(() => ({ kind: 'warning', text: t('status.waitingEnds', { seconds }) }));
      };
      show();
      this.countdown = setInterval(show, 1000);
    }, warnIn);
  }

  stop() {
    if (!this.session) return;
    this.stopped = true;
    this.session.kill();
  }

  /** A line the student typed, sent to the program's stdin and shown in the console. */
  send(line) {
    if (!this.session) return;
    this.session.write(`${line}\n`);
    this.view.write('stdin', `${line}\n`);
  }

  /** Close the program's stdin. */
  eof() {
    if (!this.session) return;
    this.session.eof();
    this.view.note(t('status.stdinClosed'));
    this.state(true, false);
  }
}
