/**
 * Progress bars: what is drawn on a terminal (a fake TTY), nothing elsewhere, items passed
 * through unchanged, the bar closed on every way out of a loop, redraws rate-limited.
 * A fake clock (`now`) and an empty environment (`env`) make every line deterministic.
 */
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { progress, ProgressBar, displayWidth, type ProgressOptions, type ProgressInternalOptions } from '../src/progress.js';

class FakeTTY {
  isTTY = true;
  chunks: string[] = [];
  constructor(public columns = 80) {}
  write(text: string): boolean {
    this.chunks.push(text);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
  /** The terminal's lines after the output: `\r` returns to the start of the line, `\n` ends it. */
  screen(): string[] {
    const lines: string[] = [];
    let line = '';
    let col = 0;
    for (const ch of this.text) {
      if (ch === '\r') col = 0;
      else if (ch === '\n') {
        lines.push(line.trimEnd());
        line = '';
        col = 0;
      } else {
        const chars = [...line];
        chars[col] = ch;
        line = chars.join('');
        col++;
      }
    }
    lines.push(line.trimEnd());
    return lines;
  }
}

/** A fake terminal and a clock at 0 that the test moves by hand. */
function setup(columns = 80, extra: ProgressInternalOptions = {}) {
  const stream = new FakeTTY(columns);
  const clock = { t: 0 };
  const options: ProgressInternalOptions = { stream, now: () => clock.t, env: {}, ...extra };
  return { stream, clock, options };
}

describe('ProgressBar drawing', () => {
  it('draws at 0 at once, then count, percent, total, label; close ends the line', () => {
    const { stream, clock, options } = setup();
    const bar = new ProgressBar({ ...options, total: 10, label: 'Sleep' });
    assert.match(stream.screen()[0], /^Sleep:   0%\| +\| 0\/10 \[00:00<\?, \?it\/s\]$/);
    for (let i = 1; i <= 5; i++) {
      clock.t = i * 1000;
      bar.update();
    }
    assert.equal(bar.count, 5);
    assert.equal(bar.total, 10);
    assert.match(stream.screen()[0], /^Sleep:  50%\|█+[▏▎▍▌▋▊▉]? +\| 5\/10 \[00:05<00:05, 1\.00it\/s\]$/);
    clock.t = 10_000;
    bar.update(5);
    bar.close();
    assert.ok(stream.text.endsWith('\n'));
    const lines = stream.screen();
    assert.equal(lines.length, 2);
    assert.equal(lines[1], '');
    assert.match(lines[0], /^Sleep: 100%\|█+\| 10\/10 \[00:10<00:00, 1\.00it\/s\]$/);
    assert.equal(displayWidth(lines[0]), 79, 'a full bar fills the line but the last column');
    bar.close(); // idempotent
    assert.equal(stream.screen().length, 2);
    assert.equal(bar.closed, true);
  });

  it("has tqdm's layout: partial blocks, it/s with one decimal from 100 on, ETA as mm:ss", () => {
    const { stream, clock, options } = setup(60);
    const bar = new ProgressBar({ ...options, total: 1000, label: 'label', minIntervalMs: 0 });
    for (let i = 1; i <= 450; i++) {
      clock.t = (i * 2000) / 450; // 225 items/s
      bar.update();
    }
    const line = stream.screen()[0];
    assert.match(line, /^label:  45%\|█+[▏▎▍▌▋▊▉]? +\| 450\/1000 \[00:02<00:02, 225\.0it\/s\]$/);
    assert.equal(displayWidth(line), 59);
    bar.close();
  });

  it('shows slow rates as s/it and long times as h:mm:ss', () => {
    const { stream, clock, options } = setup();
    const bar = new ProgressBar({ ...options, total: 4 });
    clock.t = 4_000;
    bar.update();
    assert.match(stream.screen()[0], /1\/4 \[00:04<00:12, 4\.00s\/it\]$/);
    clock.t = 2 * 3600_000;
    bar.update();
    assert.match(stream.screen()[0], /2\/4 \[2:00:00<\d+:\d\d:\d\d, [\d.]+s\/it\]$/);
    bar.close();
  });

  it('without a total shows the count, elapsed time and rate; unit is configurable', () => {
    const { stream, clock, options } = setup();
    const bar = new ProgressBar({ ...options, label: 'files', unit: 'file' });
    clock.t = 500;
    bar.update(20);
    assert.equal(stream.screen()[0], 'files: 20file [00:00, 40.00file/s]');
    bar.close();
    assert.equal(stream.screen()[0], 'files: 20file [00:00, 40.00file/s]');
  });

  it('smooths the rate: it moves towards a new pace without jumping to it', () => {
    const { stream, clock, options } = setup();
    const bar = new ProgressBar({ ...options, total: 10_000, minIntervalMs: 0 });
    for (let i = 1; i <= 100; i++) {
      clock.t = i * 10; // 100 it/s
      bar.update();
    }
    assert.match(stream.screen()[0], /100\.0it\/s\]$/);
    clock.t += 1; // one item 1 ms later: 1000 it/s for an instant
    bar.update();
    const rate = Number(/, ([\d.]+)it\/s\]$/.exec(stream.screen()[0])?.[1]);
    assert.ok(rate > 100 && rate < 1000, `smoothed rate ${rate}`);
    bar.close();
  });

