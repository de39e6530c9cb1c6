/**
 * Progress bars, Python's `tqdm` as the seeds use it with a pool: wrap an iterable in
 * {@link progress}, or drive a {@link ProgressBar} from `applyAsync` callbacks.
 *
 * The bar is one line on stderr, redrawn in place with a carriage return:
 * `label:  45%|████▌     | 450/1000 [00:02<00:03, 210.5it/s]`. It is drawn only on an
 * interactive terminal (the stream is a TTY, `TERM` is not `dumb`, and `CI` is not set), never
 * into a pipe, a file or a CI log. It uses no colour and no escape sequence, so `NO_COLOR` and
 * plain terminals need nothing special.
 * @module
 */
import { ProcessError } from './errors.js';

/** Options of {@link progress} and {@link ProgressBar}. */
export interface ProgressOptions {
  /**
   * Number of items expected. {@link progress} takes it from the iterable's `length` or `size`
   * when not given. Without a total the bar shows the count and rate only: `42it [00:01, 40.1it/s]`.
   */
  total?: number;
  /** Text before the bar, like tqdm's `desc`: `label: 45%|…`. */
  label?: string;
  /** Where to draw; default `process.stderr`. Nothing is drawn unless `stream.isTTY` is true. */
  stream?: {
    /** Writes text to the terminal. */
    write(text: string): unknown;
    /** True for an interactive terminal. */
    readonly isTTY?: boolean;
    /** Width of the terminal in characters. */
    readonly columns?: number;
  };
  /** Least time between two redraws, in milliseconds; default 100. The last update is always shown. */
  minIntervalMs?: number;
  /** Width of the line in columns (tqdm's `ncols`); default, and at most, the terminal's width. */
  width?: number;
  /** Name of one item in the count and rate, like tqdm's `unit`; default `'it'` (`210.5it/s`). */
  unit?: string;
}

/**
 * Test hooks, not part of the public API.
 * @internal
 */
export interface ProgressInternalOptions extends ProgressOptions {
  /** Clock in milliseconds; default `performance.now`. */
  now?: () => number;
  /** Environment consulted for `TERM` and `CI`; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
// The rate is an exponential moving average weighted by time: a sample spanning dt ms counts
// for 1 - exp(-dt / SMOOTHING_MS), so bursts (a pool's chunks) are evened out over a few
// seconds, and the first sample after a long pause counts almost alone.
const SMOOTHING_MS = 3000;
const MIN_BAR = 3; // narrowest bar worth drawing, in columns

function describe(v: unknown): string {
  return typeof v === 'string' ? `'${v}' (string)` : v === null ? 'null' : typeof v === 'number' ? String(v) : typeof v;
}

function checkNumber(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name} must be a number; received ${describe(v)}`);
  if (v < min) throw new RangeError(`${name} must be ${min} or more; received ${v}`);
  return v;
}

function checkString(v: unknown, name: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string; received ${describe(v)}`);
  return v;
}

/** A total of `Infinity` means unknown, as in tqdm. */
function checkTotal(v: unknown, name: string): number | undefined {
  const total = checkNumber(v, name, 0);
  return total === Infinity ? undefined : total;
}

/** Columns a code point takes on a terminal: 0 (combining), 1, or 2 (East Asian wide). */
function charWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (cp < 0x1100) return 1;
  return (cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) || (cp >= 0x3041 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd)
    ? 2
    : 1;
}

/**
 * Columns a string takes on a terminal.
 * @internal
 */
export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += charWidth(ch.codePointAt(0) ?? 0);
  return w;
}

/** The longest start of `text` that fits in `columns`, with `…` when cut. */
function fit(text: string, columns: number): string {
  if (displayWidth(text) <= columns) return text;
  if (columns <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of text) {
    const cw = charWidth(ch.codePointAt(0) ?? 0);
    if (w + cw > columns - 1) break;
    out += ch;
    w += cw;
  }
  return out + '…';
}

