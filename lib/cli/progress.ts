import { UNPRINTABLE } from '../encoding.js';
import type { LogFields, Logger, LogLevel } from '../log.js';
import { clock } from '../time.js';
import { formatBytes, formatEta, formatRate } from '../units.js';

/** Every unprintable character of a name, replaced for the display (made once, not per redraw). */
const EVERY_UNPRINTABLE = new RegExp(UNPRINTABLE.source, 'g');

/**
 * The time constant of each of the two smoothing stages of the rate the display shows (about 3 s
 * of memory in all). Long enough that the ETA does not jump with the bursts and pauses of a
 * congestion-controlled flow (its rate swings within round trips and probe cycles of a second or
 * less), short enough that a lasting change of speed shows within a few seconds.
 */
export const RATE_TIME_CONSTANT_MS = 1500;
/**
 * A transfer that has moved nothing for this long shows `stalled` instead of a rate and an ETA:
 * a flow that is alive acknowledges new data many times a second, and a lost datagram is sent
 * again within a retransmission timeout (a second or less on most paths).
 */
export const STALLED_AFTER_MS = 3000;
/** A rate is shown once its samples span this long. */
export const MIN_RATE_SPAN_MS = 1000;
/** How often a bar is drawn again (and the rate sampled). */
export const REDRAW_MS = 200;

/**
 * A byte rate smoothed over time: two exponentially weighted moving averages in a row (a
 * second-order low-pass, which flattens periodic bursts far more than one stage of the same lag),
 * each sample weighing by the time it covers, so irregular samples do not bias it. It starts from
 * the plain average of its first MIN_RATE_SPAN_MS, not from zero. Times are milliseconds on any
 * monotonic clock.
 */
export class RateSmoother {
  readonly #timeConstantMs: number;
  #first: { at: number; bytes: number } | undefined;
  #last = { at: 0, bytes: 0 };
  #stages: [number, number] | undefined;

  constructor(timeConstantMs = RATE_TIME_CONSTANT_MS) {
    this.#timeConstantMs = timeConstantMs;
  }