  it('respects the width: the terminal, a narrower `width`, long and wide (CJK) labels', () => {
    for (const columns of [120, 80, 40, 20, 10]) {
      for (const label of ['', 'a label', '处理文件处理文件处理文件处理文件处理文件', 'x'.repeat(200)]) {
        const { stream, clock, options } = setup(columns);
        const bar = new ProgressBar({ ...options, total: 1000, label, minIntervalMs: 0 });
        for (let i = 0; i < 10; i++) {
          clock.t += 333;
          bar.update(77);
        }
        bar.close();
        for (const line of stream.screen()) {
          assert.ok(displayWidth(line) <= columns - 1, `${columns} columns: ${JSON.stringify(line)}`);
        }
        if (columns >= 40) assert.match(stream.screen()[0], /770\/1000/);
      }
    }
    const { stream, options } = setup(200);
    new ProgressBar({ ...options, total: 3, width: 50 }).close();
    assert.equal(displayWidth(stream.screen()[0]), 49);
    const wide = setup(30);
    new ProgressBar({ ...wide.options, total: 3, width: 50 }).close();
    assert.equal(displayWidth(wide.stream.screen()[0]), 29, 'never wider than the terminal');
  });

  it('label and total can change while it runs (set_description, pbar.total = n)', () => {
    const { stream, clock, options } = setup();
    const bar = new ProgressBar({ ...options, minIntervalMs: 0 });
    clock.t = 1000;
    bar.update(3);
    assert.match(stream.screen()[0], /^3it /);
    bar.total = 6;
    bar.label = 'result=30';
    assert.match(stream.screen()[0], /^result=30:  50%\|.*\| 3\/6 /);
    bar.label = 'a\nb';
    assert.match(stream.screen()[0], /^a b:  50%/, 'control characters become spaces');
    bar.close();
  });

  it('a shorter line wipes the rest of the longer one it replaces', () => {
    const { stream, options } = setup();
    const bar = new ProgressBar({ ...options, label: 'a long label here', minIntervalMs: 0 });
    bar.label = 'short';
    assert.equal(stream.screen()[0], 'short: 0it [00:00, ?it/s]');
    bar.close();
  });
});

