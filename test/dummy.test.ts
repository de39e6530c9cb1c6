/** multiprocessing-ts/dummy: the API as async tasks in the calling thread (Python's multiprocessing.dummy). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as dummy from 'multiprocessing-ts/dummy';
import {
  Process,
  currentProcess,
  activeChildren,
  cpuCount,
  Lock,
  RLock,
  Semaphore,
  BoundedSemaphore,
  Condition,
  Event,
  Barrier,
  Queue,
  JoinableQueue,
  Pipe,
  Value,
  Array as DArray,
  SharedArray,
  Pool,
  ThreadPool,
  Manager,
  AsyncResult,
  ProcessError,
  TimeoutError,
  Empty,
  Full,
  EOFError,
  BrokenBarrierError,
  BufferTooShort,
} from 'multiprocessing-ts/dummy';
import * as mp from 'multiprocessing-ts';
import { runProgram } from './helpers.js';

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Fails (instead of hanging) when `p` has not settled within `ms`. */
async function bounded<T>(p: Promise<T>, ms = 5000, what = 'the operation'): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what} did not finish within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

/** Lets the event loop run until `pred()` holds (bounded). */
async function until(pred: () => boolean, ms = 5000, what = 'the condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

/** A few turns of the event loop (to show that something does NOT happen meanwhile). */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

const isProcessError = (re: RegExp) => (e: unknown) => e instanceof ProcessError && re.test((e as Error).message);

describe('multiprocessing-ts/dummy Process', () => {
  it('runs any function (closures too) as an async task, and join waits for it', async () => {
    const seen: string[] = [];
    const gate = deferred();
    const a = new Process({
      target: async (tag: string) => {
        seen.push(`${currentProcess()?.name}:${tag}:start`);
        await gate.promise;
        seen.push(`${currentProcess()?.name}:${tag}:end`);
      },
      args: ['x'],
      name: 'A',
    });
    const b = new Process({ target: () => void seen.push(`${currentProcess()?.name}:y`), name: 'B' });
    a.start();
    b.start();
    assert.equal(a.isAlive(), true);
    await bounded(b.join());
    assert.deepEqual(activeChildren(), [a]);
    await a.join(10); // times out: the task waits for the gate
    assert.equal(a.isAlive(), true);
    gate.resolve();
    await bounded(a.join());
    // currentProcess() follows each task across awaits
    assert.deepEqual(seen, ['A:x:start', 'B:y', 'A:x:end']);
    assert.equal(a.exitCode, 0);
    assert.equal(currentProcess(), null);
    assert.deepEqual(activeChildren(), []);
    assert.ok(cpuCount() >= 1);
  });

  it('a task that throws ends with exitCode 1; misuse throws ProcessError', async () => {
    const p = new Process({
      target: () => {
        throw new Error('dummy failure (expected in this test)');
      },
    });
    await assert.rejects(p.join(), ProcessError);
    assert.throws(() => p.joinSync(), ProcessError);
    p.start();
    assert.throws(() => p.start(), ProcessError);
    await bounded(p.join());
    assert.equal(p.exitCode, 1);
    assert.match(p.name, /^Thread-\d+$/);
    assert.throws(() => new Process({ target: 3 as unknown as () => void }), TypeError);
  });

  it('joinSync returns for an ended task and throws (not hangs) for a running one; a task cannot join itself', async () => {
    const gate = deferred();
    let selfJoin: unknown;
    const p = new Process({
      target: async () => {
        selfJoin = await currentProcess()!.join().catch((e: unknown) => e);
        await gate.promise;
      },
    });
    p.start();
    await until(() => selfJoin !== undefined);
    assert.ok(isProcessError(/cannot join current process/)(selfJoin));
    assert.throws(() => p.joinSync(), isProcessError(/would wait forever/));
    const t0 = performance.now();
    p.joinSync(20); // blocks the thread 20 ms, the task cannot progress meanwhile
    assert.ok(performance.now() - t0 >= 15);
    assert.equal(p.isAlive(), true);
    gate.resolve();
    await bounded(p.join());
    p.joinSync();
    assert.equal(p.exitCode, 0);
  });
});

describe('multiprocessing-ts/dummy Lock and RLock', () => {
  it('Lock: one holder at a time, waiters served in order, Python errors', async () => {
    const lock = new Lock();
    const order: string[] = [];
    assert.equal(await lock.acquire(), true);
    const tasks = ['a', 'b', 'c'].map((n) =>
      lock.with(async () => {
        order.push(`${n}+`);
        await turns(2);
        order.push(`${n}-`);
      }),
    );
    await turns();
    assert.deepEqual(order, []); // all wait for the first holder
    assert.equal(await lock.acquire({ block: false }), false);
    const t0 = performance.now();
    assert.equal(await lock.acquire({ timeout: 30 }), false);
    assert.ok(performance.now() - t0 >= 25);
    lock.release();
    await bounded(Promise.all(tasks));
    assert.deepEqual(order, ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
    assert.equal(lock.locked(), false);
    assert.throws(() => lock.release(), isProcessError(/^release unlocked lock/));
    // with() releases when fn throws
    await assert.rejects(lock.with(() => Promise.reject(new RangeError('inner'))), RangeError);
    assert.equal(lock.locked(), false);
  });

  it('Lock: an aborted wait leaves the queue as it was; acquireSync throws instead of hanging', async () => {
    const lock = new Lock();
    lock.acquireSync();
    const ac = new AbortController();
    const aborted = lock.acquire({ signal: ac.signal });
    const next = lock.acquire();
    ac.abort(new Error('stop waiting'));
    await assert.rejects(aborted, /stop waiting/);
    assert.equal(lock.acquireSync({ block: false }), false);
    assert.throws(() => lock.acquireSync(), isProcessError(/would wait forever/));
    const t0 = performance.now();
    assert.equal(lock.acquireSync({ timeout: 20 }), false);
    assert.ok(performance.now() - t0 >= 15);
    lock.release(); // goes to `next`, not to the aborted waiter
    assert.equal(await bounded(next), true);
    assert.equal(lock.locked(), true);
    lock.release();
    await assert.rejects(lock.acquire({ signal: AbortSignal.abort(new Error('already')) }), /already/);
    assert.throws(() => lock.acquireSync({ timeout: Number.NaN }), TypeError);
  });

  it('RLock: re-entrant for its owner (the dummy Process), exclusive between tasks', async () => {
    const rlock = new RLock();
    const events: string[] = [];
    const gate = deferred();
    const a = new Process({
      name: 'A',
      target: async () => {
        await rlock.acquire();
        await rlock.acquire(); // re-enters
        events.push('A holds twice');
        await gate.promise;
        rlock.release();
        events.push('A released once');
        await turns(5);
        rlock.release();
      },
    });
    const b = new Process({
      name: 'B',
      target: async () => {
        await until(() => events.length > 0);
        assert.throws(() => rlock.release(), isProcessError(/^cannot release un-acquired lock/));
        assert.equal(await rlock.acquire({ block: false }), false);
        assert.throws(() => rlock.acquireSync(), isProcessError(/would wait forever/));
        await rlock.acquire();
        events.push('B holds');
        rlock.release();
      },
    });
    a.start();
    b.start();
    await until(() => events.length === 1);
    await turns();
    gate.resolve();
    await bounded(Promise.all([a.join(), b.join()]));
    assert.deepEqual(events, ['A holds twice', 'A released once', 'B holds']);
    assert.equal(a.exitCode, 0);
    assert.equal(b.exitCode, 0);
  });

  it('RLock.with: concurrent calls of plain async code exclude each other, nested calls re-enter', async () => {
    const rlock = new RLock();
    let inside = 0;
    let most = 0;
    const body = async (): Promise<string> => {
      inside++;
      most = Math.max(most, inside);
      const nested = await rlock.with(() => 'nested');
      await turns(3);
      inside--;
      return nested;
    };
    const r = await bounded(Promise.all([rlock.with(body), rlock.with(body), rlock.with(body)]));
    assert.deepEqual(r, ['nested', 'nested', 'nested']);
    assert.equal(most, 1);
    assert.equal(await rlock.acquire({ block: false }), true); // free again
    rlock.release();
  });
});

describe('multiprocessing-ts/dummy RLock inside with() of another lock', () => {
  it('a with() context still holds the RLocks its caller holds (no self-deadlock), but not those of a sibling', async () => {
    const a = new RLock();
    const b = new RLock();
    await b.acquire(); // the main task holds b
    const inner = await bounded(
      a.with(async () => {
        await b.acquire(); // re-enters: the caller of with() holds b
        b.release();
        return 'no deadlock';
      }),
    );
    assert.equal(inner, 'no deadlock');
    b.release();
    assert.throws(() => b.release(), isProcessError(/^cannot release un-acquired lock/));

    // Inside a dummy Process, the same holds for the process's own locks.
    const p = new Process({
      target: async () => {
        await b.acquire();
        await a.with(() => b.with(() => 'nested'));
        b.release();
      },
    });
    p.start();
    await bounded(p.join());
    assert.equal(p.exitCode, 0);

    // Siblings: a lock taken inside one with() is not the other's.
    const x = new RLock();
    const y = new RLock();
    const gate = deferred();
    const first = x.with(async () => {
      await b.acquire();
      await gate.promise;
      b.release();
    });
    await turns();
    let siblingGot: boolean | undefined;
    await bounded(y.with(async () => void (siblingGot = await b.acquire({ block: false }))));
    assert.equal(siblingGot, false);
    gate.resolve();
    await bounded(first);
    assert.equal(await b.acquire({ block: false }), true);
    b.release();
  });
});

describe('multiprocessing-ts/dummy Semaphore, BoundedSemaphore', () => {
  it('Semaphore(2) lets two tasks in at a time', async () => {
    const sem = new Semaphore(2);
    let inside = 0;
    let most = 0;
    const done = await bounded(
      Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          sem.with(async () => {
            inside++;
            most = Math.max(most, inside);
            await turns(3);
            inside--;
            return i;
          }),
        ),
      ),
    );
    assert.deepEqual(done, [0, 1, 2, 3, 4, 5]);
    assert.equal(most, 2);
    assert.equal(sem.getValue(), 2);
    assert.throws(() => new Semaphore(-1), RangeError);
  });

  it('acquire with timeout, acquireSync and BoundedSemaphore over-release', async () => {
    const sem = new Semaphore(0);
    assert.equal(await sem.acquire({ timeout: 10 }), false);
    assert.equal(sem.acquireSync({ block: false }), false);
    assert.throws(() => sem.acquireSync(), isProcessError(/would wait forever/));
    const waiting = sem.acquire();
    sem.release(); // handed to the waiter
    assert.equal(await bounded(waiting), true);
    assert.equal(sem.getValue(), 0);
    sem.release();
    assert.equal(sem.acquireSync(), true);

    const b = new BoundedSemaphore(1);
    assert.throws(() => b.release(), isProcessError(/^Semaphore released too many times/));
    await b.acquire();
    b.release();
    assert.equal(b.getValue(), 1);
  });
});

