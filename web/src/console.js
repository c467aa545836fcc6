// The console beside the editor: the program's output as it streams (stdout and stderr told
// apart), what the student typed, images the program wrote, and the status line.
import { onLocaleChange, t } from './i18n.js';

/** Stick to the bottom while the student has not scrolled up to read. */
const STICKY_PX = 24;
/** A hidden tab gets no animation frames: its output is still shown this often. */
const FLUSH_HIDDEN_MS = 250;
/** Lines of output per console block (one DOM element, laid out only while in view). */
export const BLOCK_LINES = 500;
/** The console's line height in em (style.css `.output`), a sealed block's size out of view. */
const LINE_EM = 1.5;

/** Lines ended in `text`. */
function countLines(text) {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Where the first `lines` lines of `text` end (all of it when it has fewer). */
function endOfLines(text, lines) {
  let at = -1;
  for (let n = 0; n < lines; n++) {
    at = text.indexOf('\n', at + 1);
    if (at === -1) return text.length;
  }
  return at + 1;
}

export class Console {
  constructor({ output, status }) {
    this.output = output;
    this.status = status;
    this.last = null;
    this.pending = [];
    this.scheduled = false;
    /** Notes worded by a function: worded again in another language. */
    this.notes = [];
    onLocaleChange(() => {
      for (const { p, words } of this.notes) if (p.isConnected) p.textContent = words();
    });
    this.clear();
  }

  clear() {
    this.pending = [];
    this.notes = [];
    this.output.replaceChildren();
    this.block = null;
    this.last = null;
    const empty = document.createElement('p');
    empty.className = 'console-empty';
    empty.dataset.i18n = 'console.empty';
    empty.textContent = t('console.empty');
    this.output.append(empty);
  }

  /** Start a fresh run: nothing from before. */
  reset() {
    this.pending = [];
    this.notes = [];
    this.output.replaceChildren();
    this.block = null;
    this.last = null;
  }

  atBottom() {
    const o = this.output;
    return o.scrollHeight - o.scrollTop - o.clientHeight < STICKY_PX;
  }

  append(node) {
    this.flush();
    const stick = this.atBottom();
    this.output.querySelector('.console-empty')?.remove();
    this.output.append(node);
    // Output after this node starts a new block below it.
    this.block = null;
    this.last = null;
    if (stick) this.output.scrollTop = this.output.scrollHeight;
  }

  /**
   * Output of the program: `stream` is stdout, stderr or stdin (the student's echo). Pieces
   * are gathered and shown once per frame: a program printing a megabyte in thousands of
   * messages must not cost a layout each.
   */
  write(stream, text) {
    if (!text) return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.stream === stream) last.text += text;
    else this.pending.push({ stream, text });
    if (!this.scheduled) {
      this.scheduled = true;
      const flush = () => this.flush();
      if (document.hidden) setTimeout(flush, FLUSH_HIDDEN_MS);
      else requestAnimationFrame(flush);
    }
  }

  /**
   * Show the gathered output now (before anything that must come after it). Output goes into
   * blocks of at most BLOCK_LINES lines; a full block is never touched again, and the browser
   * lays out only the blocks in view (`content-visibility: auto`), so 100,000 lines cost what
   * a screenful does. Within a block, one span per stream run, one text node per frame.
   */
  flush() {
    this.scheduled = false;
    if (!this.pending.length) return;
    const stick = this.atBottom();
    this.output.querySelector('.console-empty')?.remove();
    const added = document.createDocumentFragment();
    for (const { stream, text } of this.pending) {
      let rest = text;
      while (rest) {
        if (!this.block || this.blockLines >= BLOCK_LINES) this.newBlock(added);
        const room = BLOCK_LINES - this.blockLines;
        const cut = endOfLines(rest, room);
        const piece = rest.slice(0, cut);
        rest = rest.slice(cut);
        this.blockLines += countLines(piece);
        if (this.last && this.last.dataset.stream === stream && this.last.parentNode === this.block) {
          this.last.append(piece);
        } else {
          const span = document.createElement('span');
          span.className = `out out-${stream}`;
          span.dataset.stream = stream;
          span.textContent = piece;
          this.block.append(span);
          this.last = span;
        }
        if (this.blockLines >= BLOCK_LINES) this.sealBlock();
      }
    }
    this.pending = [];
    if (added.childNodes.length) this.output.append(added);
    if (stick) this.output.scrollTop = this.output.scrollHeight;
  }

  /** A new block for output, added with this frame's others. */
  newBlock(into) {
    this.block = document.createElement('div');
    this.block.className = 'out-block';
    this.blockLines = 0;
    this.last = null;
    into.append(this.block);
  }

  /** A full block: its size is known, so it can stand in for it while out of view. */
  sealBlock() {
    this.block.style.containIntrinsicBlockSize = `auto ${BLOCK_LINES * LINE_EM}em`;
    this.block = null;
    this.last = null;
  }

  /**
   * A line from the page itself (not the program's output): its text, or a function that
   * words it, called again when the page's language changes.
   */
  note(text) {
    const p = document.createElement('p');
    p.className = 'console-note';
    if (typeof text === 'function') {
      p.textContent = text();
      this.notes.push({ p, words: text });
    } else {
      p.textContent = text;
    }
    this.append(p);
  }

  /** Images the program wrote (`files` of the run's exit). SVG only ever as an <img>. */
  files(files) {
    for (const file of files || []) {
      if (file.content_base64) {
        const figure = document.createElement('figure');
        figure.className = 'console-image';
        const img = document.createElement('img');
        img.src = `data:${file.mime};base64,${file.content_base64}`;
        img.alt = file.name;
        const caption = document.createElement('figcaption');
        caption.textContent = file.name;
        figure.append(img, caption);
        this.append(figure);
      } else if (file.skipped) {
        this.note(t('files.skipped', { name: file.name, reason: file.skipped }));
      }
    }
  }

  /**
   * The status line: `kind` is a CSS state (idle, busy, ok, error), `text` the words,
   * `measure` time and memory, `line` an error line with `onLine` to go to it.
   */
  setStatus({ kind, text, measure = null, line = null, onLine = null }) {
    this.flush();
    const parts = [];
    const dot = document.createElement('span');
    dot.className = 'status-dot';
    dot.setAttribute('aria-hidden', 'true');
    const words = document.createElement('span');
    words.className = 'status-text';
    words.textContent = text;
    parts.push(dot, words);
    if (measure) {
      const m = document.createElement('span');
      m.className = 'status-measure';
      m.textContent = measure;
      parts.push(m);
    }
    if (line) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'link status-line';
      b.textContent = t('status.gotoLine', { line: line.line });
      b.addEventListener('click', () => onLine?.(line));
      parts.push(b);
    }
    this.status.dataset.state = kind;
    this.status.replaceChildren(...parts);
  }
}

/** Time and memory of a stage in plain numbers (`0.04 s · 9.0 MB`). */
export function measure(stage) {
  if (!stage || stage.wall_time_ms === undefined) return null;
  const time = ((stage.cpu_time_ms ?? stage.wall_time_ms) / 1000).toFixed(2);
  const memory = ((stage.memory_kb || 0) / 1024).toFixed(1);
  return t('status.measure', { time, memory });
}