describe('when nothing is drawn', () => {
  it('draws nothing on a stream that is not a TTY, but counts', async () => {
    const stream = new FakeTTY();
    stream.isTTY = false;
    const bar = new ProgressBar({ stream, total: 3 });
    bar.update(2);
    bar.close();
    assert.equal(bar.count, 2);
    const out: number[] = [];
    for await (const x of progress([1, 2, 3], { stream })) out.push(x);
    for (const x of progress([4], { stream })) out.push(x);
    assert.deepEqual(out, [1, 2, 3, 4]);
    assert.deepEqual(stream.chunks, []);
  });

  it('draws nothing with TERM=dumb or in CI', () => {
    for (const env of [{ TERM: 'dumb' }, { CI: 'true' }, { CI: '1' }]) {
      const { stream, options } = setup(80, { env });
      const bar = new ProgressBar({ ...options, total: 3 });
      bar.update();
      bar.close();
      assert.deepEqual(stream.chunks, [], JSON.stringify(env));
    }
    for (const env of [{ CI: 'false' }, { CI: '' }, { TERM: 'xterm-256color', NO_COLOR: '1' }]) {
      const { stream, options } = setup(80, { env });
      new ProgressBar({ ...options, total: 3 }).close();
      assert.ok(stream.text.endsWith('\n'), JSON.stringify(env));
      assert.doesNotMatch(stream.text, /\x1b/, 'no escape sequences, no colour');
    }
  });

  it('defaults to process.stderr, drawing only if it is an interactive terminal', () => {
    const typed: ProgressOptions = { stream: process.stderr }; // the real streams fit the option's type
    assert.equal(typed.stream, process.stderr);
    const bar = new ProgressBar({ total: 1, env: {} } as ProgressInternalOptions);
    bar.update();
    bar.close();
    assert.equal(bar.count, 1);
  });
});

describe('progress(iterable)', () => {
  it('passes the items of a sync iterable through unchanged, in order, with for await and for…of', async () => {
    const items = [{ a: 1 }, 'two', 3, null, undefined];
    const { stream, options } = setup();
    const seen: unknown[] = [];
    for await (const x of progress(items, options)) seen.push(x);
    assert.equal(seen.length, items.length);
    seen.forEach((x, i) => assert.equal(x, items[i]));
    assert.match(stream.screen()[0], /^100%\|█+\| 5\/5 /, 'total from length');

    const second = setup();
    const sync: unknown[] = [];
    for (const x of progress(items, second.options)) sync.push(x);
    assert.deepEqual(sync, items);
    assert.match(second.stream.screen()[0], /5\/5 /);
    assert.ok(second.stream.text.endsWith('\n'));
  });

  it('passes the items of an async iterable through; total from size; unknown without', async () => {
    async function* gen(): AsyncGenerator<number> {
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setImmediate(r));
        yield i;
      }
    }
    const { stream, options } = setup();
    const seen: number[] = [];
    for await (const x of progress(gen(), options)) seen.push(x);
    assert.deepEqual(seen, [0, 1, 2, 3]);
    assert.match(stream.screen()[0], /^4it \[00:00, \?it\/s\]$/);

    const set = setup();
    const fromSet: string[] = [];
    for await (const x of progress(new Set(['a', 'b']), set.options)) fromSet.push(x);
    assert.deepEqual(fromSet, ['a', 'b']);
    assert.match(set.stream.screen()[0], /2\/2 /);

    const given = setup();
    for await (const _ of progress(gen(), { ...given.options, total: 4, label: 'gen' })) void _;
    assert.match(given.stream.screen()[0], /^gen: 100%\|█+\| 4\/4 /);
  });

  it('counts an item once the loop body is done with it', async () => {
    const { options } = setup();
    const it = progress(['a', 'b'], options);
    const counts: string[] = [];
    for await (const x of it) counts.push(x);
    assert.deepEqual(counts, ['a', 'b']);
  });

  it('break closes the bar and ends the wrapped iterator', async () => {
    let finished = false;
    function* source(): Generator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finished = true;
      }
    }
    const { stream, options } = setup();
    for await (const x of progress(source(), { ...options, total: 100 })) if (x === 2) break;
    assert.equal(finished, true);
    assert.ok(stream.text.endsWith('\n'));
    assert.match(stream.screen()[0], / 2\/100 /);

    finished = false;
    const sync = setup();
    for (const x of progress(source(), sync.options)) if (x === 1) break;
    assert.equal(finished, true);
    assert.ok(sync.stream.text.endsWith('\n'));
    assert.match(sync.stream.screen()[0], /^1it /);
  });

  it('an iterable that throws closes the bar and the error reaches the loop', async () => {
    const boom = new RangeError('boom');
    async function* failing(): AsyncGenerator<number> {
      yield 1;
      yield 2;
      throw boom;
    }
    const { stream, options } = setup();
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const x of progress(failing(), { ...options, total: 5 })) seen.push(x);
    }, (e) => e === boom);
    assert.deepEqual(seen, [1, 2]);
    assert.ok(stream.text.endsWith('\n'));
    assert.match(stream.screen()[0], /2\/5 /);

    const body = setup();
    assert.throws(() => {
      for (const x of progress([1, 2, 3], body.options)) if (x === 2) throw boom;
    }, (e) => e === boom);
    assert.ok(body.stream.text.endsWith('\n'));
    assert.match(body.stream.screen()[0], /1\/3 /);
  });

  it('draws nothing before the iteration starts, and can be iterated once', async () => {
    const { stream, options } = setup();
    const it = progress([1, 2], options);
    assert.deepEqual(stream.chunks, []);
    for await (const _ of it) void _;
    const again = progress([1], setup().options);
    for (const _ of again) void _;
    assert.throws(() => {
      for (const _ of again) void _;
    }, /already iterated/);
  });

  it('checks its arguments at the call', () => {
    assert.throws(() => progress(5 as unknown as number[]), TypeError);
    assert.throws(() => progress([], { total: -1 }), /options\.total must be 0 or more; received -1/);
    assert.throws(() => progress([], { label: 5 as unknown as string }), /options\.label must be a string/);
    assert.throws(() => new ProgressBar({ minIntervalMs: Number.NaN }), TypeError);
    assert.throws(() => new ProgressBar({ width: 0 }), RangeError);
    assert.throws(() => new ProgressBar({ stream: {} as unknown as NodeJS.WriteStream }), /options\.stream/);
    const bar = new ProgressBar({ stream: new FakeTTY(), env: {} } as ProgressInternalOptions);
    assert.throws(() => bar.update(Number.NaN), /n must be a finite number/);
    assert.throws(() => (bar.total = -2), RangeError);
    bar.close();
  });
});