describe('multiprocessing-ts/dummy Condition, Event, Barrier', () => {
  it('Condition: producer/consumer with waitFor; wait and notify need the lock', async () => {
    const cond = new Condition();
    const items: number[] = [];
    await assert.rejects(cond.wait(), isProcessError(/^cannot wait on un-acquired lock/));
    assert.throws(() => cond.notify(), isProcessError(/^cannot notify on un-acquired lock/));
    const consumed: number[] = [];
    const consumer = new Process({
      target: async () => {
        for (let i = 0; i < 3; i++) {
          await cond.with(async () => {
            await cond.waitFor(() => items.length > 0);
            consumed.push(items.shift()!);
          });
        }
      },
    });
    consumer.start();
    for (let i = 1; i <= 3; i++) {
      await turns(3);
      await cond.with(() => {
        items.push(i * 10);
        cond.notify();
      });
    }
    await bounded(consumer.join());
    assert.deepEqual(consumed, [10, 20, 30]);
    assert.equal(consumer.exitCode, 0);
  });

  it('Condition: wait(ms) times out with the lock taken back; notify(n) wakes n waiters', async () => {
    const cond = new Condition(new Lock());
    await cond.acquire();
    assert.equal(await cond.wait(15), false);
    assert.throws(() => cond.waitSync(), isProcessError(/would wait forever/));
    assert.equal(cond.waitSync(5), false);
    assert.equal(cond.waitForSync(() => 'ready'), 'ready');
    cond.release(); // still held after the timed-out wait: release works
    const woke: number[] = [];
    const waiters = [1, 2, 3].map((i) =>
      cond.with(async () => {
        if (await cond.wait(2000)) woke.push(i);
      }),
    );
    await turns();
    await cond.with(() => cond.notify(2));
    await until(() => woke.length === 2);
    await cond.with(() => cond.notifyAll());
    await bounded(Promise.all(waiters));
    assert.deepEqual(woke, [1, 2, 3]);
    assert.throws(() => new Condition({} as unknown as Lock), TypeError);
  });

  it('Event: waiters wake on set(); wait(ms) gives false; waitSync throws when it cannot be set', async () => {
    const ev = new Event();
    assert.equal(await ev.wait(10), false);
    assert.throws(() => ev.waitSync(), isProcessError(/would wait forever/));
    const waiters = [ev.wait(), ev.wait(5000)];
    await turns();
    ev.set();
    assert.deepEqual(await bounded(Promise.all(waiters)), [true, true]);
    assert.equal(ev.waitSync(), true);
    ev.clear();
    assert.equal(ev.isSet(), false);
    const ac = new AbortController();
    const w = ev.wait(undefined, { signal: ac.signal });
    ac.abort(new Error('no more'));
    await assert.rejects(w, /no more/);
  });

  it('Barrier: arrival indices, action once before release, timeout breaks it', async () => {
    let actions = 0;
    const b = new Barrier(3, { action: () => void actions++ });
    const got = await bounded(Promise.all([b.wait(), b.wait(), b.wait()]));
    assert.deepEqual([...got].sort(), [0, 1, 2]);
    assert.equal(actions, 1);
    assert.equal(b.nWaiting, 0);

    const first = b.wait();
    assert.equal(b.nWaiting, 1);
    const late = b.wait(15); // times out: breaks the barrier for everyone
    await assert.rejects(late, BrokenBarrierError);
    await assert.rejects(first, BrokenBarrierError);
    assert.equal(b.broken, true);
    await assert.rejects(b.wait(), BrokenBarrierError);
    b.reset();
    assert.equal(b.broken, false);

    const two = new Barrier(2);
    const w = two.wait();
    assert.equal(two.waitSync(), 1); // the last party passes without waiting
    assert.equal(await bounded(w), 0);
    assert.throws(() => two.waitSync(), isProcessError(/would wait forever/));
    const pending = two.wait();
    two.abort();
    await assert.rejects(pending, BrokenBarrierError);
  });
});

