import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pool, ThreadPool, ProcessError, TimeoutError, WorkerLostError, Full, Event, RawArray, getContext, currentTask, fnRef, activeChildren, Queue, Lock, type StartMethod } from 'multiprocessing-ts';
import { eventually, bounded } from '../helpers.js';
import * as F from '../fixtures/pool-targets.js';

const T = { timeout: 90_000 };

export function poolSuite(method: StartMethod): void {
  describe(`Pool on the '${method}' start method`, () => {
    const make = (n = 2, extra: object = {}) => new Pool({ processes: n, context: method, ...extra });
    const prefix = method === 'thread' ? 'ThreadPoolWorker' : 'ProcessPoolWorker';

    it('map, starmap, apply and applyAsync give the right values in order', T, async () => {
      const pool = make();
      try {
        assert.deepEqual(await pool.map(F.sq, [1, 2, 3, 4, 5]), [1, 4, 9, 16, 25]);
        assert.deepEqual(await pool.map(F.sq, []), []);
        assert.deepEqual(await pool.starmap(F.add, [[1, 2], [3, 4]]), [3, 7]);
        assert.equal(await pool.apply(F.add, [20, 22]), 42);
        const big = Array.from({ length: 10_000 }, (_, i) => i);
        assert.deepEqual(await pool.map(F.sq, big, 7), big.map((x) => x * x));
        const seen: number[] = [];
        const r = pool.applyAsync(F.sq, [9], { callback: (v) => seen.push(v) });
        assert.equal(await r.get(30_000), 81);
        assert.ok(r.ready() && r.successful());
        assert.deepEqual(seen, [81]);
        assert.equal(await pool.applyAsync(F.identity, ['x']), 'x'); // thenable
        assert.deepEqual(await pool.mapAsync(F.sq, [2, 3]).get(), [4, 9]);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('errors come back with their class; errorCallback gets them; a throwing callback does not break the pool', T, async () => {
      const pool = make();
      try {
        await assert.rejects(pool.map(F.raiseOn3, [1, 2, 3, 4]), (e: Error) => e instanceof RangeError && /three/.test(e.message));
        const errs: unknown[] = [];
        const r = pool.applyAsync(F.raiseOn3, [3], { errorCallback: (e) => errs.push(e) });
        await assert.rejects(r.get(), RangeError);
        assert.equal(r.successful(), false);
        assert.equal(errs.length, 1);
        await pool.applyAsync(F.sq, [2], { callback: () => { throw new Error('callback bug'); } }).get();
        assert.equal(await pool.apply(F.sq, [5]), 25);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('a worker that dies mid-task fails that task with WorkerLostError and is replaced', T, async () => {
      const pool = make();
      try {
        await assert.rejects(pool.apply(F.exitOn, [7, 7]), (e: Error) => e instanceof WorkerLostError && /exit code 7/.test(e.message));
        assert.deepEqual(await pool.map(F.sq, [1, 2, 3, 4, 5, 6]), [1, 4, 9, 16, 25, 36]);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('workers that cannot start fail the waiting tasks with WorkerLostError, stop being restarted, and start again on the next task', T, async () => {
      // The initializer's module does not exist: every worker ends before it is up.
      const pool = make(2, { initializer: fnRef(new URL('./no-such-module.mjs', import.meta.url), 'init') });
      const ours = () => activeChildren().filter((p) => p.name.startsWith(prefix));
      try {
        const lost = (e: Error) => e instanceof WorkerLostError && /exit code 1/.test(e.message);
        await assert.rejects(bounded(pool.apply(F.sq, [3]), 30_000, 'a task of a pool whose workers cannot start'), lost);
        // No endless restarts: the places stay empty until the next task.
        await eventually(() => ours().length === 0, 20_000, 'the failed workers to be gone');
        await new Promise((r) => setTimeout(r, 300)); // a restart would show up within this
        assert.equal(ours().length, 0);
        await assert.rejects(bounded(pool.map(F.sq, [1, 2, 3]), 30_000, 'a second call'), lost);
        pool.close();
        await bounded(pool.join(), 30_000, 'join');
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('a blocking get in a worker that has not loaded a kind of library object yet still revives it', T, async () => {
      const pool = make(1);
      const q = new Queue<{ lock: Lock; n: number }>();
      try {
        const r = pool.apply(F.takeSyncAndLock, [q]);
        q.put({ lock: new Lock(), n: 5 });
        assert.equal(await bounded(r, 30_000, 'the task'), 'Lock true 5');
      } finally {
        pool.terminate();
        await pool.join();
        q.close();
      }
    });

    it('imap keeps order and reads its input lazily; imapUnordered yields everything; next(ms) times out', T, async () => {
      const pool = make();
      try {
        let pulled = 0;
        function* endless(): Generator<number> {
          for (let i = 0; ; i++) {
            pulled++;
            yield i;
          }
        }
        const got: number[] = [];
        for await (const x of pool.imap(F.sq, endless())) {
          got.push(x);
          if (got.length === 50) break;
        }
        assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i * i));
        assert.ok(pulled < 50 + 2000, `read ${pulled} items of an endless input`);
        async function* agen(): AsyncGenerator<number> {
          for (let i = 0; i < 20; i++) yield i;
        }
        const un: number[] = [];
        for await (const x of pool.imapUnordered(F.sq, agen(), 3)) un.push(x);
        assert.deepEqual(un.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i * i));
        const it2 = pool.imap(F.sleep2s, [1]);
        await assert.rejects(it2.next(10), TimeoutError);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('an input iterable that throws rejects the iteration; the pool stays usable', T, async () => {
      const pool = make();
      try {
        function* bad(): Generator<number> {
          yield 1;
          throw new Error('input broke');
        }
        const it2 = pool.imap(F.sq, bad());
        await assert.rejects(async () => {
          for await (const _ of it2) void _;
        }, /input broke/);
        assert.equal(await pool.apply(F.sq, [3]), 9);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('arguments and results that cannot be sent fail their task clearly; the pool goes on', T, async () => {
      const pool = make();
      try {
        const local = () => 1;
        await assert.rejects(pool.apply(F.identity, [local]), (e: Error) => e instanceof TypeError);
        await assert.rejects(pool.apply(F.returnsFunction, []), (e: Error) => /cannot be sent|could not be cloned|function/.test(e.message));
        assert.equal(await pool.apply(F.sq, [4]), 16);
        assert.throws(() => pool.applyAsync(local as never, []), ProcessError);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('initializer runs in each worker; workers are named *PoolWorker-n; maxTasksPerChild recycles them', T, async () => {
      const pool = make(2, { initializer: F.init, initargs: ['ready'], maxTasksPerChild: 2 });
      try {
        assert.deepEqual(await pool.map(F.whoAmI, [1, 2, 3, 4, 5, 6], 1), Array(6).fill('ready'));
        const names = new Set(await Promise.all(Array.from({ length: 6 }, () => pool.apply(F.workerName, []))));
        for (const n of names) assert.match(n, method === 'thread' ? /^ThreadPoolWorker-\d+$/ : /^ProcessPoolWorker-\d+$/);
        assert.ok(names.size >= 3, `6 tasks, 2 per worker: at least 3 workers; saw ${[...names].join(', ')}`);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it("abort and timeout reject a task at once", T, async () => {
      const pool = make();
      try {
        const ac = new AbortController();
        const r = pool.applyAsync(F.sleepThen, [1, 300], { signal: ac.signal });
        ac.abort(new Error('stop it'));
        await assert.rejects(r.get(), /stop it/);
        await assert.rejects(pool.apply(F.sleepThen, [1, 2_000], { timeout: 20 }), TimeoutError);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('the running task sees an abort or a timeout through currentTask() (async and sync tasks)', T, async () => {
      const pool = make(2);
      try {
        const started = new Event();
        const seen = new Event();
        const ac = new AbortController();
        const r = pool.applyAsync(F.setOnAbort, [started, seen, 20_000], { signal: ac.signal });
        // Abort once it runs (an abort before it starts just drops it: a test below).
        assert.equal(await started.wait(20_000), true);
        ac.abort(new Error('caller gave up'));
        await assert.rejects(r.get(), /caller gave up/);
        assert.equal(await seen.wait(10_000), true, 'the async task saw its signal abort');

        const started2 = new Event();
        const seen2 = new Event();
        const polled = pool.apply(F.pollAborted, [started2, seen2, 20_000], { timeout: 2_000 });
        assert.equal(await started2.wait(20_000), true);
        await assert.rejects(polled, TimeoutError);
        assert.equal(await seen2.wait(10_000), true, 'the synchronous loop saw task.aborted');

        // Both workers are still the original ones (the tasks stopped by themselves), and usable.
        assert.deepEqual(await pool.map(F.sq, [1, 2, 3]), [1, 4, 9]);
        assert.deepEqual(pool.stats().workers.map((w) => w.name).sort(), [`${prefix}-1`, `${prefix}-2`]);
        assert.ok((await pool.apply(F.taskId, [])) > 0);
        assert.throws(() => currentTask(), /only available inside a function that a Pool is running/);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('a task that ignores its abort: its worker is replaced after the grace period; the tasks queued behind it run once, elsewhere', T, async () => {
      const pool = make(2, { abortGrace: 100 });
      const counts = new RawArray('i', 8);
      try {
        const ac = new AbortController();
        // Task 0 spins 30 s ignoring everything; tasks 1..7 are short. Some sit behind task 0
        // in its worker's own queue until the worker is replaced.
        const stuck = pool.applyAsync(F.countRun, [counts, 0, 30_000], { signal: ac.signal });
        const rest = Array.from({ length: 7 }, (_, i) => pool.applyAsync(F.countRun, [counts, i + 1, 20]));
        await eventually(() => counts.get(0) === 1, 20_000, 'the stuck task to start');
        const t0 = performance.now();
        ac.abort(new Error('enough'));
        await assert.rejects(stuck.get(), /enough/);
        assert.deepEqual(await Promise.all(rest.map((r) => r.get(20_000))), [1, 2, 3, 4, 5, 6, 7]);
        assert.ok(performance.now() - t0 < 15_000, 'the stuck worker did not hold the others for its 30 s');
        assert.deepEqual([...counts], [1, 1, 1, 1, 1, 1, 1, 1], 'every task ran exactly once');
        const names = pool.stats().workers.map((w) => w.name);
        assert.equal(names.length, 2);
        assert.ok(names.some((n) => n === `${prefix}-3`), `a replacement worker: ${names.join(', ')}`);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('an aborted task that no worker took yet never runs', T, async () => {
      const pool = make(1);
      const counts = new RawArray('i', 4);
      try {
        const first = pool.applyAsync(F.countRun, [counts, 0, 300]);
        const many = Array.from({ length: 3 }, (_, i) => {
          const ac = new AbortController();
          const r = pool.applyAsync(F.countRun, [counts, i + 1, 0], { signal: ac.signal });
          ac.abort(new Error(`drop ${i + 1}`));
          return r;
        });
        for (const [i, r] of many.entries()) await assert.rejects(r.get(), new RegExp(`drop ${i + 1}`));
        assert.equal(await first.get(20_000), 0);
        assert.equal(await pool.apply(F.sq, [3]), 9); // runs after the dropped ones would have
        assert.deepEqual([...counts], [1, 0, 0, 0]);
        const s = pool.stats();
        assert.equal(s.failed, 3);
        assert.equal(s.completed, 2);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('maxQueue: apply and map wait for room, applyAsync throws Full, stats() counts', T, async () => {
      assert.throws(() => make(1, { maxQueue: 0 }), RangeError);
      assert.throws(() => make(1, { maxQueue: 1.5 }), RangeError);
      const pool = make(1, { maxQueue: 2 });
      try {
        // The worker holds up to 2 tasks (its window), then 2 wait in the pool: full.
        const held = Array.from({ length: 4 }, (_, i) => pool.applyAsync(F.sleepThen, [i, 150]));
        assert.equal(pool.stats().queued, 2);
        assert.throws(() => pool.applyAsync(F.sq, [1]), Full);
        const late = pool.apply(F.sq, [7]); // waits for room, then runs
        const mapped = pool.mapAsync(F.sq, [1, 2, 3, 4, 5, 6], 1); // hands in its chunks as room frees
        assert.ok(pool.stats().queued <= 2);
        await pool.waitForRoom();
        assert.equal(await late, 49);
        assert.deepEqual(await mapped.get(20_000), [1, 4, 9, 16, 25, 36]);
        assert.deepEqual(await Promise.all(held.map((r) => r.get())), [0, 1, 2, 3]);
        const items = async function* () {
          for (let i = 0; i < 20; i++) yield i;
        };
        const out: number[] = [];
        for await (const v of pool.imap(F.sq, items())) out.push(v);
        assert.deepEqual(out, Array.from({ length: 20 }, (_, i) => i * i));
        const s = pool.stats();
        assert.deepEqual([s.queued, s.running, s.failed], [0, 0, 0]);
        assert.equal(s.completed, 4 + 1 + 6 + 20);
        assert.equal(s.workers.length, 1);
        assert.equal(s.workers[0]!.finished, s.completed);
        assert.ok(s.workers[0]!.busyMs >= 4 * 150 * 0.9, `busy ${s.workers[0]!.busyMs} ms`);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('close() after imap was asked for: the iteration still completes and join() returns', T, async () => {
      const pool = make(2);
      function* items() {
        for (let i = 0; i < 50; i++) yield i;
      }
      const it = pool.imap(F.sq, items(), 3);
      const un = pool.imapUnordered(F.sq, [1, 2, 3]);
      pool.close();
      await pool.join(); // Python's task handler reads the whole input: so do we once closed
      const out: number[] = [];
      for await (const v of it) out.push(v);
      assert.deepEqual(out, Array.from({ length: 50 }, (_, i) => i * i));
      const un2: number[] = [];
      for await (const v of un) un2.push(v);
      assert.deepEqual(un2.sort(), [1, 4, 9]);
    });

    it('the progress option draws a bar that reaches the total (map, imap)', T, async () => {
      const pool = make(2);
      try {
        const tty = () => {
          const o = { isTTY: true, columns: 80, text: '', write(s: string) { o.text += s; return true; } };
          return o;
        };
        // `env: {}` (a test hook of ProgressBar): the bar is drawn even where CI or TERM=dumb is set
        const env = { env: {} } as object;
        const s1 = tty();
        assert.deepEqual(await pool.map(F.sq, [1, 2, 3, 4, 5], 2, { progress: { stream: s1, label: 'squares', ...env } }), [1, 4, 9, 16, 25]);
        assert.match(s1.text, /squares: 100%.* 5\/5 /);
        const s2 = tty();
        const out: number[] = [];
        for await (const v of pool.imap(F.sq, [1, 2, 3], 1, { progress: { stream: s2, ...env } })) out.push(v);
        assert.deepEqual(out, [1, 4, 9]);
        assert.match(s2.text, /100%.* 3\/3 /);
        assert.throws(() => pool.imap(F.sq, [1], 1, { progress: 'yes' as never }), TypeError);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it('imap with a signal or a per-chunk timeout ends the iteration with that error', T, async () => {
      const pool = make(2, { abortGrace: 100 });
      try {
        const ac = new AbortController();
        const it = pool.imap(F.sleep2s, [1, 2, 3, 4], 1, { signal: ac.signal });
        ac.abort(new Error('no more'));
        await assert.rejects(it.next(), /no more/);
        const it2 = pool.imapUnordered(F.sleep2s, [1, 2], 1, { timeout: 50 });
        await assert.rejects(it2.next(), TimeoutError);
        assert.deepEqual(await pool.map(F.sq, [2]), [4]);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    it("Python's state rules: Pool not running after close; join before close; Pool(0)", T, async () => {
      assert.throws(() => make(0), RangeError);
      const pool = make();
      await assert.rejects(pool.join(), ProcessError);
      const r = pool.applyAsync(F.sleepThen, [5, 50]);
      pool.close();
      assert.throws(() => pool.applyAsync(F.sq, [1]), /Pool not running/);
      await pool.join(); // waits for the queued work, then the workers end
      assert.equal(await r.get(), 5);
    });

    it('terminate() rejects pending work and leaves no worker', T, async () => {
      const pool = make();
      const r = pool.applyAsync(F.sleepThen, [1, 5_000]);
      pool.terminate();
      await assert.rejects(r.get(), ProcessError);
      await pool.join();
    });

    it("a context's Pool uses the context's start method (Python's ctx.Pool())", T, async () => {
      const pool = new (getContext(method).Pool)(1);
      try {
        assert.match(await pool.apply(F.workerName, []), method === 'thread' ? /^ThreadPoolWorker-/ : /^ProcessPoolWorker-/);
      } finally {
        pool.terminate();
        await pool.join();
      }
    });

    if (method === 'thread') {
      it('ThreadPool is a Pool of worker threads', T, async () => {
        const pool = new ThreadPool(2);
        try {
          assert.match(await pool.apply(F.workerName, []), /^ThreadPoolWorker-/);
        } finally {
          pool.terminate();
          await pool.join();
        }
      });
    }
  });
}
