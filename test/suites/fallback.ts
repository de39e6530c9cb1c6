/**
 * What only a fallback mode can get wrong (run by test/fallback.*.test.ts with
 * the mode forced through the environment before the library is imported):
 * the mode really is the one forced, async waits leave libuv's thread pool
 * free, a worker blocked in a sync wait still stops on terminate(), counts
 * stay exact, and nothing is left in /dev/shm.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Lock, Event, Value, getContext, getLogger, type LogRecord, type Process, type StartMethod } from 'multiprocessing-ts';
import * as F from '../fixtures/sync-fixtures.js';

const T = { timeout: 60_000 };

/** pbkdf2 runs on libuv's pool: it finishes only if the pool has a free thread. */
function poolTask(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    pbkdf2('x', 'y', 1000, 32, 'sha256', (err) => (err ? reject(err) : resolve(performance.now() - t0))),
  );
}

/**
 * @param logLine - the one line that says which mode is in use.
 * @param perWorker - locked increments per worker in the mixed stress case.
 */
export function fallbackSuite(mode: 'koffi' | 'broker', logLine: RegExp, perWorker: number): void {
  const records: LogRecord[] = [];
  // Installed before anything touches shared memory: the mode is chosen (and said) once.
  const removeHandler = getLogger().addHandler((r) => records.push(r));
  const started: Process[] = [];
  const spawn = (method: StartMethod, target: (...a: never[]) => unknown, args: unknown[]): Process => {
    const p = new (getContext(method).Process)({ target: target as (...a: unknown[]) => unknown, args });
    started.push(p);
    p.start();
    return p;
  };

  describe(`the ${mode} fallback`, () => {
    after(async () => {
      removeHandler();
      for (const p of started) {
        if (p.isAlive()) p.kill();
        await p.join(10_000);
      }
    });

    it('is the mode in use, said once in a log line', T, async () => {
      // The mode is chosen (and said, at INFO) when the first shared object is made.
      const level = getLogger().level;
      getLogger().setLevel('INFO');
      let v: Value<'i'>;
      try {
        v = new Value('i', 0);
      } finally {
        getLogger().setLevel(level);
      }
      const p = spawn('process', F.lockedIncrements, [v, 1000]);
      await p.join(30_000);
      assert.equal(p.exitCode, 0);
      assert.equal(v.value, 1000);
      const lines = records.filter((r) => logLine.test(r.message));
      assert.equal(lines.length, 1, `expected one log line matching ${logLine}; got: ${records.map((r) => r.message).join(' | ')}`);
    });

    it('pending async acquires do not occupy libuv\u2019s thread pool', T, async () => {
      const lock = new Lock();
      const held = new Event();
      const go = new Event();
      spawn('process', F.holdUntil, [lock, held, go]);
      assert.equal(await held.wait(30_000), true);
      // Six pending waits: more than the pool's four threads. Each lets go as soon as it has the
      // lock: they may get it in any order (awaiting them in order, and letting go only then,
      // waited forever for the first while a later one held the lock).
      const pending = [0, 1, 2, 3, 4, 5].map(() =>
        lock.acquire({ timeout: 30_000 }).then((ok) => {
          if (ok) lock.release();
          return ok;
        }),
      );
      const ms = await poolTask();
      assert.ok(ms < 5_000, `a pool task took ${ms.toFixed(0)} ms while async waits were pending`);
      go.set();
      assert.deepEqual(await Promise.all(pending), [true, true, true, true, true, true]);
    });

    it('a worker thread blocked in acquireSync stops on terminate()', T, async () => {
      const v = new Value('i', 0);
      const lock = v.getLock();
      assert.equal(lock.acquireSync({ timeout: 1000 }), true);
      try {
        const p = spawn('thread', F.lockedIncrements, [v, 1]);
        // Bounded poll for the child to be running (it then blocks on the held lock).
        const t0 = performance.now();
        while (!p.isAlive() && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, 200)); // let it reach the wait (not a synchronisation: either way it must stop)
        const t1 = performance.now();
        p.terminate();
        await p.join(10_000);
        assert.equal(p.exitCode, -15);
        assert.ok(performance.now() - t1 < 5_000, 'terminate() took too long');
      } finally {
        lock.release();
      }
      assert.equal(v.value, 0);
    });

    it(`2 processes and 2 threads x ${perWorker} locked increments are exact`, T, async () => {
      const v = new Value('i', 0);
      const ps = ['process', 'process', 'thread', 'thread'].map((m) => spawn(m as StartMethod, F.lockedIncrements, [v, perWorker]));
      for (const p of ps) await p.join(60_000);
      assert.deepEqual(ps.map((p) => p.exitCode), [0, 0, 0, 0]);
      assert.equal(v.value, 4 * perWorker);
    });
  });
}

/** Runs a whole program in `env` and checks it left nothing in /dev/shm. */
export function leftoversCase(env: NodeJS.ProcessEnv): void {
  it('a program that killed a child holding a lock leaves nothing in /dev/shm', T, async () => {
    const { runProgram, programs } = await import('../helpers.js');
    const r = await runProgram([`${programs}fallback-leftovers.mjs`], { env, timeoutMs: 50_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { pid: number; value: number; took: boolean };
    assert.deepEqual([out.value, out.took], [2, true]);
    const left = readdirSync('/dev/shm').filter((n) => n.startsWith(`mpts-${out.pid}-`));
    assert.deepEqual(left, []);
  });
}