describe('multiprocessing-ts/dummy Barrier actions', () => {
  it('an async action runs before anyone passes; a failing or interrupted action breaks the barrier for all', async () => {
    const gate = deferred();
    const order: string[] = [];
    const b = new Barrier(2, { action: async () => (order.push('action start'), await gate.promise, order.push('action end')) });
    const w0 = b.wait().then((i) => (order.push(`passed ${i}`), i));
    const w1 = b.wait().then((i) => (order.push(`passed ${i}`), i));
    await turns();
    assert.deepEqual(order, ['action start']);
    gate.resolve();
    assert.deepEqual((await bounded(Promise.all([w0, w1]))).sort(), [0, 1]);
    assert.equal(order[1], 'action end');

    const failing = new Barrier(2, { action: () => Promise.reject(new RangeError('action failed')) });
    const f0 = failing.wait();
    await assert.rejects(failing.wait(), RangeError); // the last party gets the action's error
    await assert.rejects(bounded(f0), BrokenBarrierError);
    assert.equal(failing.broken, true);

    const hold = deferred();
    const interrupted = new Barrier(2, { action: () => hold.promise });
    const i0 = interrupted.wait();
    const i1 = interrupted.wait();
    await turns();
    interrupted.abort();
    hold.resolve();
    await assert.rejects(bounded(i0), BrokenBarrierError);
    await assert.rejects(bounded(i1), BrokenBarrierError);
  });
});

