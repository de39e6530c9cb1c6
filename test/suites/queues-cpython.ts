/**
 * CPython 3.11's `_TestQueue`, `_TestConnection` and `_TestPoll`
 * (Lib/test/_test_multiprocessing.py), ported to multiprocessing-ts.
 * test/CPYTHON.md maps every CPython method to a test here (or says why not).
 *
 * Children are started with `getContext(method).Process`; their targets are
 * the exports of test/fixtures/queue-targets.ts. They report through the
 * queues, pipes and events they are given, or through their exit code (a
 * failed check in a child throws: exitCode 1).
 *
 * Timeouts are in milliseconds. Every wait is bounded; where CPython checks a
 * duration ("get(timeout=0.1) takes about 0.1 s") the test asserts a lower
 * bound and a generous upper bound. No sleep is used to synchronise.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BufferTooShort,
  EOFError,
  Empty,
  Event,
  Full,
  JoinableQueue,
  Pipe,
  ProcessError,
  Queue,
  SimpleQueue,
  activeChildren,
  getContext,
  wait,
  type Process,
} from 'multiprocessing-ts';
import { withChildren, type Children } from '../children.js';
import * as t from '../fixtures/queue-targets.js';

type StartMethod = 'thread' | 'process';
type Context = ReturnType<typeof getContext>;
/** Per-test bound (node:test fails the test when it runs longer). */
const TEST = { timeout: 30_000 } as const;
/** Bound of every join. */
const JOIN_MS = 20_000;
/** Bound of a wait that is expected to succeed. */
const WAIT_MS = 10_000;
/** CPython's TIMEOUT1..3 (0.1 s each on Linux), in ms; made distinct here. */
const TIMEOUT1 = 100;
const TIMEOUT2 = 150;
const TIMEOUT3 = 200;
/** A timed wait may end this much before its timeout (clock granularity). */
const EARLY_MS = 15;
/** Generous bound on how late a timed wait may end. */
const LATE_MS = 2_000;
/** Upper bound of a call that should not wait at all. */
const QUICK_MS = 500;
/** CPython's SENTINEL of `_echo`: an empty message ends the echo. */
const SENTINEL = new Uint8Array(0);

// ---------------------------------------------------------------------------
// Helpers