describe('redraw rate', () => {
  it('redraws at most every minIntervalMs (default 100 ms)', () => {
    const { stream, clock, options } = setup();
    const bar = new ProgressBar({ ...options, total: 100_000 });
    assert.equal(stream.chunks.length, 1);
    for (let i = 0; i < 10_000; i++) bar.update(); // all at t = 0
    clock.t = 99;
    bar.update();
    assert.equal(stream.chunks.length, 1, 'no redraw within the interval');
    clock.t = 100;
    bar.update();
    assert.equal(stream.chunks.length, 2);
    assert.match(stream.screen()[0], / 10002\/100000 /);
    for (let t = 101; t < 1000; t++) {
      clock.t = t;
      bar.update();
    }
    assert.ok(stream.chunks.length <= 11, `${stream.chunks.length} draws in 1 s`);
    bar.close();
    assert.match(stream.screen()[0], / 10901\/100000 /, 'close draws the last count');
  });

  it('an update held back by the interval is drawn when it ends, by an unref’d timer', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { stream, clock, options } = setup();
      const bar = new ProgressBar({ ...options, total: 10 });
      clock.t = 30;
      bar.update();
      bar.update();
      assert.equal(stream.chunks.length, 1);
      mock.timers.tick(69);
      assert.equal(stream.chunks.length, 1);
      clock.t = 100;
      mock.timers.tick(1);
      assert.equal(stream.chunks.length, 2);
      assert.match(stream.screen()[0], / 2\/10 /);
      bar.update();
      bar.close(); // cancels the pending redraw
      mock.timers.tick(1000);
      assert.match(stream.screen()[0], / 3\/10 /);
      assert.ok(stream.text.endsWith('\n'));
    } finally {
      mock.timers.reset();
    }
  });

  it('`using` closes the bar', () => {
    const { stream, options } = setup();
    {
      using bar = new ProgressBar({ ...options, total: 2 });
      bar.update(2);
    }
    assert.ok(stream.text.endsWith('\n'));
  });
});