describe('multiprocessing-ts/dummy Queue, JoinableQueue', () => {
  it('FIFO; maxsize makes put wait; Empty/Full with Python semantics', async () => {
    const q = new Queue<{ n: number }>(2);
    const obj = { n: 1 };
    await q.put(obj);
    await q.put({ n: 2 });
    assert.equal(q.full(), true);
    await assert.rejects(q.put({ n: 0 }, { block: false }), Full);
    assert.throws(() => q.putNowait({ n: 0 }), Full);
    assert.throws(() => q.putSync({ n: 0 }), isProcessError(/would wait forever/));
    const t0 = performance.now();
    await assert.rejects(q.put({ n: 0 }, { timeout: 20 }), Full);
    assert.ok(performance.now() - t0 >= 15);
    let putDone = false;
    const p3 = q.put({ n: 3 }).then(() => (putDone = true));
    await turns();
    assert.equal(putDone, false);
    assert.equal(await q.get(), obj); // the same object: nothing is copied
    await bounded(p3);
    assert.deepEqual([(await q.get()).n, q.getNowait().n], [2, 3]);
    assert.throws(() => q.getNowait(), Empty);
    assert.throws(() => q.getSync(), isProcessError(/would wait forever/));
    await assert.rejects(q.get({ timeout: 10 }), Empty);
    await assert.rejects(q.get({ block: false }), Empty);
    assert.equal(q.qsize(), 0);
    assert.equal(q.empty(), true);
  });

  it('waiting getters are served in order, an aborted get takes nothing, for-await stops at null, close rejects waiters', async () => {
    const q = new Queue<number | null>();
    const ac = new AbortController();
    const g1 = q.get();
    const g2 = q.get({ signal: ac.signal });
    const g3 = q.get();
    ac.abort(new Error('gone'));
    await assert.rejects(g2, /gone/);
    q.putSync(1);
    q.putSync(2);
    assert.deepEqual(await bounded(Promise.all([g1, g3])), [1, 2]);
    for (const x of [3, 4, null, 5]) await q.put(x);
    const seen: (number | null)[] = [];
    for await (const x of q) seen.push(x);
    assert.deepEqual(seen, [3, 4]);
    assert.equal(q.getSync(), 5);
    const w = q.get();
    q.close();
    await assert.rejects(w, isProcessError(/closed/));
    await assert.rejects(q.put(1), isProcessError(/closed/));
    await q.joinThread();
  });

  it('JoinableQueue: join waits for every taskDone; too many taskDone is an error', async () => {
    const q = new JoinableQueue<number>();
    q.joinSync(); // nothing unfinished: returns
    const done: number[] = [];
    const worker = new Process({
      target: async () => {
        for (;;) {
          const x = await q.get();
          if (x < 0) return q.taskDone();
          await turns(2);
          done.push(x);
          q.taskDone();
        }
      },
    });
    worker.start();
    for (const x of [1, 2, 3]) await q.put(x);
    assert.throws(() => q.joinSync(), isProcessError(/would wait forever/));
    await bounded(q.join());
    assert.deepEqual(done, [1, 2, 3]);
    await q.put(-1);
    await bounded(worker.join());
    assert.throws(() => q.taskDone(), isProcessError(/^taskDone\(\) called too many times/));
  });
});