async function timed<T>(fn: () => T | Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** Runs `fn`, which must throw (or reject with) an instance of `cls`; returns how long it took. */
async function timedThrow(fn: () => unknown, cls: abstract new (...a: never[]) => Error, what: string): Promise<number> {
  const t0 = performance.now();
  try {
    await fn();
  } catch (e) {
    const ms = performance.now() - t0;
    assert.ok(e instanceof cls, `${what}: expected ${cls.name}, got ${describeError(e)}`);
    return ms;
  }
  assert.fail(`${what}: expected ${cls.name}, but it succeeded`);
}

/** The call ended after about `expected` ms: not before it, and not much after. */
function assertAbout(ms: number, expected: number, what: string): void {
  assert.ok(ms >= expected - EARLY_MS, `${what} returned after ${ms.toFixed(1)} ms, before its ${expected} ms timeout`);
  assert.ok(ms <= expected + LATE_MS, `${what} took ${ms.toFixed(1)} ms for a ${expected} ms timeout`);
}

/** The call did not wait. */
function assertQuick(ms: number, what: string): void {
  assert.ok(ms < QUICK_MS, `${what} took ${ms.toFixed(1)} ms; it should not wait`);
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}(${JSON.stringify(e.message)})` : String(e);
}

/** Validator for assert.throws/rejects: misuse is a ProcessError whose message matches `words`. */
function misuse(words: RegExp): (e: unknown) => true {
  return (e) => {
    assert.ok(e instanceof ProcessError, `expected a ProcessError, got ${describeError(e)}`);
    assert.match((e as Error).message, words);
    return true;
  };
}

/** Validator: a bad argument is a RangeError whose message matches `words` (Python's ValueError). */
function rangeError(words: RegExp): (e: unknown) => true {
  return (e) => {
    assert.ok(e instanceof RangeError, `expected a RangeError, got ${describeError(e)}`);
    assert.match((e as Error).message, words);
    return true;
  };
}

/** Validator: a value that cannot be sent is a TypeError. */
function cannotSend(e: unknown): true {
  assert.ok(e instanceof TypeError, `expected a TypeError, got ${describeError(e)}`);
  assert.match((e as Error).message, /cannot be sent|could not be cloned/);
  return true;
}

function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

function str(b: Uint8Array): string {
  assert.ok(b instanceof Uint8Array, `expected a Uint8Array, got ${String(b)}`);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** A bound for the calls that take no timeout (recv, recvBytes, join of a JoinableQueue). */
function bounded(ms: number = WAIT_MS): { signal: AbortSignal } {
  return { signal: AbortSignal.timeout(ms) };
}

/** Values that cannot travel through a queue (CPython's `NotSerializable`). */
function unsendables(): Array<[string, unknown]> {
  return [
    ['a closure', () => 1],
    ['a symbol', Symbol('not sendable')],
    ['an object holding a closure', { f: () => 2 }],
  ];
}


// ---------------------------------------------------------------------------

export function queuesCpythonSuite(method: StartMethod): void {
  const ctx = getContext(method);

  /** Nothing may outlive a test: end leftovers, and fail the test that left them. */
  const noLeftovers = async (): Promise<void> => {
    const left = activeChildren();
    for (const p of left) {
      p.kill();
      await p.join(JOIN_MS);
    }
    assert.deepEqual(
      left.map((p) => p.name),
      [],
      'children were left alive by the test',
    );
  };

  // -------------------------------------------------------------------------
  describe(`CPython _TestQueue [${method}]`, () => {
    afterEach(noLeftovers);

    it('test_put: a full queue refuses put with Full at once or after the timeout; a child drains it', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const MAXSIZE = 6;
        const queue = new Queue<number>(MAXSIZE);
        const childCanStart = new Event();
        const parentCanContinue = new Event();
        kids.start(t.takeSix, [queue, childCanStart, parentCanContinue]);

        assert.equal(queue.empty(), true);
        assert.equal(queue.full(), false);

        await queue.put(1);
        await queue.put(2, { block: true });
        await queue.put(3, { block: true, timeout: undefined });
        await queue.put(4, { block: false });
        await queue.put(5, { block: false, timeout: undefined });
        queue.putNowait(6);

        // No feeder thread: a put is done once the item is in shared memory,
        // so there is nothing to wait for (CPython sleeps DELTA here).
        assert.equal(queue.empty(), false);
        assert.equal(queue.full(), true);
        assert.equal(queue.qsize(), MAXSIZE);

        assertQuick(await timedThrow(() => queue.put(7, { block: false }), Full, 'put(7, block false)'), 'put(7, block false)');
        assertQuick(
          await timedThrow(() => queue.put(7, { block: false, timeout: undefined }), Full, 'put(7, block false, timeout undefined)'),
          'put(7, block false, timeout undefined)',
        );
        assertQuick(await timedThrow(() => queue.putNowait(7), Full, 'putNowait(7)'), 'putNowait(7)');
        assertAbout(await timedThrow(() => queue.put(7, { block: true, timeout: TIMEOUT1 }), Full, 'put(7, TIMEOUT1)'), TIMEOUT1, 'put(7, TIMEOUT1)');
        assertQuick(
          await timedThrow(() => queue.put(7, { block: false, timeout: TIMEOUT2 }), Full, 'put(7, block false, TIMEOUT2)'),
          'put(7, block false, TIMEOUT2)',
        );
        assertAbout(await timedThrow(() => queue.put(7, { timeout: TIMEOUT3 }), Full, 'put(7, TIMEOUT3)'), TIMEOUT3, 'put(7, TIMEOUT3)');

        // The Sync twins.
        assertQuick(await timedThrow(() => queue.putSync(7, { block: false }), Full, 'putSync(7, block false)'), 'putSync(7, block false)');
        assertAbout(await timedThrow(() => queue.putSync(7, { timeout: TIMEOUT1 }), Full, 'putSync(7, TIMEOUT1)'), TIMEOUT1, 'putSync(7, TIMEOUT1)');
        assertQuick(
          await timedThrow(() => queue.putSync(7, { block: false, timeout: TIMEOUT2 }), Full, 'putSync(7, block false, TIMEOUT2)'),
          'putSync(7, block false, TIMEOUT2)',
        );

        // The refused puts left the queue as it was.
        assert.equal(queue.qsize(), MAXSIZE);

        childCanStart.set();
        assert.equal(await parentCanContinue.wait(WAIT_MS), true, 'the child did not take the six items');

        assert.equal(queue.empty(), true);
        assert.equal(queue.full(), false);
        assert.equal(queue.qsize(), 0);

        await kids.joinAll();
        queue.close();
      });
    });

    it('test_get: get takes what a child put; an empty queue raises Empty at once or after the timeout', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const queue = new Queue<number>();
        const childCanStart = new Event();
        const parentCanContinue = new Event();
        kids.start(t.putTwoToFive, [queue, childCanStart, parentCanContinue]);

        assert.equal(queue.empty(), true);

        childCanStart.set();
        assert.equal(await parentCanContinue.wait(WAIT_MS), true, 'the child did not put its items');

        // No feeder thread: the child's items are in the queue once its puts returned.
        assert.equal(queue.empty(), false);

        assert.equal(await queue.get({ block: true, timeout: undefined }), 2);
        assert.equal(await queue.get({ block: true, timeout: WAIT_MS }), 3);
        assert.equal(await queue.get({ timeout: 1000 }), 4);
        assert.equal(queue.getNowait(), 5);

        assert.equal(queue.empty(), true);

        assertQuick(await timedThrow(() => queue.get({ block: false }), Empty, 'get(block false)'), 'get(block false)');
        assertQuick(await timedThrow(() => queue.get({ block: false, timeout: undefined }), Empty, 'get(block false, timeout undefined)'), 'get(block false, timeout undefined)');
        assertQuick(await timedThrow(() => queue.getNowait(), Empty, 'getNowait()'), 'getNowait()');
        assertAbout(await timedThrow(() => queue.get({ block: true, timeout: TIMEOUT1 }), Empty, 'get(TIMEOUT1)'), TIMEOUT1, 'get(TIMEOUT1)');
        assertQuick(await timedThrow(() => queue.get({ block: false, timeout: TIMEOUT2 }), Empty, 'get(block false, TIMEOUT2)'), 'get(block false, TIMEOUT2)');
        assertAbout(await timedThrow(() => queue.get({ timeout: TIMEOUT3 }), Empty, 'get(TIMEOUT3)'), TIMEOUT3, 'get(TIMEOUT3)');

        // The Sync twins.
        assertQuick(await timedThrow(() => queue.getSync({ block: false }), Empty, 'getSync(block false)'), 'getSync(block false)');
        assertAbout(await timedThrow(() => queue.getSync({ timeout: TIMEOUT1 }), Empty, 'getSync(TIMEOUT1)'), TIMEOUT1, 'getSync(TIMEOUT1)');
        assertQuick(await timedThrow(() => queue.getSync({ block: false, timeout: TIMEOUT2 }), Empty, 'getSync(block false, TIMEOUT2)'), 'getSync(block false, TIMEOUT2)');
        // Python: a timeout of 0 or less does not wait (the SPEC's rule too).
        assertQuick(await timedThrow(() => queue.get({ timeout: 0 }), Empty, 'get(timeout 0)'), 'get(timeout 0)');
        assertQuick(await timedThrow(() => queue.get({ timeout: -1 }), Empty, 'get(timeout -1)'), 'get(timeout -1)');
        assertQuick(await timedThrow(() => queue.getSync({ timeout: -1 }), Empty, 'getSync(timeout -1)'), 'getSync(timeout -1)');

        await kids.joinAll();
        queue.close();
      });
    });

    it('test_fork: items a child puts after the parent used the queue come after the parent\'s, in order', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const queue = new Queue<number>();
        for (let i = 0; i < 10; i++) await queue.put(i);

        kids.start(t.putTenToNineteen, [queue]);

        for (let i = 0; i < 20; i++) {
          assert.equal(i % 2 ? queue.getSync({ timeout: WAIT_MS }) : await queue.get({ timeout: WAIT_MS }), i);
        }
        assert.throws(() => queue.getNowait(), Empty);
        await assert.rejects(queue.get({ block: false }), Empty);

        await kids.joinAll();
        queue.close();
      });
    });

    it('test_qsize: qsize follows put and get', TEST, async () => {
      const q = new Queue<number>();
      assert.equal(q.qsize(), 0);
      await q.put(1);
      assert.equal(q.qsize(), 1);
      q.putSync(5);
      assert.equal(q.qsize(), 2);
      assert.equal(await q.get({ timeout: WAIT_MS }), 1);
      assert.equal(q.qsize(), 1);
      assert.equal(q.getSync({ timeout: WAIT_MS }), 5);
      assert.equal(q.qsize(), 0);
      q.close();
    });

    it('test_task_done: join() resolves once children have marked every item done', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const queue = new JoinableQueue<number | null>();
        const workers = [false, true, false, true].map((sync) => kids.start(t.taskWorker, [queue, sync]));

        for (let i = 0; i < 10; i++) await queue.put(i);

        // A child waits in joinSync while this thread waits in join.
        const joined = new Event();
        const joiner = kids.start(t.joinSyncThenSet, [queue, joined]);

        await queue.join(bounded());
        assert.equal(await joined.wait(WAIT_MS), true, 'joinSync in the child did not return');
        assert.equal(await joiner.join(JOIN_MS), undefined);
        assert.equal(joiner.exitCode, 0);

        for (let i = 0; i < workers.length; i++) await queue.put(null);
        await kids.joinAll();

        // The sentinels were not marked done: join would wait for them.
        assert.equal(queue.empty(), true);
        await assert.rejects(queue.join(bounded(TIMEOUT1)), (e: unknown) => (e as Error).name === 'TimeoutError');
        for (let i = 0; i < workers.length; i++) queue.taskDone();
        await queue.join(bounded());
        queue.close();
      });
    });

    it('test_no_import_lock_contention: a module that uses a Queue while it is being imported does not stall', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const m = await import('../fixtures/queue-import-time.js');
        assert.equal(m.answer, 'knock knock');
        assert.equal(m.answerSync, 'who is there');
        // In a child, the import happens while the child's own module graph is loaded.
        kids.start(t.importQueueUser, []);
        await kids.joinAll();
      });
    });

    it('test_timeout: get(200 ms) on an empty queue raises Empty after at least 100 ms', TEST, async () => {
      const q = new Queue<number>();
      const ms = await timedThrow(() => q.get({ block: true, timeout: 200 }), Empty, 'get(200)');
      assert.ok(ms >= 100, `get(200) raised Empty after ${ms.toFixed(1)} ms`);
      const msSync = await timedThrow(() => q.getSync({ block: true, timeout: 200 }), Empty, 'getSync(200)');
      assert.ok(msSync >= 100, `getSync(200) raised Empty after ${msSync.toFixed(1)} ms`);
      q.close();
    });

    it('test_queue_feeder_donot_stop_onexc: an item that cannot be sent is refused at put; the queue keeps working and its size is right', TEST, async () => {
      // Python's feeder thread prints the error and drops the item; here put
      // itself throws a TypeError (the "do better"), and nothing is put.
      for (const [what, bad] of unsendables()) {
        const q = new Queue<unknown>();
        await assert.rejects(q.put(bad), cannotSend, `put(${what})`);
        assert.throws(() => q.putSync(bad), cannotSend, `putSync(${what})`);
        assert.throws(() => q.putNowait(bad), cannotSend, `putNowait(${what})`);
        assert.equal(q.qsize(), 0);
        await q.put(true);
        assert.equal(await q.get({ timeout: WAIT_MS }), true);
        assert.equal(q.empty(), true);
        q.close();
      }

      // bpo-33078: the refused item takes no slot of a bounded queue.
      for (const [what, bad] of unsendables()) {
        const q = new Queue<unknown>(1);
        await assert.rejects(q.put(bad), cannotSend, `put(${what})`);
        assert.throws(() => q.putSync(bad), cannotSend, `putSync(${what})`);
        await q.put(true, { block: false });
        assert.equal(q.qsize(), 1);
        assert.equal(q.full(), true);
        assert.equal(await q.get({ timeout: WAIT_MS }), true);
        assert.equal(q.empty(), true);
        assert.equal(q.qsize(), 0);
        q.close();
      }

      // Nor does it count as an unfinished task of a JoinableQueue.
      const jq = new JoinableQueue<unknown>();
      await assert.rejects(jq.put(() => 3), cannotSend);
      assert.throws(() => jq.putSync(Symbol('x')), cannotSend);
      await jq.join(bounded(TIMEOUT1));
      assert.throws(() => jq.taskDone(), misuse(/taskDone|too many/));
      jq.close();
    });

    it('test_closed_queue_put_get_exceptions: put and get on a closed queue throw "is closed"', TEST, async () => {
      for (const q of [new Queue<string>(), new JoinableQueue<string>()]) {
        q.close();
        await assert.rejects(q.put('foo'), misuse(/is closed/));
        await assert.rejects(q.get(), misuse(/is closed/));
        // The other forms of put and get.
        assert.throws(() => q.putSync('foo'), misuse(/is closed/));
        assert.throws(() => q.getSync(), misuse(/is closed/));
        assert.throws(() => q.putNowait('foo'), misuse(/is closed/));
        assert.throws(() => q.getNowait(), misuse(/is closed/));
        // close() is idempotent, and joinThread() is allowed after it.
        q.close();
        await q.joinThread();
      }
      // SimpleQueue.close() (Python 3.9+): afterwards get fails ("handle is closed" there).
      const sq = new SimpleQueue<string>();
      sq.close();
      await assert.rejects(sq.get(), misuse(/is closed/));
      assert.throws(() => sq.getSync(), misuse(/is closed/));
      await assert.rejects(sq.put('foo'), misuse(/is closed/));
      sq.close();
    });
  });

  // -------------------------------------------------------------------------
  describe(`CPython _TestConnection [${method}]`, () => {
    afterEach(noLeftovers);

    it('test_connection: send, sendBytes, recvBytesInto, poll, a 16 MB message and EOFError through an echoing child', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const [conn, childConn] = Pipe();
        kids.start(t.echoBytes, [childConn]);

        const seq = [1, 2.25, null];
        const msg = bytes('hello world');
        const longmsg = bytes('hello world'.repeat(10));
        const arr = new Int32Array([0, 1, 2, 3]);

        // The child echoes raw bytes: what send() wrote, recv() reads back.
        assert.equal(await conn.send(seq), undefined);
        assert.deepEqual(await conn.recv(bounded()), seq);

        assert.equal(await conn.sendBytes(msg), undefined);
        assert.equal(str(await conn.recvBytes(undefined, bounded())), 'hello world');

        // recvBytesInto (CPython: processes only; here on both start methods).
        let buffer = new Int32Array(10);
        assert.equal(await conn.sendBytes(arr), undefined);
        assert.equal(await conn.recvBytesInto(buffer, undefined, bounded()), arr.length * buffer.BYTES_PER_ELEMENT);
        assert.deepEqual(Array.from(buffer), [0, 1, 2, 3, 0, 0, 0, 0, 0, 0]);

        buffer = new Int32Array(10);
        assert.equal(await conn.sendBytes(arr), undefined);
        assert.equal(await conn.recvBytesInto(buffer, 3 * buffer.BYTES_PER_ELEMENT, bounded()), arr.length * buffer.BYTES_PER_ELEMENT);
        assert.deepEqual(Array.from(buffer), [0, 0, 0, 0, 1, 2, 3, 0, 0, 0]);

        const small = new Uint8Array(Buffer.from(' '.repeat(40)));
        assert.equal(await conn.sendBytes(longmsg), undefined);
        await assert.rejects(conn.recvBytesInto(small, undefined, bounded()), (e: unknown) => {
          assert.ok(e instanceof BufferTooShort, `expected BufferTooShort, got ${describeError(e)}`);
          // Python: e.args == (longmsg,). Here the message is on e.bytes.
          assert.equal(str((e as BufferTooShort & { bytes: Uint8Array }).bytes), str(longmsg));
          return true;
        });
        assert.equal(str(small), ' '.repeat(40), 'a message that does not fit must not be written into the buffer');

        assertQuick((await timed(async () => assert.equal(await conn.poll(), false))).ms, 'poll()');
        assertQuick((await timed(async () => assert.equal(await conn.poll(-1), false))).ms, 'poll(-1)');
        assertAbout((await timed(async () => assert.equal(await conn.poll(TIMEOUT1), false))).ms, TIMEOUT1, 'poll(TIMEOUT1)');

        await conn.send(null);
        // CPython sleeps 0.1 s for the echo; here a bounded poll waits for it.
        assert.equal(await conn.poll(WAIT_MS), true);
        assertQuick((await timed(async () => assert.equal(await conn.poll(TIMEOUT1), true))).ms, 'poll(TIMEOUT1) with a message ready');
        assert.equal(await conn.recv(bounded()), null);

        const reallyBigMsg = new Uint8Array(16 * 1024 * 1024).fill(0x58); // 16 MB of 'X'
        await conn.sendBytes(reallyBigMsg);
        const back = await conn.recvBytes(undefined, bounded(JOIN_MS));
        assert.equal(back.length, reallyBigMsg.length);
        assert.ok(Buffer.from(back).equals(Buffer.from(reallyBigMsg)), 'the 16 MB message came back changed');

        await conn.sendBytes(SENTINEL); // tell the child to quit
        childConn.close();

        assert.equal(conn.readable, true);
        assert.equal(conn.writable, true);
        await assert.rejects(conn.recv(bounded()), EOFError);
        await assert.rejects(conn.recvBytes(undefined, bounded()), EOFError);

        await kids.joinAll();
        conn.close();
      });
    });

    it('test_connection (Sync twins): sendSync, recvSync, pollSync, recvBytesIntoSync through a child echoing with the Sync twins', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const [conn, childConn] = Pipe();
        kids.start(t.echoBytesSync, [childConn]);
        // Closed at once (as in test_spawn_close): should the child die, a
        // blocking send here then fails with EPIPE instead of waiting forever.
        childConn.close();
        // Blocking reads of small messages are preceded by a bounded pollSync.
        const ready = (): void => assert.equal(conn.pollSync(WAIT_MS), true, 'no reply from the echoing child');

        const seq = [1, 2.25, null];
        assert.equal(conn.sendSync(seq), undefined);
        ready();
        assert.deepEqual(conn.recvSync(), seq);

        assert.equal(conn.sendBytesSync(bytes('hello world')), undefined);
        ready();
        assert.equal(str(conn.recvBytesSync()), 'hello world');

        const arr = new Int32Array([0, 1, 2, 3]);
        const buffer = new Int32Array(10);
        conn.sendBytesSync(arr);
        ready();
        assert.equal(conn.recvBytesIntoSync(buffer, 3 * buffer.BYTES_PER_ELEMENT), 16);
        assert.deepEqual(Array.from(buffer), [0, 0, 0, 0, 1, 2, 3, 0, 0, 0]);

        conn.sendBytesSync(bytes('hello world'.repeat(10)));
        ready();
        assert.throws(() => conn.recvBytesIntoSync(new Uint8Array(40)), BufferTooShort);

        assertQuick((await timed(() => assert.equal(conn.pollSync(), false))).ms, 'pollSync()');
        assertQuick((await timed(() => assert.equal(conn.pollSync(-1), false))).ms, 'pollSync(-1)');
        assertAbout((await timed(() => assert.equal(conn.pollSync(TIMEOUT1), false))).ms, TIMEOUT1, 'pollSync(TIMEOUT1)');

        const big = new Uint8Array(16 * 1024 * 1024).fill(0x58);
        // A message larger than the pipe's buffer goes in pieces: the child
        // takes pieces while this thread is still writing (blocking). No
        // pollSync before the reply: see 'poll is true as soon as a message
        // larger than the pipe's buffer starts to arrive'. Should the child
        // die, recvBytesSync ends with EOFError (this thread holds no copy of
        // the child's end).
        conn.sendBytesSync(big);
        const back = conn.recvBytesSync();
        assert.ok(Buffer.from(back).equals(Buffer.from(big)), 'the 16 MB message came back changed');

        conn.sendBytesSync(SENTINEL);
        ready(); // the end of the stream counts as ready
        assert.throws(() => conn.recvSync(), EOFError);
        assert.throws(() => conn.recvBytesSync(), EOFError);

        await kids.joinAll();
        conn.close();
      });
    });

    it('test_duplex_false: a one-way pipe; each end refuses the other direction', TEST, async () => {
      const [reader, writer] = Pipe(false);
      assert.equal(await writer.send(1), undefined);
      assert.equal(await reader.recv(bounded()), 1);
      assert.equal(reader.readable, true);
      assert.equal(reader.writable, false);
      assert.equal(writer.readable, false);
      assert.equal(writer.writable, true);
      // Python's OSError('connection is read-only' / 'write-only').
      await assert.rejects(reader.send(2), misuse(/read-only/));
      await assert.rejects(writer.recv(), misuse(/write-only/));
      await assert.rejects(writer.poll(), misuse(/write-only/));
      // The other forms.
      assert.throws(() => reader.sendSync(2), misuse(/read-only/));
      await assert.rejects(reader.sendBytes(bytes('x')), misuse(/read-only/));
      assert.throws(() => writer.recvSync(), misuse(/write-only/));
      assert.throws(() => writer.pollSync(), misuse(/write-only/));
      await assert.rejects(writer.recvBytes(), misuse(/write-only/));
      await assert.rejects(writer.recvBytesInto(new Uint8Array(8)), misuse(/write-only/));
      // Nothing was sent by the refused calls.
      assert.equal(await reader.poll(), false);
      writer.sendSync(3);
      assert.equal(reader.recvSync(), 3);
      reader.close();
      writer.close();
    });

    it('test_spawn_close: the parent may close the child\'s end right after start()', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const [conn, childConn] = Pipe();
        kids.start(t.echoBytes, [childConn]);
        childConn.close(); // this might complete before the child has started

        await conn.sendBytes(bytes('hello'));
        assert.equal(str(await conn.recvBytes(undefined, bounded())), 'hello');

        await conn.sendBytes(SENTINEL);
        conn.close();
        await kids.joinAll();
      });
    });

    it('test_sendbytes: sendBytes(buf, offset, size) sends a slice; bad offsets and sizes are RangeErrors', TEST, async () => {
      const msg = bytes('abcdefghijklmnopqrstuvwxyz');
      const [a, b] = Pipe();

      await a.sendBytes(msg);
      assert.equal(str(await b.recvBytes(undefined, bounded())), 'abcdefghijklmnopqrstuvwxyz');

      await a.sendBytes(msg, 5);
      assert.equal(str(await b.recvBytes(undefined, bounded())), 'fghijklmnopqrstuvwxyz');

      await a.sendBytes(msg, 7, 8);
      assert.equal(str(await b.recvBytes(undefined, bounded())), 'hijklmno');

      await a.sendBytes(msg, 26);
      assert.equal(str(await b.recvBytes(undefined, bounded())), '');

      await a.sendBytes(msg, 26, 0);
      assert.equal(str(await b.recvBytes(undefined, bounded())), '');

      // Python's ValueError, with the same messages.
      await assert.rejects(a.sendBytes(msg, 27), rangeError(/buffer length < offset/));
      await assert.rejects(a.sendBytes(msg, 22, 5), rangeError(/buffer length < offset \+ size/));
      await assert.rejects(a.sendBytes(msg, 26, 1), rangeError(/buffer length < offset \+ size/));
      await assert.rejects(a.sendBytes(msg, -1), rangeError(/offset is negative/));
      await assert.rejects(a.sendBytes(msg, 4, -1), rangeError(/size is negative/));

      // The Sync twin.
      a.sendBytesSync(msg, 7, 8);
      assert.equal(str(b.recvBytesSync()), 'hijklmno');
      assert.throws(() => a.sendBytesSync(msg, 27), rangeError(/buffer length < offset/));
      assert.throws(() => a.sendBytesSync(msg, 22, 5), rangeError(/buffer length < offset \+ size/));
      assert.throws(() => a.sendBytesSync(msg, -1), rangeError(/offset is negative/));
      assert.throws(() => a.sendBytesSync(msg, 4, -1), rangeError(/size is negative/));

      // The refused calls sent nothing.
      assert.equal(await b.poll(), false);
      a.close();
      b.close();
    });

    it('test_context: `using` closes both ends; a closed end refuses recv', TEST, async () => {
      const [a0, b0] = Pipe<number>();
      {
        using a = a0,
          b = b0;
        await a.send(1729);
        assert.equal(await b.recv(bounded()), 1729);
        assert.equal(a.closed, false);
        assert.equal(b.closed, false);
      }
      assert.equal(a0.closed, true);
      assert.equal(b0.closed, true);
      // Python's OSError('handle is closed').
      await assert.rejects(a0.recv(), misuse(/closed/));
      await assert.rejects(b0.recv(), misuse(/closed/));
      assert.throws(() => a0.recvSync(), misuse(/closed/));

      // `await using` as well.
      const [c0, d0] = Pipe<number>();
      {
        await using c = c0;
        await using d = d0;
        d.sendSync(1);
        assert.equal(c.recvSync(), 1);
      }
      assert.equal(c0.closed, true);
      assert.equal(d0.closed, true);
      await assert.rejects(c0.send(1), misuse(/closed/));
    });
  });

  // -------------------------------------------------------------------------
  describe(`CPython _TestPoll [${method}]`, () => {
    afterEach(noLeftovers);

    it('test_empty_string: an empty message counts as data for poll, and poll does not take it', TEST, async () => {
      const [a, b] = Pipe();
      assert.equal(await a.poll(), false);
      assert.equal(a.pollSync(), false);
      await b.sendBytes(new Uint8Array(0));
      assert.equal(await a.poll(), true);
      assert.equal(await a.poll(), true);
      assert.equal(a.pollSync(), true);
      assert.equal((await a.recvBytes(undefined, bounded())).length, 0);
      assert.equal(await a.poll(), false);
      a.close();
      b.close();
    });

    it('test_strings: poll then recvBytes gets each message of a child, empty ones included, in order', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const strings = ['hello', '', 'a', 'b', '', 'bye', '', 'lop'];
        const [a, b] = Pipe();
        kids.start(t.sendStrings, [b, strings.map(bytes), 20]);

        for (const [i, s] of strings.entries()) {
          // CPython polls 200 times 0.01 s; here one bounded poll (alternating the Sync twin).
          const ready = i % 2 ? a.pollSync(WAIT_MS) : await a.poll(WAIT_MS);
          assert.equal(ready, true, `no message ${i} came`);
          const x = i % 2 ? a.recvBytesSync() : await a.recvBytes(undefined, bounded());
          assert.equal(str(x), s);
        }

        await kids.joinAll();
        // Once this copy of the child's end is closed too, the stream has ended.
        b.close();
        assert.equal(await a.poll(WAIT_MS), true);
        await assert.rejects(a.recvBytes(undefined, bounded()), EOFError);
        a.close();
      });
    });

    it('test_boundaries: a child that polls a read end takes nothing from it', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const [r, w] = Pipe(false);
        const started = new Event();
        kids.start(t.pollOnly, [r, started]);
        // CPython sleeps 2 s so that the child is polling; here it says when it starts.
        assert.equal(await started.wait(WAIT_MS), true);
        const L = ['first', 'second'];
        for (const obj of L) await w.sendBytes(bytes(obj));
        w.close();
        await kids.joinAll();
        // CPython only asks for one of L; nothing was consumed, so both come, in order.
        assert.equal(str(await r.recvBytes(undefined, bounded())), 'first');
        assert.equal(str(await r.recvBytes(undefined, bounded())), 'second');
        await assert.rejects(r.recvBytes(undefined, bounded()), EOFError);
        r.close();
      });
    });

    it('test_dont_merge: messages keep their boundaries; poll neither merges nor splits them', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const [a, b] = Pipe();
        assert.equal(await a.poll(0), false);
        assertAbout((await timed(async () => assert.equal(await a.poll(100), false))).ms, 100, 'poll(100)');

        kids.start(t.sendABCD, [b]);

        assert.equal(str(await a.recvBytes(undefined, bounded())), 'a');
        assert.equal(await a.poll(1000), true);
        assert.equal(a.pollSync(1000), true);
        assert.equal(str(a.recvBytesSync()), 'b');
        assert.equal(await a.poll(1000), true);
        assert.equal(a.pollSync(1000), true);
        assert.equal(await a.poll(0), true);
        assert.equal(str(await a.recvBytes(undefined, bounded())), 'cd');

        await kids.joinAll();
        a.close();
        b.close();
      });
    });
  });
  // -------------------------------------------------------------------------
  describe(`Queues and pipes: cases CPython's classes imply but do not test [${method}]`, () => {
    afterEach(noLeftovers);

    it('poll is true as soon as a message larger than the pipe\'s buffer starts to arrive (Python: any bytes ready)', TEST, async () => {
      // A message larger than a quarter of the buffer goes in pieces; its
      // writer waits for a reader to take them. Python's poll() is true once
      // the first bytes are readable; a poll that waits for the whole message
      // can never be true here (the writer waits for the reader), so a
      // poll-then-recv loop would wait forever.
      const [a, b] = Pipe(true, { bufferSize: 64 * 1024 });
      const big = new Uint8Array(1024 * 1024).fill(7);
      const sending = b.sendBytes(big);
      sending.catch(() => {});
      try {
        const polled = await timed(() => a.poll(TIMEOUT3));
        const polledSync = a.pollSync(0);
        const waited = await wait([a], 0);
        assert.deepEqual(
          { poll: polled.value, pollSync: polledSync, wait: waited.length },
          { poll: true, pollSync: true, wait: 1 },
          'a message in pieces is not reported as ready',
        );
        assertQuick(polled.ms, 'poll() with a message arriving');
      } finally {
        // Take the message whatever happened above, so that the send ends.
        const got = await a.recvBytes(undefined, bounded());
        assert.equal(got.length, big.length);
        await sending;
        a.close();
        b.close();
      }
    });

    it('closing a copy of a writing end while a worker thread is sending a message in pieces through it does not block', TEST, async () => {
      // The victim runs in a child, so that a hang there fails this test
      // instead of stalling this thread.
      await withChildren(ctx, async (kids) => {
        const done = new Event();
        const p = kids.start(t.closeWhileThreadSends, [done]);
        const closed = await done.wait(WAIT_MS);
        if (closed) await kids.joinAll();
        assert.equal(closed, true, 'close() of a pipe end blocked while a worker thread was sending a message in pieces through that end');
        assert.equal(p.exitCode, 0);
      });
    });

    it('wait() on a pipe whose child sends a message larger than the buffer returns it (poll-then-recv across workers)', TEST, async () => {
      await withChildren(ctx, async (kids) => {
        const [a, b] = Pipe(true, { bufferSize: 64 * 1024 });
        kids.start(t.sendBig, [b, 1024 * 1024]);
        b.close();
        const ready = await wait([a], 5_000);
        // Whatever wait() said, take the message so that the child can end.
        const got = await a.recvBytes(undefined, bounded(JOIN_MS));
        assert.equal(got.length, 1024 * 1024);
        await kids.joinAll();
        assert.deepEqual(ready, [a], 'wait() did not report the connection while a large message was arriving');
        a.close();
      });
    });
  });
}
