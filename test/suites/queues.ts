import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Queue,
  JoinableQueue,
  SimpleQueue,
  Pipe,
  wait,
  Event,
  Empty,
  Full,
  EOFError,
  BufferTooShort,
  ProcessError,
  getContext,
  type Connection,
  type Process,
  type StartMethod,
} from 'multiprocessing-ts';
import * as F from '../fixtures/queue-fixtures.js';
import { neverRuns } from '../fixtures/queue-import-crash.js';

const T = { timeout: 90_000 };

/** Deterministic pseudo-random numbers (mulberry32) so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pattern(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

export function queuesSuite(method: StartMethod): void {
  const ctx = getContext(method);
  const started: Process[] = [];
  const start = (p: Process): Process => {
    started.push(p);
    p.start();
    return p;
  };
  const spawn = (target: (...a: never[]) => unknown, args: unknown[]) =>
    start(new ctx.Process({ target: target as (...a: unknown[]) => unknown, args }));

  describe(`queues and pipes on the '${method}' start method`, () => {
    after(async () => {
      for (const p of started) {
        if (p.isAlive()) p.kill();
        await p.join(10_000);
      }
    });

    it('3 producers (2 workers and the main thread) and 2 consumers move 100,000 items: exact multiset', T, async () => {
      const q = new Queue<[number, number] | null>();
      const out = new Queue<Array<[number, number]>>();
      const per = 33_334;
      const producers = [spawn(F.produce, [q, 1, per, true]), spawn(F.produce, [q, 2, per, false])];
      const consumers = [spawn(F.consume, [q, out, true]), spawn(F.consume, [q, out, false])];
      for (let i = 0; i < 100_000 - 2 * per; i++) await q.put([0, i]);
      for (const p of producers) await p.join(60_000);
      await q.put(null);
      await q.put(null);
      const parts = [await out.get({ timeout: 60_000 }), await out.get({ timeout: 60_000 })];
      for (const p of consumers) await p.join(30_000);
      const seen = new Map<number, Set<number>>();
      let total = 0;
      for (const part of parts) {
        for (const [id, i] of part) {
          const s = seen.get(id) ?? new Set<number>();
          assert.ok(!s.has(i), `item [${id}, ${i}] delivered twice`);
          s.add(i);
          seen.set(id, s);
          total++;
        }
      }
      assert.equal(total, 100_000);
      assert.equal(seen.get(0)!.size, 100_000 - 2 * per);
      assert.equal(seen.get(1)!.size, per);
      assert.equal(seen.get(2)!.size, per);
      assert.ok(q.empty());
    });

    it("one consumer sees each producer's items in order", T, async () => {
      const q = new Queue<[number, number] | null>();
      const out = new Queue<number | string>();
      const c = spawn(F.consumeOrdered, [q, out]);
      const ps = [1, 2].map((id) => spawn(F.produce, [q, id, 20_000, id === 1]));
      for (let i = 0; i < 20_000; i++) q.putSync([0, i]);
      for (const p of ps) await p.join(60_000);
      await q.put(null);
      assert.equal(await out.get({ timeout: 60_000 }), 60_000);
      await c.join(10_000);
    });

    it('a consumer terminated while it waits in get() leaves the queue intact', T, async () => {
      for (const target of [F.blockInGet, F.blockInGetSync]) {
        const q = new Queue<string>();
        const ready = new Event();
        const p = spawn(target, [q, ready]);
        assert.ok(await ready.wait(30_000));
        p.terminate();
        await p.join(10_000);
        await q.put('a');
        await q.put('b');
        assert.equal(await q.get({ timeout: 5_000 }), 'a');
        assert.equal(q.getNowait(), 'b');
      }
    });

    it('a consumer killed while it takes a large item neither wedges the queue nor yields a torn item', T, async () => {
      const q = new Queue<Uint8Array | string>(0, { bufferSize: 64 * 1024 });
      const ready = new Event();
      const c = spawn(F.blockInGetSync, [q, ready]);
      assert.ok(await ready.wait(30_000));
      const big = pattern(8 * 1024 * 1024, 5);
      const putting = q.put(big);
      const puttingAfter = q.put('after'); // waits for the big item's write to finish
      // Fault injection: kill the consumer while the 8 MB item streams through the 64 KB buffer.
      await new Promise((r) => setTimeout(r, 5));
      c.kill();
      await c.join(10_000);
      const first = await q.get({ timeout: 20_000 });
      await putting;
      await puttingAfter;
      // Either the consumer had not taken the item yet (it is delivered whole) or it took it
      // with it; a partial item is never delivered.
      if (first instanceof Uint8Array) {
        assert.deepEqual(first, big);
        assert.equal(await q.get({ timeout: 20_000 }), 'after');
      } else assert.equal(first, 'after');
      assert.ok(q.empty());
    });

    it('a producer killed half way through a large item: the queue drops the partial item and goes on', T, async () => {
      const q = new Queue<Uint8Array | string>(0, { bufferSize: 64 * 1024 });
      const p = spawn(F.putBig, [q, 16 * 1024 * 1024, 'done']);
      // Nobody reads: the producer stalls once the buffer is full, half way through its item.
      for (let i = 0; i < 200 && q.qsize() === 0; i++) {
        await new Promise((r) => setTimeout(r, 5));
        if (!p.isAlive()) break;
      }
      p.kill();
      await p.join(10_000);
      // The reader drains the dead writer's pieces, drops the partial item, and gets the next one.
      // (Where large items go in segments of their own, the producer may have finished its
      // item before the kill: then it arrives whole, followed by its marker.)
      const getting = q.get({ timeout: 20_000 });
      await q.put('next');
      let first = await getting;
      if (first instanceof Uint8Array) {
        assert.equal(first.length, 16 * 1024 * 1024, 'a partial item was delivered');
        for (let i = 0; i < first.length; i += 4096) assert.equal(first[i], (i / 4096) & 0xff);
        first = await q.get({ timeout: 20_000 });
        if (first === 'done') first = await q.get({ timeout: 20_000 });
      }
      assert.equal(first, 'next');
      assert.ok(q.empty());
      await q.put('again');
      assert.equal(q.getNowait(), 'again');
    });

    it('a value that cannot be sent is refused at put() with the path named, and the queue stays usable', T, async () => {
      const q = new Queue<unknown>();
      const local = () => 1;
      await assert.rejects(q.put({ a: [1, local] }), (e: Error) => e instanceof TypeError && /a\[1\]|function/.test(e.message));
      assert.throws(() => q.putSync(Symbol('s')), TypeError);
      assert.equal(q.qsize(), 0);
      await q.put({ ok: true });
      assert.deepEqual(await q.get(), { ok: true });
    });

    it('items larger than the buffer stream through it, with another small item around them', T, async () => {
      const q = new Queue<Uint8Array | string>(0, { bufferSize: 1 << 20 });
      const p = spawn(F.putBig, [q, 20 * 1024 * 1024, 'marker']);
      const got = (await q.get({ timeout: 30_000 })) as Uint8Array;
      assert.equal(got.length, 20 * 1024 * 1024);
      for (let i = 0; i < got.length; i += 4096) assert.equal(got[i], (i / 4096) & 0xff);
      assert.equal(await q.get({ timeout: 30_000 }), 'marker');
      await p.join(20_000);
    });

    it('values of every kind keep their type through a queue', T, async () => {
      const q = new Queue<unknown>();
      const values: unknown[] = [0, -1, 2 ** 31, -0, 1.5, NaN, Infinity, 'é', '日本', '', 'x'.repeat(1000), true, false, null, undefined, 10n, [1, [2]], { a: { b: 'c' } }, new Map([[1, 2]]), new Set(['s']), new Date(0), new Uint16Array([1, 2]), new Error('boom')];
      for (const v of values) await q.put(v);
      for (const v of values) {
        const got = await q.get();
        if (v instanceof Error) {
          assert.ok(got instanceof Error);
          assert.equal((got as Error).message, 'boom');
        } else assert.deepEqual(got, v);
      }
    });

    it('maxsize: full(), putNowait -> Full, put with a timeout -> Full, get frees a slot', T, async () => {
      const q = new Queue<number>(2);
      await q.put(1);
      q.putNowait(2);
      assert.ok(q.full());
      assert.equal(q.qsize(), 2);
      assert.throws(() => q.putNowait(3), Full);
      const t = performance.now();
      await assert.rejects(q.put(3, { timeout: 100 }), Full);
      assert.ok(performance.now() - t >= 90);
      await assert.rejects(q.put(3, { block: false }), Full);
      const waiting = q.put(3);
      assert.equal(await q.get(), 1);
      await waiting;
      assert.deepEqual([q.getNowait(), q.getNowait()], [2, 3]);
      assert.throws(() => q.getNowait(), Empty);
      await assert.rejects(q.get({ timeout: 0 }), Empty);
      await assert.rejects(q.get({ timeout: -5 }), Empty);
      assert.throws(() => new Queue('x' as unknown as number), TypeError);
      await assert.rejects(q.get({ timeout: NaN }), TypeError);
    });

    it('abort signals reject waiting put/get and leave the queue as it was', T, async () => {
      const q = new Queue<number>(1);
      const ac = new AbortController();
      const g = new Queue<number>().get({ signal: ac.signal });
      ac.abort(new Error('stop'));
      await assert.rejects(g, /stop/);
      await q.put(1);
      const ac2 = new AbortController();
      const p = q.put(2, { signal: ac2.signal });
      ac2.abort(new Error('stop2'));
      await assert.rejects(p, /stop2/);
      assert.equal(q.qsize(), 1);
      assert.equal(await q.get(), 1);
      assert.ok(q.empty());
    });

    it('close(): further calls through that handle throw; joinThread needs close first', T, async () => {
      const q = new Queue<number>();
      await assert.rejects(q.joinThread(), ProcessError);
      q.close();
      q.close();
      await q.joinThread();
      q.cancelJoinThread();
      await assert.rejects(q.put(1), ProcessError);
      assert.throws(() => q.getNowait(), ProcessError);
    });

    it('iter() and for-await end at the sentinel', T, async () => {
      const q = new Queue<number | null | string>();
      for (const x of [1, 2, 'end', 3, null]) await q.put(x);
      const a: unknown[] = [];
      for await (const x of q.iter({ sentinel: 'end' })) a.push(x);
      const b: unknown[] = [];
      for await (const x of q) b.push(x);
      assert.deepEqual([a, b], [[1, 2], [3]]);
    });

    it('JoinableQueue: join() waits until every item is marked done; too many taskDone() throws', T, async () => {
      const q = new JoinableQueue<number | null>();
      const out = new Queue<number>();
      await q.join(); // nothing outstanding
      const ws = [spawn(F.joinableWorker, [q, out]), spawn(F.joinableWorker, [q, out])];
      for (let i = 1; i <= 100; i++) await q.put(i);
      await q.put(null);
      await q.put(null);
      await q.join();
      const got: number[] = [];
      for (let i = 0; i < 100; i++) got.push(out.getNowait());
      assert.deepEqual(got.sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => (i + 1) ** 2));
      for (const w of ws) await w.join(10_000);
      assert.throws(() => q.taskDone(), ProcessError);
      q.joinSync();
    });

    it('SimpleQueue: put, get, empty, close, across workers', T, async () => {
      const q = new SimpleQueue<[number, number] | null>();
      const out = new Queue<Array<[number, number]>>();
      assert.ok(q.empty());
      const c = spawn(F.consume, [q, out, false]);
      for (let i = 0; i < 10; i++) await q.put([7, i]);
      await q.put(null);
      assert.equal((await out.get({ timeout: 30_000 })).length, 10);
      await c.join(10_000);
      q.close();
      await assert.rejects(q.get(), ProcessError);
    });

    it('Pipe: duplex round trips with a worker using the blocking forms', T, async () => {
      const [a, b] = Pipe<number | null>();
      const p = spawn(F.pipeEchoSync, [b]);
      b.close();
      for (let i = 0; i < 1000; i++) {
        await a.send(i);
        assert.equal(await a.recv(), i * 2);
      }
      await a.send(null);
      await assert.rejects(a.recv(), EOFError);
      await p.join(10_000);
      a.close();
    });

    it('Pipe(false): one-way ends, with Python-like errors', T, async () => {
      const [r, w] = Pipe<string>(false);
      assert.deepEqual([r.readable, r.writable, w.readable, w.writable], [true, false, false, true]);
      await assert.rejects(r.send('x'), /read-only/);
      await assert.rejects(w.recv(), /write-only/);
      assert.equal(await r.poll(), false);
      await w.send('x');
      assert.equal(await r.poll(), true);
      assert.equal(r.pollSync(), true);
      assert.equal(await r.recv(), 'x');
      w.close();
      assert.ok(w.closed);
      assert.equal(await r.poll(), true); // end of stream counts as ready
      await assert.rejects(r.recv(), EOFError);
      assert.throws(() => r.recvSync(), EOFError);
      await assert.rejects(w.send('y'), /closed/);
      r.close();
    });

    it('seeds: the parent closes both its copies after starting; the reader reads until EOFError', T, async () => {
      const [r, w] = Pipe<string>(false);
      const out = new Queue<number | string>();
      const reader = spawn(F.readUntilEof, [r, out]);
      const sender = spawn(F.pipeSender, [w, 's', 50]);
      r.close();
      w.close();
      assert.equal(await out.get({ timeout: 30_000 }), 50);
      await sender.join(10_000);
      await reader.join(10_000);
    });

    it('two children share one pipe end; EOF comes after both closed theirs', T, async () => {
      const [r, w] = Pipe<string>(false);
      const ps = [spawn(F.pipeSender, [w, 'a', 100]), spawn(F.pipeSender, [w, 'b', 100])];
      w.close();
      const got: string[] = [];
      try {
        for (;;) got.push(await r.recv());
      } catch (e) {
        assert.ok(e instanceof EOFError);
      }
      assert.equal(got.length, 200);
      assert.equal(new Set(got).size, 200);
      for (const p of ps) await p.join(10_000);
      r.close();
    });

    it('a Process not started yet keeps its copy of a pipe end open', T, async () => {
      const [r, w] = Pipe<string>(false);
      const out = new Queue<number | string>();
      const p = new ctx.Process({ target: F.pipeSender, args: [w, 'x', 5] });
      w.close(); // before start(): the Process object still holds a copy
      assert.equal(await r.poll(), false); // not at end of stream
      start(p);
      const reader = spawn(F.readUntilEof, [r, out]);
      r.close();
      assert.equal(await out.get({ timeout: 30_000 }), 5);
      await p.join(10_000);
      await reader.join(10_000);
    });

    it('a child that ends before it takes its pipe end does not keep the pipe open', T, async () => {
      const [r, w] = Pipe<string>(false);
      const p = start(new ctx.Process({ target: neverRuns, args: [w] }));
      w.close();
      await p.join(20_000);
      assert.equal(p.exitCode, 1);
      await assert.rejects(r.recv(), EOFError);
      r.close();
    });

    it('a holder that exits without closing its end does not keep the reader waiting', T, async () => {
      const [r, w] = Pipe<string>(false);
      const p = spawn(F.holdAndCrash, [w]);
      w.close();
      await p.join(20_000);
      assert.equal(p.exitCode, 3);
      await assert.rejects(r.recv(), EOFError);
      r.close();
    });

    it('sendBytes/recvBytes/recvBytesInto and their errors', T, async () => {
      const [a, b] = Pipe();
      await a.sendBytes(new TextEncoder().encode('hello world'), 6, 5);
      assert.equal(new TextDecoder().decode(await b.recvBytes()), 'world');
      await a.sendBytes(new Uint8Array(0));
      assert.equal((await b.recvBytes()).length, 0);
      await a.sendBytes(new Uint8Array([1, 2, 3]));
      const buf = new Uint8Array(10);
      assert.equal(await b.recvBytesInto(buf, 2), 3);
      assert.deepEqual([...buf.subarray(0, 6)], [0, 0, 1, 2, 3, 0]);
      await a.sendBytes(new Uint8Array(8));
      await assert.rejects(b.recvBytesInto(new Uint8Array(4)), (e: Error) => e instanceof BufferTooShort && (e as unknown as { bytes: Uint8Array }).bytes.length === 8);
      await assert.rejects(a.sendBytes(new Uint8Array(3), -1), RangeError);
      await assert.rejects(a.sendBytes(new Uint8Array(3), 4), RangeError);
      await assert.rejects(a.sendBytes(new Uint8Array(3), 1, 3), RangeError);
      await assert.rejects(a.sendBytes('x' as unknown as Uint8Array), TypeError);
      await a.sendBytes(new Uint8Array(100));
      await assert.rejects(b.recvBytes(10), /bad message length/);
      assert.equal(b.readable, false);
      a.close();
      b.close();
    });

    it('64 MB through a Pipe from a worker arrives intact', T, async () => {
      const [r, w] = Pipe(false);
      const p = spawn(F.sendPattern, [w, 64 * 1024 * 1024]);
      w.close();
      const got = await r.recvBytes();
      assert.equal(got.length, 64 * 1024 * 1024);
      for (let i = 0; i < got.length; i += 997) assert.equal(got[i], (i * 31 + 7) & 0xff);
      await p.join(20_000);
      r.close();
    });

    it('wait() returns the ready connections, or [] after the timeout', T, async () => {
      const [a1, b1] = Pipe<number>();
      const [a2, b2] = Pipe<number>();
      assert.deepEqual(await wait([a1, a2], 10), []);
      await b2.send(1);
      assert.deepEqual(await wait([a1, a2]), [a2]);
      const pending = wait([a1]);
      await b1.send(2);
      assert.deepEqual(await pending, [a1]);
      for (const c of [a1, b1, a2, b2] as Connection<number>[]) c.close();
    });

    it('fuzz: random message lengths through a small ring (wrap-around, pieces) arrive intact and in order', T, async () => {
      for (const seed of [1, 2, 12345, 987654]) await fuzzOnce(seed);
    });

    async function fuzzOnce(seed: number): Promise<void> {
      const rand = rng(seed);
      const [r, w] = Pipe(false, { bufferSize: 4096 });
      const sizes = Array.from({ length: 300 }, () => {
        const k = rand();
        return k < 0.5 ? Math.floor(rand() * 64) : k < 0.9 ? Math.floor(rand() * 2048) : Math.floor(rand() * 20_000);
      });
      const sending = (async () => {
        for (let i = 0; i < sizes.length; i++) await w.sendBytes(pattern(sizes[i]!, i));
      })();
      for (let i = 0; i < sizes.length; i++) {
        const got = await r.recvBytes();
        assert.deepEqual(got, pattern(sizes[i]!, i), `seed ${seed}, message ${i} (${sizes[i]} bytes)`);
      }
      await sending;
      r.close();
      w.close();
    }
  });
}