describe('multiprocessing-ts/dummy Pipe', () => {
  it('duplex ends pass values by reference, in order; EOFError once the other end is closed and drained', async () => {
    const [a, b] = Pipe<{ v: number }>();
    const msg = { v: 1 };
    await a.send(msg);
    b.sendSync({ v: 2 });
    assert.equal(await b.recv(), msg);
    assert.equal(await a.poll(), true);
    assert.deepEqual(a.recvSync(), { v: 2 });
    assert.equal(await a.poll(), false);
    assert.equal(a.pollSync(), false);
    assert.throws(() => a.recvSync(), isProcessError(/would wait forever/));
    assert.throws(() => a.pollSync(null), isProcessError(/would wait forever/));
    const later = a.poll(5000);
    const got = a.recv();
    await b.send({ v: 3 });
    assert.equal(await bounded(later), true);
    assert.deepEqual(await bounded(got), { v: 3 });
    await b.send({ v: 4 });
    b.close();
    assert.deepEqual(await a.recv(), { v: 4 });
    await assert.rejects(a.recv(), EOFError);
    assert.equal(await a.poll(), true); // the end of the stream is "ready"
    await assert.rejects(a.send({ v: 5 }), isProcessError(/broken pipe/));
    await assert.rejects(b.recv(), isProcessError(/closed/));

    // closing an end wakes its own pending recv/poll with an error instead of leaving them waiting
    const [c, d] = Pipe<number>();
    const pendingRecv = c.recv();
    const pendingPoll = c.poll(null);
    c.close();
    await assert.rejects(bounded(pendingRecv), isProcessError(/closed while receiving/));
    await assert.rejects(bounded(pendingPoll), isProcessError(/closed while polling/));
    await assert.rejects(d.recv(), EOFError);
  });

  it('one-way pipes, bytes, BufferTooShort, abort', async () => {
    const [r, w] = Pipe<string>(false);
    assert.equal(r.writable, false);
    assert.equal(w.readable, false);
    await assert.rejects(r.send('x'), isProcessError(/read-only/));
    await assert.rejects(w.recv(), isProcessError(/write-only/));
    const src = new Uint8Array([1, 2, 3, 4, 5]);
    await w.sendBytes(src, 1, 3);
    src[1] = 99; // the message was copied
    assert.deepEqual([...(await r.recvBytes())], [2, 3, 4]);
    await w.sendBytes(new Uint8Array(8));
    const err = await r.recvBytesInto(new Uint8Array(4)).catch((e: unknown) => e);
    assert.ok(err instanceof BufferTooShort);
    assert.equal((err as BufferTooShort & { bytes: Uint8Array }).bytes.length, 8);
    w.sendBytesSync(new Uint8Array([7, 8]));
    const into = new Uint8Array(4);
    assert.equal(r.recvBytesIntoSync(into, 1), 2);
    assert.deepEqual([...into], [0, 7, 8, 0]);
    const ac = new AbortController();
    const pending = r.recv({ signal: ac.signal });
    ac.abort(new Error('cancelled'));
    await assert.rejects(pending, /cancelled/);
    w.sendSync('still here');
    assert.equal(await r.recv(), 'still here'); // the abort took nothing
  });
});