/** `mm:ss`, or `h:mm:ss` from an hour on (tqdm's format). */
function formatTime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.floor(seconds);
  const two = (n: number): string => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
}

/** 3 or 4 significant digits, then k and M: `2.50`, `45.20`, `210.5`, `12.3k`, `1.75M`. */
function formatRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(x >= 100 ? 1 : 2);
}

function formatCount(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

/** Whether to draw at all: an interactive terminal, as `is-interactive` and most CLIs judge it. */
function interactive(stream: ProgressOptions['stream'], env: Readonly<Record<string, string | undefined>>): boolean {
  if (stream?.isTTY !== true || env.TERM === 'dumb') return false;
  const ci = env.CI;
  return ci === undefined || ci === '' || ci === '0' || ci === 'false';
}

/** The options checked, with their defaults. */
function resolveOptions(options: unknown) {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options must be an object like { total, label }; received ${describe(options)}`);
  }
  const o = options as ProgressInternalOptions;
  const stream = o.stream ?? process.stderr;
  if (typeof stream !== 'object' || stream === null || typeof stream.write !== 'function') {
    throw new TypeError(`options.stream must be a writable stream like process.stderr; received ${describe(stream)}`);
  }
  return {
    total: checkTotal(o.total, 'options.total'),
    label: checkString(o.label, 'options.label') ?? '',
    unit: checkString(o.unit, 'options.unit') ?? 'it',
    minIntervalMs: checkNumber(o.minIntervalMs, 'options.minIntervalMs', 0) ?? 100,
    width: checkNumber(o.width, 'options.width', 1),
    stream,
    now: o.now ?? ((): number => performance.now()),
    env: o.env ?? process.env,
  };
}

/**
 * A progress bar driven by hand, Python's `tqdm(total=…)` with `update()`: for results that
 * arrive through callbacks.
 *
 * ```ts
 * const bar = new ProgressBar({ total: 10, label: 'Sleep' });
 * for (let i = 0; i < 10; i++) pool.applyAsync(work, [i], { callback: () => bar.update() });
 * pool.close();
 * await pool.join();
 * bar.close();
 * ```
 *
 * The bar is drawn at once (at 0), redrawn at most every `minIntervalMs` as it advances (an
 * update that comes too soon is drawn when the interval ends, by a timer that never keeps the
 * program alive), and finished with a newline by {@link ProgressBar.close} (or `using`). On a
 * stream that is not an interactive terminal it counts but draws nothing.
 */
export class ProgressBar implements Disposable {
  #count = 0;
  #total: number | undefined;
  #label: string;
  readonly #stream: NonNullable<ProgressOptions['stream']>;
  readonly #minInterval: number;
  readonly #width: number | undefined;
  readonly #unit: string;
  readonly #now: () => number;
  readonly #enabled: boolean;
  readonly #start: number;
  #closed = false;
  #lastDraw = -Infinity;
  #line = ''; // the line on screen
  #sampleTime: number;
  #sampleCount = 0;
  #lastUpdate: number; // time of the latest update that changed the count
  #rate: number | undefined; // smoothed items per second
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Creates the bar and, on an interactive terminal, draws it at 0. */
  constructor(options: ProgressOptions = {}) {
    const o = resolveOptions(options);
    this.#total = o.total;
    this.#label = o.label;
    this.#unit = o.unit;
    this.#minInterval = o.minIntervalMs;
    this.#width = o.width;
    this.#stream = o.stream;
    this.#now = o.now;
    this.#enabled = interactive(o.stream, o.env);
    this.#start = this.#sampleTime = this.#lastUpdate = this.#now();
    if (this.#enabled) this.#draw(this.#start);
  }

  /** Items counted so far. */
  get count(): number {
    return this.#count;
  }

  /** Items expected, or `undefined` when unknown; may be set later (tqdm's `pbar.total = n`). */
  get total(): number | undefined {
    return this.#total;
  }

  /** Changes the expected total (redraws). */
  set total(value: number | undefined) {
    this.#total = checkTotal(value, 'total');
    this.#refresh();
  }

  /** Text before the bar; may be changed while it runs (tqdm's `set_description`, `pbar.desc = …`). */
  get label(): string {
    return this.#label;
  }

  /** Changes the label (redraws). */
  set label(value: string) {
    this.#label = checkString(value, 'label') ?? '';
    this.#refresh();
  }

  /** Whether {@link ProgressBar.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds `n` (default 1) to the count and redraws if `minIntervalMs` has passed since the last
   * redraw. Counting continues after `close()`, without drawing.
   */
  update(n = 1): void {
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      throw new TypeError(`n must be a finite number; received ${describe(n)}`);
    }
    this.#count += n;
    if (!this.#enabled || this.#closed) return;
    const t = this.#now();
    if (n !== 0) this.#lastUpdate = t;
    this.#refresh(t);
  }

  /** Draws the final state and ends the line, leaving the terminal clean. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#enabled) {
      this.#draw(this.#now(), true);
      this.#stream.write('\n');
    }
  }

  /** `using` support: {@link ProgressBar.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Redraws now if the interval allows, else once it has passed. */
  #refresh(t = this.#now()): void {
    if (!this.#enabled || this.#closed) return;
    const wait = this.#minInterval - (t - this.#lastDraw);
    if (wait <= 0) {
      this.#draw(t);
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (!this.#closed) this.#draw(this.#now());
      }, wait);
      this.#timer.unref?.();
    }
  }

  #draw(t: number, final = false): void {
    this.#lastDraw = t;
    // A rate sample runs from one update to another (not to the redraw, which would count the
    // time since the latest update as time with no progress).
    const dt = this.#lastUpdate - this.#sampleTime;
    if (dt > 0 && this.#count !== this.#sampleCount) {
      const sample = ((this.#count - this.#sampleCount) * 1000) / dt;
      const weight = 1 - Math.exp(-dt / SMOOTHING_MS);
      this.#rate = this.#rate === undefined ? sample : weight * sample + (1 - weight) * this.#rate;
      this.#sampleTime = this.#lastUpdate;
      this.#sampleCount = this.#count;
    }
    const line = this.#render(t, final);
    if (line === this.#line) return;
    const pad = Math.max(0, displayWidth(this.#line) - displayWidth(line));
    this.#stream.write(`\r${line}${' '.repeat(pad)}`);
    this.#line = line;
  }

  #render(t: number, final: boolean): string {
    const columns = this.#stream.columns !== undefined && this.#stream.columns > 0 ? this.#stream.columns : 80;
    // Keep the last column free: a line that fills it wraps on some terminals.
    const room = Math.max(1, Math.min(this.#width ?? columns, columns) - 1);
    const elapsed = (t - this.#start) / 1000;
    // The final line shows the average rate; a running one, the smoothed recent rate.
    const rate = final ? (elapsed > 0 ? this.#count / elapsed : undefined) : this.#rate;
    const unit = this.#unit;
    const rateText =
      rate === undefined || !(rate > 0)
        ? `?${unit}/s`
        : rate >= 1
          ? `${formatRate(rate)}${unit}/s`
          : `${formatRate(1 / rate)}s/${unit}`;
    let label = this.#label.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
    label = label === '' ? '' : `${label}: `;
    const count = formatCount(this.#count);
    const total = this.#total;

    if (total === undefined || total === 0) {
      const stats = `${count}${unit} [${formatTime(elapsed)}, ${rateText}]`;
      return fit(fit(label, room - displayWidth(stats)) + stats, room);
    }

    const done = Math.min(Math.max(this.#count / total, 0), 1);
    const remaining = Math.max(total - this.#count, 0);
    const eta = remaining === 0 ? formatTime(0) : rate !== undefined && rate > 0 ? formatTime(remaining / rate) : '?';
    const percent = `${String(Math.floor(done * 100)).padStart(3)}%`;
    const stats = `${count}/${formatCount(total)} [${formatTime(elapsed)}<${eta}, ${rateText}]`;
    const fixed = displayWidth(percent) + 3 + displayWidth(stats); // "|" + bar + "| " around the bar
    if (displayWidth(label) + fixed + MIN_BAR > room) label = fit(label, room - fixed - MIN_BAR);
    const barWidth = room - displayWidth(label) - fixed;
    if (barWidth < 1) return fit(`${label}${percent} ${stats}`, room);
    const cells = done * barWidth;
    const full = Math.floor(cells);
    const part = full < barWidth ? EIGHTHS[Math.floor((cells - full) * 8)] : '';
    const bar = '█'.repeat(full) + part;
    return `${label}${percent}|${bar}${' '.repeat(barWidth - displayWidth(bar))}| ${stats}`;
  }
}

function sizeOf(iterable: object | string): number | undefined {
  const { length, size } = iterable as { length?: unknown; size?: unknown };
  const n = typeof length === 'number' ? length : typeof size === 'number' ? size : undefined;
  return n !== undefined && Number.isFinite(n) && n >= 0 ? n : undefined;
}

function isSyncIterable<T>(x: Iterable<T> | AsyncIterable<T>): x is Iterable<T> {
  return typeof (x as Partial<Iterable<T>>)[Symbol.iterator] === 'function';
}

/**
 * Yields the items of `iterable` unchanged, in order, drawing a progress bar on stderr as they
 * are consumed (Python's `for x in tqdm(xs)`):
 *
 * ```ts
 * for await (const result of progress(pool.imap(work, files), { total: files.length, label: 'files' })) {
 *   save(result);
 * }
 * ```
 *
 * An item counts once the loop body has run for it and asks for the next one. `total`
 * defaults to the iterable's `length` or `size` (arrays, typed arrays, `Set`, `Map`). The bar
 * is created when the iteration starts and closed with a final line when it ends, throws, or is
 * left by `break` (which also ends the wrapped iterator). A sync iterable may also be consumed
 * with a plain `for…of`. The result can be iterated once. Options are those of
 * {@link ProgressBar}.
 */
export function progress<T>(iterable: Iterable<T>, options?: ProgressOptions): AsyncIterableIterator<T> & Iterable<T>;
export function progress<T>(iterable: AsyncIterable<T>, options?: ProgressOptions): AsyncIterableIterator<T>;
export function progress<T>(iterable: Iterable<T> | AsyncIterable<T>, options?: ProgressOptions): AsyncIterableIterator<T>;
export function progress<T>(
  iterable: Iterable<T> | AsyncIterable<T>,
  options: ProgressOptions = {},
): AsyncIterableIterator<T> {
  const source: unknown = iterable;
  const isIterable =
    (typeof source === 'object' && source !== null) || typeof source === 'string'
      ? typeof (source as Partial<Iterable<T>>)[Symbol.iterator] === 'function' ||
        typeof (source as Partial<AsyncIterable<T>>)[Symbol.asyncIterator] === 'function'
      : false;
  if (!isIterable) throw new TypeError(`iterable must be an iterable or an async iterable; received ${describe(source)}`);
  resolveOptions(options); // bad options throw at the call, not at the first item
  const barOptions: ProgressOptions = { ...options, total: options.total ?? sizeOf(iterable) };

  let started = false;
  const open = (): ProgressBar => {
    if (started) throw new ProcessError('progress(): this iterator was already iterated; call progress() again');
    started = true;
    return new ProgressBar(barOptions);
  };

  async function* iterateAsync(): AsyncGenerator<T, void, undefined> {
    const bar = open();
    try {
      for await (const item of iterable) {
        yield item;
        bar.update();
      }
    } finally {
      bar.close();
    }
  }

  function* iterateSync(this: void): Generator<T, void, undefined> {
    const bar = open();
    try {
      for (const item of iterable as Iterable<T>) {
        yield item;
        bar.update();
      }
    } finally {
      bar.close();
    }
  }

  const it = iterateAsync();
  return isSyncIterable(iterable)
    ? Object.assign(it, { [Symbol.iterator]: iterateSync })
    : it;
}
