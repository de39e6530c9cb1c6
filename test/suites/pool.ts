import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pool, ThreadPool, ProcessError, TimeoutError, WorkerLostError, getContext, type StartMethod } from 'multiprocessing-ts';
import * as F from '../fixtures/pool-targets.js';

const T = { timeout: 90_000 };

export function poolSuite(method: StartMethod): void {
  describe(`Pool on the '${method}' start method`, () => {
    const make = (n = 2, extra: object = {}) => new Pool({ processes: n, context: method, ...extra });

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