describe('multiprocessing-ts/dummy Value, Array, Manager', () => {
  it('Value and Array keep Python typecodes and C conversions', async () => {
    const b = new Value('b', 0);
    b.value = 300; // wraps as a C signed char
    assert.equal(b.value, 44);
    const q = new Value('q', 5n);
    q.value += 1n;
    assert.equal(q.value, 6n);
    assert.throws(() => new Value('i', 1.5 as number), TypeError);
    assert.throws(() => new Value('z' as 'i', 0), TypeError);
    const c = new Value('c', 'x');
    assert.equal(c.value, 'x');
    const lock = b.getLock();
    assert.ok(lock instanceof RLock);
    assert.throws(() => new Value('i', 0, { lock: false }).getLock(), ProcessError);

    const arr = new DArray('i', [1, 2, 3]);
    assert.equal(DArray, SharedArray);
    arr.set(-1, 30);
    assert.deepEqual(arr.toArray(), [1, 2, 30]);
    assert.deepEqual([...arr], [1, 2, 30]);
    assert.deepEqual(arr.slice(1), [2, 30]);
    assert.ok(arr.view instanceof Int32Array);
    assert.throws(() => arr.get(3), RangeError);
    const s = new DArray('c', 'hello');
    s.value = 'hi';
    assert.equal(s.value, 'hi');
    assert.deepEqual([...s.raw], [104, 105, 0, 108, 111]);
    assert.equal(new DArray('d', 3).length, 3);
  });

  it('Manager() returns the dummy module; dict, list, Namespace are plain objects', async () => {
    const m = await Manager();
    assert.equal(m.Manager, Manager);
    assert.equal(m.Lock, Lock);
    assert.equal(m.Queue, Queue);
    assert.equal(m.Pool, Pool);
    assert.deepEqual(Object.keys(m).sort(), Object.keys(dummy).sort());
    const d = m.dict<string, number>([['a', 1]]);
    d.set('b', 2);
    assert.deepEqual([...d], [['a', 1], ['b', 2]]);
    assert.deepEqual(m.list('abc'), ['a', 'b', 'c']);
    const ns = m.Namespace({ x: 1 });
    ns.y = 'two';
    assert.equal(String(ns), "Namespace(x=1, y='two')");
    const q = new m.Queue<number>();
    q.putSync(1);
    assert.equal(q.getSync(), 1);
    m.shutdown();
  });

  it('exports the same errors as the main entry', () => {
    assert.equal(ProcessError, mp.ProcessError);
    assert.equal(TimeoutError, mp.TimeoutError);
    assert.equal(Empty, mp.Empty);
    assert.equal(AsyncResult, mp.AsyncResult);
    assert.equal(ThreadPool, Pool);
  });
});