  /** `bytes`: the total moved so far, at `now`. */
  sample(bytes: number, now: number): void {
    if (this.#first === undefined) {
      this.#first = { at: now, bytes };
      this.#last = { at: now, bytes };
      return;
    }
    const elapsed = now - this.#last.at;
    if (elapsed <= 0) return;
    if (this.#stages === undefined) {
      const span = now - this.#first.at;
      if (span >= MIN_RATE_SPAN_MS) {
        const average = ((bytes - this.#first.bytes) * 1000) / span;
        this.#stages = [average, average];
      }
    } else {
      const weight = 1 - Math.exp(-elapsed / this.#timeConstantMs);
      const instant = ((bytes - this.#last.bytes) * 1000) / elapsed;
      this.#stages[0] += weight * (instant - this.#stages[0]);
      this.#stages[1] += weight * (this.#stages[0] - this.#stages[1]);
    }
    this.#last = { at: now, bytes };
  }

  /** Bytes per second, or undefined until the samples span MIN_RATE_SPAN_MS (a shorter span says more about one burst than about the transfer). */
  get bytesPerSecond(): number | undefined {
    return this.#stages?.[1];
  }
}

/** What one transfer's bar shows at a moment. */
export interface ProgressState {
  name: string;
  done: number;
  size: number;
  /** Smoothed bytes per second; undefined until known. */
  rate: number | undefined;
  /** Nothing has moved for STALLED_AFTER_MS. */
  stalled: boolean;
}

/** One transfer's counts, its smoothed rate and whether it moves, on a clock the caller gives. */
export class TransferProgress {
  readonly name: string;
  readonly #smoother = new RateSmoother();
  #size = 0;
  #done = 0;
  #movedAt = 0;
  #started = false;

  constructor(name: string) {
    this.name = name;
  }

  /** The transfer starts at byte `offset` of `size`. */
  start(offset: number, size: number, now: number): void {
    this.#started = true;
    this.#size = size;
    this.#done = offset;
    this.#movedAt = now;
    this.#smoother.sample(offset, now);
  }

  /** `done`: bytes of the file the receiver has, counted from its first byte. */
  update(done: number, now: number): void {
    if (done === this.#done) return;
    this.#done = done;
    this.#movedAt = now;
  }

  /** The transfer has started moving data (its offer was accepted). */
  get started(): boolean {
    return this.#started;
  }

  get done(): number {
    return this.#done;
  }

  get size(): number {
    return this.#size;
  }

  /** Samples the rate at `now` and says what to show. */
  state(now: number): ProgressState {
    this.#smoother.sample(this.#done, now);
    return { name: this.name, done: this.#done, size: this.#size, rate: this.#smoother.bytesPerSecond, stalled: now - this.#movedAt >= STALLED_AFTER_MS };
  }

  /** How far it got, for a failure: `68.7 MiB of 86.9 MiB (79%)`. */
  describe(): string {
    return `${formatBytes(this.#done)} of ${formatBytes(this.#size)} (${percent(this.#done, this.#size)}%)`;
  }
}

const BAR_MAX = 30;
const BAR_MIN = 10;
/** The bar goes before the name is cut shorter than this. */
const NAME_MIN = 16;
/** The widest a size, a rate and an ETA are written: `1023.9 KiB`, `999.9 MB/s`, `59m59s`. */
const BYTES_WIDTH = 10;
const RATE_WIDTH = 10;
const ETA_WIDTH = 6;
/** Columns of a terminal that does not say. */
const DEFAULT_COLUMNS = 80;

/**
 * The bar's text, at most `columns - 1` wide (a full last column makes many terminals wrap). The
 * percentage, sizes, rate and ETA always fit; the bar shrinks, then goes, and the name is cut in
 * the middle (its start and its extension are what tell files apart) to leave them room.
 */
export function progressLine(state: ProgressState, columns = DEFAULT_COLUMNS): string {
  // Fields keep their widths as their values change, so the bar does not change length from one redraw to the next.
  const size = formatBytes(state.size);
  const rate = state.rate === undefined ? '--' : formatRate(state.rate);
  const eta = state.rate === undefined || state.rate <= 0 ? '--' : formatEta((state.size - state.done) / state.rate);
  const moving = `${rate.padStart(RATE_WIDTH)} | ETA ${eta.padEnd(ETA_WIDTH)}`;
  const speed = state.stalled ? 'stalled'.padEnd(moving.length) : moving;
  const info = `${String(percent(state.done, state.size)).padStart(3)}% | ${formatBytes(state.done).padStart(Math.max(size.length, BYTES_WIDTH))}/${size} | ${speed}`;
  const name = state.name.replace(EVERY_UNPRINTABLE, '?');
  const room = columns - 1 - info.length - 1;
  let bar = Math.min(BAR_MAX, room - displayWidth(name) - 3);
  if (bar < BAR_MIN) bar = room - BAR_MIN - 3 >= NAME_MIN ? BAR_MIN : 0;
  const shown = truncateMiddle(name, room - (bar > 0 ? bar + 3 : 0));
  const filled = state.size === 0 ? bar : Math.round((bar * state.done) / state.size);
  const line = `${shown}${bar > 0 ? ` [${'='.repeat(filled)}${' '.repeat(bar - filled)}]` : ''} ${info}`;
  // A terminal too narrow even for the numbers gets what fits rather than a wrapped mess.
  return truncateEnd(line, columns - 1);
}

/** Whole percent, never 100 before the end. */
function percent(done: number, size: number): number {
  if (size === 0) return 100;
  return Math.min(100, Math.floor((100 * done) / size));
}

/** `text` cut to `width` columns with `…` in the middle, or as it is when it fits. */
export function truncateMiddle(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  const chars = Array.from(text);
  const headWidth = Math.ceil((width - 1) / 2);
  const tailWidth = width - 1 - headWidth;
  const tail = Array.from(takeWidth([...chars].reverse(), tailWidth)).reverse().join('');
  return `${takeWidth(chars, headWidth)}…${tail}`;
}

function truncateEnd(text: string, width: number): string {
  return displayWidth(text) <= width ? text : takeWidth(Array.from(text), width);
}

/** The leading characters of `chars` that fill at most `width` columns. */
function takeWidth(chars: readonly string[], width: number): string {
  let used = 0;
  let out = '';
  for (const c of chars) {
    const w = charWidth(c);
    if (used + w > width) break;
    used += w;
    out += c;
  }
  return out;
}

/** Columns `text` takes on a terminal: East Asian wide characters and most emoji take two. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const c of text) width += charWidth(c);
  return width;
}

function charWidth(c: string): number {
  const code = c.codePointAt(0)!;
  // Combining marks take no column of their own.
  if (code >= 0x300 && code <= 0x36f) return 0;
  return WIDE.some(([from, to]) => code >= from && code <= to) ? 2 : 1;
}

/** Unicode's East Asian Wide and Fullwidth blocks, and the emoji planes (a close approximation of wcwidth). */
const WIDE: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f], [0xff00, 0xff60], [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0x20000, 0x3fffd],
];

/**
 * The terminal line progress is drawn on. Anything else written to the terminal must clear it
 * first (clearingLogger does for log lines), or the line would be left half drawn with the text
 * run on behind it; the bar comes back at its next redraw.
 */
export class StatusLine {
  readonly #stream: NodeJS.WriteStream;
  #drawn = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
  }

  get columns(): number | undefined {
    return this.#stream.columns;
  }

  draw(text: string): void {
    this.#stream.write(`\r${text}\x1b[K`);
    this.#drawn = true;
  }

  clear(): void {
    if (!this.#drawn) return;
    this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }
}

/** `log`, clearing `line` before each line it writes. */
export function clearingLogger(log: Logger, line: StatusLine): Logger {
  const clearFirst = (level: LogLevel) => (message: string, fields?: LogFields): void => {
    line.clear();
    log[level](message, fields);
  };
  return {
    isEnabled: (level) => log.isEnabled(level),
    debug: clearFirst('debug'),
    info: clearFirst('info'),
    warn: clearFirst('warn'),
    error: clearFirst('error'),
  };
}

/** Draws one transfer's bar on the status line, REDRAW_MS apart, and clears it when done. */
export class ProgressBar {
  readonly #line: StatusLine;
  readonly #progress: TransferProgress;
  #timer: NodeJS.Timeout | undefined;

  constructor(progress: TransferProgress, line: StatusLine) {
    this.#progress = progress;
    this.#line = line;
  }

  start(): void {
    this.#draw();
    this.#timer = setInterval(() => this.#draw(), REDRAW_MS);
    // The bar never keeps the process alive on its own.
    this.#timer.unref();
  }

  /** Clears the bar, so what is logged next starts at the line's first column. */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#line.clear();
  }

  #draw(): void {
    this.#line.draw(progressLine(this.#progress.state(clock()), this.#line.columns));
  }
}
