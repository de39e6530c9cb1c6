/**
 * Behaviour suite of the synchronisation primitives and shared memory, run
 * once per start method: stress tests, dead holders, async behaviour, errors.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Lock,
  RLock,
  Semaphore,
  BoundedSemaphore,
  Condition,
  Event,
  Barrier,
  BrokenBarrierError,
  Value,
  SharedArray,
  SharedMemory,
  ShareableList,
  ProcessError,
  Queue,
  getContext,
  getLogger,
  currentProcess,
  type Process,
  type StartMethod,
  type LogRecord,
} from 'multiprocessing-ts';
import * as F from '../fixtures/sync-fixtures.js';

const T = { timeout: 90_000 };

/** Options of a run in a fallback mode (test/fallback.*.test.ts). */
export interface SyncSuiteOptions {
  /** Scales the stress counts (the broker makes every operation a round trip). @default 1 */
  scale?: number;
  /** Why the SharedMemory case is skipped (broker mode has no POSIX shared memory). */
  skipSharedMemory?: string;
}

export function syncSuite(method: StartMethod, options: SyncSuiteOptions = {}): void {
  const ctx = getContext(method);
  const scale = options.scale ?? 1;
  const n = (x: number): number => Math.max(5, Math.round(x * scale));
  const started: Process[] = [];
  const start = (p: Process): Process => {
    started.push(p);
    p.start();
    return p;
  };
  const spawn = (target: (...a: never[]) => unknown, args: unknown[]) =>
    start(new ctx.Process({ target: target as (...a: unknown[]) => unknown, args }));

  describe(`synchronisation on the '${method}' start method`, () => {
    after(async () => {
      for (const p of started) {
        if (p.isAlive()) p.kill();
        await p.join(10_000);
      }
    });

    it(`4 workers x ${n(100_000).toLocaleString('en')} locked increments of a Value are exact`, T, async () => {
      const v = new Value('i', 0);
      const ps = [0, 1, 2, 3].map(() => spawn(F.lockedIncrements, [v, n(100_000)]));
      for (const p of ps) await p.join(60_000);
      assert.deepEqual(ps.map((p) => p.exitCode), [0, 0, 0, 0]);
      assert.equal(v.value, 4 * n(100_000));
    });

    it('a Value given a plain Lock: .value under getLock() goes on (Python deadlocks there), exact across workers', T, async () => {
      const v = new Value('i', 0, { lock: new Lock() });
      const lock = v.getLock();
      lock.acquireSync();
      v.value += 1; // would wait for itself if the getter took the held Lock again
      lock.release();
      assert.equal(v.value, 1);
      const ps = [0, 1].map(() => spawn(F.lockedIncrements, [v, n(20_000)]));
      for (const p of ps) await p.join(60_000);
      assert.deepEqual(ps.map((p) => p.exitCode), [0, 0]);
      assert.equal(v.value, 1 + 2 * n(20_000));
    });

    it('async acquire from the main thread and sync acquire in workers exclude each other', T, async () => {
      const v = new Value('i', 0);
      const lock = v.getLock() as RLock;
      const ps = [0, 1].map(() => spawn(F.lockedIncrements, [v, n(20_000)]));
      for (let i = 0; i < n(20_000); i++) {
        await lock.acquire();
        v.getObj().value += 1;
        lock.release();
      }
      for (const p of ps) await p.join(60_000);
      assert.equal(v.value, 3 * n(20_000));
    });

    it('an RLock held by a worker is never taken for the main thread\'s own (10 rounds, 3 contenders)', T, async () => {
      // Regression: the main thread's id is 0, and a worker taking the lock writes its pid first
      // and its thread id after; a main thread looking in between saw its own hold and went in.
      for (let round = 0; round < 10; round++) {
        const v = new Value('i', 0);
        const lock = v.getLock() as RLock;
        const ps = [0, 1].map(() => spawn(F.lockedIncrements, [v, n(10_000)]));
        for (let i = 0; i < n(10_000); i++) {
          await lock.acquire();
          v.getObj().value += 1;
          lock.release();
        }
        for (const p of ps) await p.join(60_000);
        for (const p of ps) assert.equal(p.exitCode, 0, `round ${round}: a worker failed`);
        assert.equal(v.value, 3 * n(10_000), `round ${round}: increments lost`);
      }
    });

    it('an awaited acquire does not block the event loop', T, async () => {
      const lock = new Lock();
      const held = new Event();
      const go = new Event();
      spawn(F.holdUntil, [lock, held, go]);
      assert.equal(await held.wait(30_000), true);
      let ticks = 0;
      const timer = setInterval(() => {
        ticks++;
        if (ticks === 5) go.set();
      }, 2);
      try {
        assert.equal(await lock.acquire({ timeout: 30_000 }), true);
      } finally {
        clearInterval(timer);
      }
      assert.ok(ticks >= 5, `the event loop ran ${ticks} timer ticks while waiting`);
      lock.release();
    });

    it('acquire with block: false and with a timeout', T, async () => {
      const lock = new Lock();
      const held = new Event();
      const go = new Event();
      spawn(F.holdUntil, [lock, held, go]);
      await held.wait(30_000);
      assert.equal(await lock.acquire({ block: false }), false);
      assert.equal(lock.acquireSync({ block: false }), false);
      const t0 = performance.now();
      assert.equal(await lock.acquire({ timeout: 60 }), false);
      assert.ok(performance.now() - t0 >= 55);
      assert.equal(lock.acquireSync({ timeout: 30 }), false);
      assert.equal(await lock.acquire({ block: false, timeout: 5 }), false); // multiprocessing ignores it
      go.set();
      assert.equal(await lock.acquire({ timeout: 30_000 }), true);
      lock.release();
    });

    it('an aborted acquire rejects with the reason and leaves the lock as it was', T, async () => {
      const lock = new Lock();
      const held = new Event();
      const go = new Event();
      spawn(F.holdUntil, [lock, held, go]);
      await held.wait(30_000);
      const ac = new AbortController();
      const pending = lock.acquire({ signal: ac.signal });
      ac.abort(new Error('no longer needed'));
      await assert.rejects(pending, /no longer needed/);
      go.set();
      assert.equal(await lock.acquire({ timeout: 30_000 }), true);
      lock.release();
    });

    it('a Lock whose holder was killed is taken over, with a warning naming the dead worker', T, async () => {
      for (const L of [Lock, RLock]) {
        const lock = new L();
        const held = new Event();
        const p = spawn(F.holdForever, [lock, held]);
        await held.wait(30_000);
        p.kill();
        await p.join(30_000);
        const records: LogRecord[] = [];
        const remove = getLogger().addHandler((r) => records.push(r));
        try {
          assert.equal(await lock.acquire({ timeout: 20_000 }), true);
        } finally {
          remove();
        }
        const warning = records.find((r) => /ended without releasing it/.test(r.message));
        assert.ok(warning, `no takeover warning for ${L.name}`);
        assert.match(warning.message, method === 'process' ? new RegExp(`process ${p.pid}`) : new RegExp(`worker thread ${p.ident}`));
        lock.release();
        assert.equal(lock.acquireSync({ block: false }), true);
        lock.release();
      }
    });

    it('a semaphore never lets more holders in than its value', T, async () => {
      const sem = new Semaphore(3);
      const inside = new Value('i', 0);
      const highest = new Value('i', 0);
      const ps = [0, 1, 2, 3, 4, 5].map(() => spawn(F.semaphoreUser, [sem, inside, highest, n(300)]));
      for (const p of ps) await p.join(60_000);
      assert.deepEqual(ps.map((p) => p.exitCode), [0, 0, 0, 0, 0, 0]);
      assert.ok(highest.value <= 3 && highest.value >= 1, `highest ${highest.value}`);
      assert.equal(inside.value, 0);
      assert.equal(sem.getValue(), 3);
    });

    it(`barrier arrival indices are unique in each of ${n(1000).toLocaleString('en')} rounds`, T, async () => {
      const parties = 3;
      const rounds = n(1000);
      const b = new Barrier(parties);
      const out = new SharedArray('i', parties * rounds);
      const ps = [0, 1, 2].map((me) => spawn(F.barrierParty, [b, out, me, rounds]));
      for (const p of ps) await p.join(60_000);
      assert.deepEqual(ps.map((p) => p.exitCode), [0, 0, 0]);
      const all = out.toArray();
      for (let r = 0; r < rounds; r++) {
        assert.deepEqual(all.slice(r * parties, r * parties + parties).sort(), [0, 1, 2], `round ${r}`);
      }
    });

    it('a barrier breaks when a waiting party dies', T, async () => {
      const b = new Barrier(3);
      const arrived = new Event();
      const out = new SharedArray('i', 1);
      const waiting = spawn(F.barrierWaitReport, [b, arrived, out]);
      await arrived.wait(30_000);
      // Wait until the child is registered as waiting, then kill it.
      const t0 = Date.now();
      while (b.nWaiting < 1 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 5));
      waiting.kill();
      await waiting.join(30_000);
      const t1 = performance.now();
      await assert.rejects(b.wait(20_000), BrokenBarrierError);
      assert.ok(performance.now() - t1 < 10_000, 'the dead party was noticed long before the timeout');
      assert.equal(b.broken, true);
      b.reset();
      assert.equal(b.broken, false);
    });

    it('a condition with predicate loops moves every item exactly once (2 producers, 2 consumers)', T, async () => {
      const cond = new Condition();
      const items = new Value('i', 0);
      const produced = new Value('i', 0);
      const consumed = new Value('i', 0);
      const ps = [
        spawn(F.produce, [cond, items, produced, 5, n(300)]),
        spawn(F.produce, [cond, items, produced, 5, n(300)]),
        spawn(F.consume, [cond, items, consumed, n(300)]),
        spawn(F.consume, [cond, items, consumed, n(300)]),
      ];
      for (const p of ps) await p.join(60_000);
      assert.deepEqual(ps.map((p) => p.exitCode), [0, 0, 0, 0]);
      assert.deepEqual([produced.value, consumed.value, items.value], [2 * n(300), 2 * n(300), 0]);
    });

    it('misuse in a child gets Python’s errors (RLock not owned, wait without the lock)', T, async () => {
      const rlock = new RLock();
      await rlock.acquire(); // held by the main thread: the child does not own it
      const out = new SharedArray('i', 2);
      const p = spawn(F.misuseInChild, [rlock, new Condition(), out]);
      await p.join(30_000);
      assert.equal(p.exitCode, 0);
      assert.deepEqual(out.toArray(), [1, 1]);
      rlock.release();
    });

    it('an RLock let go through another handle of the same thread is no longer held through the first', T, async () => {
      // Two handles of one RLock in this thread (a trip through a queue revives a new one).
      const a = new RLock();
      const q = new Queue<RLock>();
      let b: RLock;
      try {
        q.putSync(a);
        b = q.getSync({ timeout: 10_000 });
        assert.notEqual(a, b);
      } catch (e) {
        // Without the native addon (koffi mode) a lock cannot go through a queue between the
        // processes' threads, so this thread cannot get a second handle: one handle plays both.
        assert.match(String(e), /without the native part/);
        b = a;
      } finally {
        q.close();
      }
      assert.equal(a.acquireSync(), true);
      assert.equal(b.acquireSync(), true); // re-enters: same thread, same context
      b.release();
      b.release(); // the last level, through b
      assert.throws(() => a.release(), /cannot release un-acquired lock/);
      // Held by a worker now: neither handle may take it for this thread's own.
      const v = new Value('i', 0, { lock: a });
      const held = new Event();
      const done = new Event();
      const p = spawn(F.holdUntil, [b, held, done]);
      try {
        assert.equal(await held.wait(30_000), true);
        assert.equal(a.acquireSync({ block: false }), false);
        assert.throws(() => a.release(), /cannot release un-acquired lock/);
        assert.equal(b.acquireSync({ timeout: 50 }), false);
      } finally {
        done.set();
        await p.join(30_000);
      }
      assert.equal(p.exitCode, 0);
      assert.equal(a.acquireSync({ timeout: 10_000 }), true);
      v.value = 7; // held by this context: goes on
      a.release();
      assert.equal(v.value, 7);
    });

    it('errors in this thread: Lock released twice, BoundedSemaphore over-released, Condition without its lock', async () => {
      const lock = new Lock();
      assert.throws(() => lock.release(), ProcessError);
      const bs = new BoundedSemaphore(2);
      await bs.acquire();
      bs.release();
      assert.throws(() => bs.release(), /released too many times/);
      const cond = new Condition(new Lock());
      await assert.rejects(cond.wait(1), /must acquire\(\) condition before using wait\(\)/);
      assert.throws(() => cond.notify(), /must acquire\(\) condition before using notify\(\)/);
      assert.throws(() => new Semaphore(-1), RangeError);
      assert.throws(() => new Barrier(0), RangeError);
      await assert.rejects(lock.acquire({ timeout: NaN }), TypeError);
    });

    it('with(fn) releases even when fn throws; RLock re-enters in nested with(), not across tasks', async () => {
      const lock = new Lock();
      await assert.rejects(lock.with(() => Promise.reject(new Error('inside'))), /inside/);
      assert.equal(lock.acquireSync({ block: false }), true);
      lock.release();
      const r = new RLock();
      assert.equal(await r.with(() => r.with(() => 'nested')), 'nested');
      const order: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((res) => (release = res));
      const a = r.with(async () => {
        order.push('a in');
        await gate;
        order.push('a out');
      });
      const b = r.with(async () => {
        order.push('b in');
      });
      await new Promise((res) => setTimeout(res, 20));
      assert.deepEqual(order, ['a in'], 'two concurrent async tasks of one thread must not share an RLock');
      release();
      await Promise.all([a, b]);
      assert.deepEqual(order, ['a in', 'a out', 'b in']);
      await r.acquire();
      assert.equal(r.acquireSync(), true); // re-entry in the same async context
      r.release();
      r.release();
      assert.throws(() => r.release(), ProcessError);
    });

    it('joinSync blocks until the child has ended and sets exitCode', T, async () => {
      const go = new Event();
      const p = start(new ctx.Process({ target: F.exitWhen, args: [go, 3] }));
      p.joinSync(30);
      assert.equal(p.exitCode, null);
      go.set();
      p.joinSync(30_000);
      assert.equal(p.exitCode, 3);
      assert.throws(() => currentProcess().joinSync(), /could never return/);
      const q = new ctx.Process({ target: F.exitWhen, args: [go, 0] });
      assert.throws(() => q.joinSync(), /call start\(\)/);
    });

    it('SharedMemory and ShareableList are attached by name in a child', { ...T, skip: options.skipSharedMemory }, async () => {
      const shm = new SharedMemory({ create: true, size: 64 });
      const list = new ShareableList([41, 'short', 2.5, null, true]);
      try {
        shm.buf[0] = 5;
        const out = new SharedArray('i', 1);
        const p = spawn(F.touchSharedMemory, [shm.name, list, out]);
        await p.join(30_000);
        assert.equal(p.exitCode, 0);
        assert.deepEqual([shm.buf[0], shm.buf[1]], [6, 99]);
        assert.equal(out.get(0), 41);
        assert.deepEqual([...list], [41, 'changed', 2.5, null, true]);
        assert.throws(() => list.set(1, 'far too long for the space'), /exceeds available storage/);
      } finally {
        shm.close();
        shm.unlink();
        list.shm.close();
        list.shm.unlink();
      }
      assert.throws(() => new SharedMemory({ name: shm.name }), (e: unknown) => (e as { code?: string }).code === 'ENOENT');
    });
  });
}