describe('multiprocessing-ts/dummy Pool', () => {
  it('map runs closures and keeps the input order whatever the finishing order', async () => {
    const pool = new Pool(4);
    const factor = 3; // a closure: nothing needs exporting
    const r = await bounded(
      pool.map(
        async (x: number) => {
          await turns(10 - x); // later items finish first
          return x * factor;
        },
        [1, 2, 3, 4, 5, 6, 7, 8],
        1,
      ),
    );
    assert.deepEqual(r, [3, 6, 9, 12, 15, 18, 21, 24]);
    assert.deepEqual(await pool.map((x: number) => x + 1, []), []);
    assert.deepEqual(await pool.starmap((a: number, b: string) => b.repeat(a), [[2, 'x'], [1, 'y']]), ['xx', 'y']);
    assert.deepEqual(await bounded(pool.starmapAsync((a: number, b: number) => a * b, [[2, 3], [4, 5]]).get()), [6, 20]);
    pool.close();
    await bounded(pool.join());
  });

  it('never runs more than `processes` tasks at once, and does run that many', async () => {
    const pool = new Pool(3);
    let running = 0;
    let most = 0;
    const gates: { resolve: () => void }[] = [];
    const names = new Set<string>();
    const all = pool.map(
      async (i: number) => {
        running++;
        most = Math.max(most, running);
        names.add(currentProcess()!.name);
        const g = deferred();
        gates.push(g);
        await g.promise;
        running--;
        return i * i;
      },
      Array.from({ length: 10 }, (_, i) => i),
      1,
    );
    for (let released = 0; released < 10; released++) {
      await until(() => gates.length === Math.min(10, released + 3), 5000, `${released + 3} tasks started`);
      await turns();
      assert.equal(running, Math.min(3, 10 - released));
      gates[released]!.resolve();
    }
    assert.deepEqual(await bounded(all), [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    assert.equal(most, 3);
    assert.equal(names.size, 3);
    for (const n of names) assert.match(n, /^DummyPoolWorker-\d+$/);
    assert.equal(activeChildren().filter((p) => names.has(p.name)).length, 3);
    pool.close();
    await bounded(pool.join());
    assert.equal(activeChildren().filter((p) => names.has(p.name)).length, 0);
  });

  it('applyAsync: AsyncResult states, callbacks, get(ms) TimeoutError, errors come back as thrown', async () => {
    const pool = new Pool(2);
    const gate = deferred();
    const calls: unknown[] = [];
    const r = pool.applyAsync(async (a: number, b: number) => (await gate.promise, a + b), [2, 3], { callback: (v) => calls.push(v) });
    assert.equal(r.ready(), false);
    assert.throws(() => r.successful(), ProcessError);
    await assert.rejects(r.get(10), TimeoutError);
    await r.wait(5);
    gate.resolve();
    assert.equal(await bounded(r.get()), 5);
    assert.equal(await r, 5); // thenable
    assert.deepEqual([r.ready(), r.successful()], [true, true]);
    assert.deepEqual(calls, [5]);

    class Oops extends Error {}
    const boom = new Oops('boom');
    const errs: unknown[] = [];
    const f = pool.applyAsync(() => {
      throw boom;
    }, [], { errorCallback: (e) => errs.push(e) });
    await assert.rejects(bounded(f.get()), (e) => e === boom);
    assert.equal(f.successful(), false);
    assert.deepEqual(errs, [boom]);

    // a callback that throws does not break the pool
    const r2 = pool.applyAsync(() => 7, [], {
      callback: () => {
        throw new Error('callback failure (expected in this test)');
      },
    });
    assert.equal(await bounded(r2.get()), 7);
    assert.equal(await bounded(pool.apply((s: string) => s.toUpperCase(), ['ok'])), 'OK');
    await assert.rejects(pool.map((x: number) => {
      if (x === 3) throw new RangeError('three');
      return x;
    }, [1, 2, 3, 4]), RangeError);
    pool.terminate();
    await bounded(pool.join());
  });

  it('imap keeps order, imapUnordered yields in finishing order, next(ms) times out; input is read lazily', async () => {
    const pool = new Pool(3);
    const gates = [deferred(), deferred(), deferred()];
    const it = pool.imapUnordered(async (i: number) => (await gates[i]!.promise, i), [0, 1, 2]);
    await assert.rejects(it.next(10), TimeoutError);
    gates[2]!.resolve();
    assert.deepEqual(await bounded(it.next()), { value: 2, done: false });
    gates[0]!.resolve();
    gates[1]!.resolve();
    const rest: number[] = [];
    for await (const x of it) rest.push(x);
    assert.deepEqual(rest.sort(), [0, 1]);

    const ordered: number[] = [];
    for await (const x of pool.imap(async (i: number) => (await turns(5 - i), i * 2), [0, 1, 2, 3, 4], 2)) ordered.push(x);
    assert.deepEqual(ordered, [0, 2, 4, 6, 8]);

    let read = 0;
    function* endless(): Generator<number> {
      for (let i = 0; ; i++) {
        read++;
        yield i;
      }
    }
    const firsts: number[] = [];
    for await (const x of pool.imap((i: number) => i, endless())) {
      firsts.push(x);
      if (firsts.length === 5) break;
    }
    assert.deepEqual(firsts, [0, 1, 2, 3, 4]);
    assert.ok(read <= 5 + pool._lookahead + 1, `read ${read} items of an endless input`);
    pool.close();
    await bounded(pool.join());
  });

  it('state errors as Python: Pool not running, join before close', async () => {
    const pool = new Pool(1);
    await assert.rejects(pool.join(), isProcessError(/^Pool is still running/));
    pool.close();
    assert.throws(() => pool.applyAsync(() => 1), isProcessError(/^Pool not running/));
    await assert.rejects(pool.map((x: number) => x, [1]), isProcessError(/^Pool not running/));
    assert.throws(() => pool.imap((x: number) => x, [1]), isProcessError(/^Pool not running/));
    await bounded(pool.join());
    assert.throws(() => new Pool(0), RangeError);
    assert.throws(() => new Pool({ maxTasksPerChild: 2 } as unknown as number), TypeError);
    assert.throws(() => new Pool(1).applyAsync(3 as unknown as () => void), TypeError);
  });

  it('close() lets queued work finish; terminate() rejects what is pending at once', async () => {
    const pool = new Pool(1);
    const gate = deferred();
    const first = pool.applyAsync(async () => (await gate.promise, 'first'));
    const second = pool.applyAsync(() => 'second');
    pool.close();
    gate.resolve();
    await bounded(pool.join());
    assert.deepEqual([await first, await second], ['first', 'second']);

    const p2 = new Pool(1);
    const hold = deferred();
    let secondRan = false;
    const running = p2.applyAsync(async () => (await hold.promise, 1));
    const queued = p2.applyAsync(() => (secondRan = true));
    await turns();
    p2.terminate();
    await assert.rejects(running.get(), isProcessError(/terminated/));
    await assert.rejects(queued.get(), isProcessError(/terminated/));
    hold.resolve(); // the running function returns; join then resolves
    await bounded(p2[Symbol.asyncDispose]());
    assert.equal(secondRan, false);
  });

  it('timeout and abort reject the task at once; the worker stays busy until the function returns', async () => {
    const pool = new Pool(1);
    const hold = deferred();
    const order: string[] = [];
    const slow = pool.applyAsync(async () => {
      order.push('slow start');
      await hold.promise;
      order.push('slow end');
    }, [], { timeout: 20 });
    const next = pool.applyAsync(() => void order.push('next'));
    await assert.rejects(bounded(slow.get()), TimeoutError);
    await turns();
    assert.deepEqual(order, ['slow start']); // one worker, still running the timed-out function
    hold.resolve();
    await bounded(next.get());
    assert.deepEqual(order, ['slow start', 'slow end', 'next']);

    const ac = new AbortController();
    let ran = false;
    const gate = deferred();
    const blocker = pool.applyAsync(() => gate.promise);
    const aborted = pool.applyAsync(() => (ran = true), [], { signal: ac.signal });
    ac.abort(new Error('not needed'));
    await assert.rejects(aborted.get(), /not needed/);
    gate.resolve();
    await bounded(blocker.get());
    await bounded(pool.apply(() => 0)); // the queue moved past the aborted task
    assert.equal(ran, false); // aborted before it started: never run
    assert.throws(() => pool.applyAsync(() => 1, [], { signal: AbortSignal.abort(new Error('x')) }), /x/);
    pool.close();
    await bounded(pool.join());
  });

  it('initializer runs once per worker before its tasks; a failing one fails tasks instead of hanging', async () => {
    const inits: string[] = [];
    const pool = new Pool({ processes: 2, initializer: async (tag: string) => void inits.push(`${tag}:${currentProcess()!.name}`), initargs: ['init'] });
    const names = await bounded(pool.map(async () => (await turns(2), currentProcess()!.name), [1, 2, 3, 4, 5, 6], 1));
    assert.equal(inits.length, 2);
    for (const n of new Set(names)) assert.ok(inits.includes(`init:${n}`));
    pool.close();
    await bounded(pool.join());

    const bad = new Pool({
      processes: 1,
      initializer: () => {
        throw new Error('initializer failure (expected in this test)');
      },
    });
    await assert.rejects(bounded(bad.apply(() => 1)), /initializer failure/);
    await assert.rejects(bounded(bad.apply(() => 2)), /initializer failure/);
    bad.terminate();
    await bounded(bad.join());
  });

  it('a task timeout fires even when nothing else keeps the program alive', async () => {
    const code =
      "import { Pool } from 'multiprocessing-ts/dummy'; const p = new Pool(1); " +
      "const r = p.applyAsync(() => new Promise(() => {}), [], { timeout: 50 }); " +
      "console.log(await r.get().catch((e) => e.name));";
    const r = await runProgram(['--input-type=module', '-e', code], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'TimeoutError');
  });

  it('an idle pool does not keep the program alive', async () => {
    const code = "import { Pool } from 'multiprocessing-ts/dummy'; const p = new Pool(2); console.log(await p.map((x) => x * 2, [1, 2]));";
    const r = await runProgram(['--input-type=module', '-e', code], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\[ 2, 4 \]/);
  });
});
