/**
 * Behaviour suite of managers, run once per start method (the start method of
 * the manager's server and of the children that use its proxies): the
 * SyncManager's types, proxies in workers and inside other proxies, registered
 * types, remote clients, lifetime, and the security and robustness of the
 * server as a network service. Includes the CPython _TestContainers,
 * _TestMyManager, _TestRemoteManager and _TestManagerRestart cases that apply
 * (see test/CPYTHON.md).
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  AuthenticationError,
  BaseManager,
  BaseProxy,
  BrokenBarrierError,
  Client,
  DictProxy,
  Empty,
  Full,
  ListProxy,
  ProcessError,
  Queue,
  RemoteError,
  SyncManager,
  getContext,
  type AutoProxy,
  type Process,
  type StartMethod,
} from 'multiprocessing-ts';
import { encodeFrame, decodeFrame, OP_CALL, OP_DECREF, OP_INCREF, ST_OK } from '../../src/protocol/manager.js';
import { SocketChannel } from '../../src/internal/socket-channel.js';
import * as auth from '../../src/internal/auth.js';
import * as F from '../fixtures/manager-targets.js';
import { eventually, pidAlive, programs, runProgram } from '../helpers.js';

const T = { timeout: 90_000 };
const tsxCli = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

/** Rejects when `p` does not settle within `ms`. */
function within<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves with the error `p` rejects with (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected a rejection');
}

/** A raw TCP socket to `address`, connected. */
function rawSocket(address: readonly [string, number]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: address[0], port: address[1] });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves once the socket is closed by the other side (bounded). */
function closedByPeer(s: Socket, ms = 20_000): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      if (s.destroyed) return resolve();
      s.on('error', () => {});
      s.once('close', () => resolve());
      s.resume(); // read (and drop) what the server sends, so that its end is seen
    }),
    ms,
    'the server to drop the connection',
  );
}

export function managersSuite(method: StartMethod): void {
  const ctx = getContext(method);
  const started: Process[] = [];
  const spawn = (target: (...a: never[]) => unknown, args: unknown[]): Process => {
    const p = new ctx.Process({ target: target as (...a: unknown[]) => unknown, args });
    started.push(p);
    p.start();
    return p;
  };
  const joinOk = async (p: Process, ms = 60_000): Promise<void> => {
    await p.join(ms);
    assert.equal(p.exitCode, 0, `${p.name} should end with exit code 0`);
  };

  describe(`managers on the '${method}' start method`, () => {
    let m: SyncManager;
    before(async () => {
      m = await ctx.Manager();
    });
    after(async () => {
      for (const p of started) {
        if (p.isAlive()) p.kill();
        await p.join(10_000);
      }
      await m.shutdown();
      assert.equal(m.process?.isAlive(), false, 'the server has ended');
    });

    // ---- the types ------------------------------------------------------------

    it('dict: Python\'s dict operations, with copies coming back', T, async () => {
      const d = await m.dict<string | number, unknown>({ a: 1 });
      assert.ok(d instanceof DictProxy);
      await d.set('b', [1, 2]);
      await d.set(3, 'three');
      assert.equal(await d.get('a'), 1);
      assert.equal(await d.get('zz'), undefined);
      assert.equal(await d.get('zz', 'dflt'), 'dflt');
      assert.deepEqual(await d.keys(), ['a', 'b', 3]);
      assert.deepEqual(await d.values(), [1, [1, 2], 'three']);
      assert.deepEqual(await d.items(), [['a', 1], ['b', [1, 2]], [3, 'three']]);
      assert.equal(await d.size(), 3);
      assert.equal(await d.has(3), true);
      assert.equal(await d.has('3'), false, 'keys keep their type, as in Python');
      const e = await rejection(d.getItem('zz'));
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /KeyError: 'zz'/);
      assert.equal(await d.delete('a'), true);
      assert.equal(await d.delete('a'), false);
      await d.update({ x: 10 });
      await d.update(new Map<string | number, unknown>([['y', 20]]));
      await d.update([['z', 30]]);
      assert.equal(await d.pop('x'), 10);
      assert.equal(await d.pop('x', 'gone'), 'gone');
      assert.match((await rejection(d.pop('x'))).message, /KeyError/);
      assert.deepEqual(await d.popitem(), ['z', 30]);
      assert.equal(await d.setdefault('s', 5), 5);
      assert.equal(await d.setdefault('s', 6), 5);
      assert.deepEqual(await d.copy(), new Map<unknown, unknown>([['b', [1, 2]], [3, 'three'], ['y', 20], ['s', 5]]));
      assert.deepEqual(await d.toObject(), { b: [1, 2], 3: 'three', y: 20, s: 5 });
      // a copy: changing it changes nothing in the server
      const b = (await d.get('b')) as number[];
      b.push(3);
      assert.deepEqual(await d.get('b'), [1, 2]);
      await d.clear();
      assert.equal(await d.size(), 0);
      await assert.rejects(d.set({} as never, 1), (err: Error) => err instanceof TypeError && /unhashable key/.test(err.message));
    });

    it('list: Python\'s list operations, negative indexes and errors', T, async () => {
      const l = await m.list([3, 1, 2]);
      assert.ok(l instanceof ListProxy);
      await l.append(4);
      await l.extend([5, 6]);
      assert.equal(await l.length(), 6);
      assert.equal(await l.get(0), 3);
      assert.equal(await l.get(-1), 6);
      await l.set(-1, 60);
      assert.deepEqual(await l.slice(1, 3), [1, 2]);
      assert.deepEqual(await l.slice(-2), [5, 60]);
      const e = await rejection(l.get(10));
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /IndexError: list index out of range/);
      assert.equal(await l.pop(), 60);
      assert.equal(await l.pop(0), 3);
      await l.insert(0, 9);
      await l.insert(-1, 8);
      assert.deepEqual(await l.copy(), [9, 1, 2, 4, 8, 5]);
      assert.equal(await l.index(4), 3);
      assert.equal(await l.count(1), 1);
      assert.equal(await l.has(8), true);
      await l.remove(8);
      await assert.rejects(l.remove(8), /ValueError/);
      await l.sort();
      assert.deepEqual(await l.copy(), [1, 2, 4, 5, 9]);
      await l.sort({ reverse: true });
      assert.deepEqual(await l.copy(), [9, 5, 4, 2, 1]);
      await l.reverse();
      await l.setSlice(1, 3, [20, 30, 40]);
      assert.deepEqual(await l.copy(), [1, 20, 30, 40, 5, 9]);
      await l.delete(0);
      assert.deepEqual(await l._getValue(), [20, 30, 40, 5, 9]);
      await l.append('x' as never);
      await assert.rejects(l.sort(), (err: Error) => err instanceof TypeError && /not supported between/.test(err.message));
      await l.clear();
      assert.equal(await l.length(), 0);
      await assert.rejects(l.pop(), /pop from empty list/);
    });

    it('Namespace, Value and Array', T, async () => {
      const ns = await m.Namespace<{ name: string; job: string; n: number }>({ n: 1 });
      await ns.set('name', 'Bob');
      await ns.set('job', 'Builder');
      assert.deepEqual([await ns.get('name'), await ns.get('job'), await ns.get('n')], ['Bob', 'Builder', 1]);
      await ns.delete('job');
      assert.equal(await ns.has('job'), false);
      const e = await rejection(ns.get('job'));
      assert.match(e.message, /AttributeError: 'Namespace' object has no attribute 'job'/);
      assert.deepEqual(await ns.toObject(), { n: 1, name: 'Bob' });

      const v = await m.Value('i', 7);
      assert.equal(await v.get(), 7);
      await v.set(8);
      assert.equal(await v.get(), 8);
      assert.equal(await v.typecode(), 'i');

      const a = await m.Array<number>('d', [1, 2, 3]);
      assert.equal(await a.length(), 3);
      await a.set(-1, 2.5);
      assert.deepEqual(await a.toArray(), [1, 2, 2.5]);
      await assert.rejects(a.set(0, 'x' as never), TypeError);
      await assert.rejects(m.Array('x', [1]), (err: Error) => err instanceof TypeError && /typecode must be one of/.test(err.message));
      const ai = await m.Array('i', 4);
      await assert.rejects(ai.set(0, 1.5), /integer expected/);
      const aq = await m.Array<bigint>('q', [1n, 2n]);
      assert.deepEqual(await aq.toArray(), [1n, 2n]);
    });

    it('Queue and JoinableQueue: Empty, Full, taskDone too many, join', T, async () => {
      const q = await m.Queue<number>(2);
      await q.put(1);
      await q.putNowait(2);
      assert.equal(await q.full(), true);
      assert.ok((await rejection(q.put(3, { timeout: 50 }))) instanceof Full);
      assert.ok((await rejection(q.put(3, { block: false }))) instanceof Full);
      assert.equal(await q.qsize(), 2);
      assert.equal(await q.get(), 1);
      assert.equal(await q.getNowait(), 2);
      const t0 = Date.now();
      assert.ok((await rejection(q.get({ timeout: 100 }))) instanceof Empty);
      assert.ok(Date.now() - t0 >= 90, 'waited for the timeout');
      assert.ok((await rejection(q.getNowait())) instanceof Empty);
      // a waiting get is served by a later put
      const waiting = q.get({ timeout: 20_000 });
      await q.put(42);
      assert.equal(await waiting, 42);

      const jq = await m.JoinableQueue<string>();
      await jq.put('a');
      await jq.put('b');
      let joined = false;
      const j = jq.join().then(() => (joined = true));
      assert.equal(await jq.get(), 'a');
      await jq.taskDone();
      assert.equal(joined, false);
      assert.equal(await jq.get(), 'b');
      await jq.taskDone();
      await within(j, 10_000, 'join after every taskDone');
      assert.equal(joined, true);
      await assert.rejects(jq.taskDone(), (err: Error) => err instanceof ProcessError && /task_done\(\) called too many times/.test(err.message));
    });

    it('locks: Lock, RLock, Semaphore, BoundedSemaphore with Python\'s errors', T, async () => {
      const lock = await m.Lock();
      assert.equal(await lock.acquire(), true);
      assert.equal(await lock.acquire({ block: false }), false);
      const t0 = Date.now();
      assert.equal(await lock.acquire({ timeout: 100 }), false);
      assert.ok(Date.now() - t0 >= 90);
      await lock.release();
      await assert.rejects(lock.release(), (err: Error) => err instanceof ProcessError && /release unlocked lock/.test(err.message));
      assert.equal(await lock.with(async () => 'inside'), 'inside');
      assert.equal(await lock.acquire({ block: false }), true, 'with() released it');
      await lock.release();

      const r = await m.RLock();
      assert.equal(await r.acquire(), true);
      assert.equal(await r.acquire(), true, 'reentrant for its holder');
      await r.release();
      await r.release();
      await assert.rejects(r.release(), /cannot release un-acquired lock/);

      const s = await m.Semaphore(2);
      assert.equal(await s.acquire(), true);
      assert.equal(await s.acquire(), true);
      assert.equal(await s.acquire({ timeout: 30 }), false);
      assert.equal(await s.getValue(), 0);
      await s.release();
      await s.release();
      await s.release();
      assert.equal(await s.getValue(), 3, 'a plain Semaphore may go above its start value');
      const bs = await m.BoundedSemaphore(1);
      await bs.acquire();
      await bs.release();
      await assert.rejects(bs.release(), /released too many times/);
    });

    it('an aborted wait leaves the object as it was', T, async () => {
      const lock = await m.Lock();
      await lock.acquire();
      const ac = new AbortController();
      const waiting = lock.acquire({ signal: ac.signal });
      setTimeout(() => ac.abort(new Error('gave up')), 50);
      const e = await rejection(waiting);
      assert.equal(e.message, 'gave up');
      await lock.release();
      // the aborted acquire did not take the lock later
      assert.equal(await lock.acquire({ timeout: 5_000 }), true);
      await lock.release();

      const q = await m.Queue<number>();
      const ac2 = new AbortController();
      const g = q.get({ signal: ac2.signal });
      ac2.abort(new Error('stop'));
      assert.equal((await rejection(g)).message, 'stop');
      await q.put(1);
      assert.equal(await q.get({ timeout: 5_000 }), 1, 'the item went to the next get, not to the aborted one');
    });

    // ---- proxies in workers ---------------------------------------------------------

    it('the seeds\' example: a child writes a dict and reverses a list (Python docs, "Server process")', T, async () => {
      const d = await m.dict<string | number, unknown>();
      const l = await m.list(Array.from({ length: 10 }, (_, i) => i));
      await joinOk(spawn(F.seedF, [d, l]));
      assert.deepEqual(await d.copy(), new Map<unknown, unknown>([[1, '1'], ['2', 2], [0.25, null]]));
      assert.deepEqual(await l.copy(), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    });

    it('children increment a shared counter under a manager Lock: no lost update', T, async () => {
      const d = await m.dict<string, number>({ count: 0 });
      const lock = await m.Lock();
      const n = 40;
      const kids = [spawn(F.incrementUnderLock, [d, lock, n]), spawn(F.incrementUnderLock, [d, lock, n])];
      await F.incrementUnderLock(d, lock, n);
      for (const k of kids) await joinOk(k);
      assert.equal(await d.get('count'), 3 * n);
    });

    it('proxies travel through this library\'s Queue and through a managed Queue', T, async () => {
      const d = await m.dict<string, string>();
      const q = new Queue<DictProxy<string, string>>();
      const p = spawn(F.proxyFromQueue, [q]);
      await q.put(d);
      await joinOk(p);
      assert.equal(await d.get('via'), 'queue');

      const d2 = await m.dict<string, string>();
      const mq = await m.Queue<DictProxy<string, string>>();
      await mq.put(d2);
      await joinOk(spawn(F.proxyFromManagedQueue, [mq]));
      assert.equal(await d2.get('via'), 'managed queue');
      q.close();
    });

    it('Condition, Event and Barrier across workers', T, async () => {
      const cond = await m.Condition();
      const d = await m.dict<string, unknown>({ ready: false });
      const w = spawn(F.conditionWaiter, [cond, d]);
      // change the state under the lock and notify (the child checks it under the lock too)
      await cond.with(async () => {
        await d.set('ready', true);
        await cond.notifyAll();
      });
      await joinOk(w);
      assert.equal(await d.get('saw'), true);
      await assert.rejects(cond.notify(), /cannot notify on un-acquired lock/);
      // over a Lock of the manager: wait gives the lock up while it waits
      const plain = await m.Lock();
      const c2 = await m.Condition(plain);
      await c2.acquire();
      assert.equal(await plain.locked(), true);
      const waited = c2.wait(100);
      assert.equal(await plain.locked(), false, 'the lock is free while the Condition waits');
      assert.equal(await waited, false, 'nobody notified: false after the timeout');
      assert.equal(await plain.locked(), true, 'held again once wait returns');
      await c2.release();
      assert.equal(await plain.locked(), false);
      await assert.rejects(m.Condition((await m.Event()) as never), (err: Error) => err instanceof TypeError && /must be a manager Lock or RLock/.test(err.message));

      const ev = await m.Event();
      const l = await m.list<string>();
      const waiters = [spawn(F.eventWaiter, [ev, l]), spawn(F.eventWaiter, [ev, l])];
      assert.equal(await ev.wait(50), false);
      await ev.set();
      assert.equal(await ev.isSet(), true);
      for (const x of waiters) await joinOk(x);
      assert.deepEqual(await l.copy(), ['woke', 'woke']);

      const b = await m.Barrier(3);
      assert.equal(await b.parties(), 3);
      const arrivals = await m.list<number>();
      const parties = [spawn(F.barrierParty, [b, arrivals]), spawn(F.barrierParty, [b, arrivals])];
      await F.barrierParty(b, arrivals);
      for (const x of parties) await joinOk(x);
      assert.deepEqual((await arrivals.copy()).sort(), [0, 1, 2], 'each party gets its own index');
      const b2 = await m.Barrier(2);
      const lone = b2.wait(20_000); // reaches the server before the abort: one connection keeps the order
      await b2.abort();
      assert.ok((await rejection(lone)) instanceof BrokenBarrierError);
      assert.equal(await b2.broken(), true);
      await assert.rejects(m.Barrier(0), RangeError);
    });

    it('Pool: tasks run in the server\'s workers; only the owner\'s listed functions run', T, async () => {
      const pm = await ctx.Manager({ poolFunctions: [F.square, F.mul, F.writeInto] });
      try {
        const pool = await pm.Pool(2);
        assert.deepEqual(await pool.map(F.square, [1, 2, 3, 4]), [1, 4, 9, 16]);
        assert.deepEqual(await pool.starmap(F.mul, [[2, 3], [4, 5]]), [6, 20]);
        assert.equal(await pool.apply(F.square, [7]), 49);
        const d = await pm.dict<string, number>();
        assert.equal(await pool.apply(F.writeInto, [d, 'from-pool', 5]), 5, 'a proxy reaches a pool task as a working proxy');
        assert.equal(await d.get('from-pool'), 5);
        await assert.rejects(pool.map(F.seedF as never, [1]), (err: Error) => err instanceof ProcessError && /not allowed to run in this manager/.test(err.message));
        await pool.close();
        await pool.join();
      } finally {
        await pm.shutdown();
      }
    });

    // ---- nested proxies (CPython _TestContainers) -------------------------------------

    it('CPython test_list: slices, proxies inside a list stay live', T, async () => {
      const a = await m.list(Array.from({ length: 10 }, (_, i) => i));
      assert.deepEqual(await a.copy(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const b = await m.list<number>();
      assert.deepEqual(await b.copy(), []);
      await b.extend([0, 1, 2, 3, 4]);
      assert.equal(await b.get(2), 2);
      assert.deepEqual(await b.slice(2, 10), [2, 3, 4]);
      await b.extend(await b.copy()); // b *= 2
      assert.deepEqual(await b.copy(), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
      const e = await m.list([a, b]);
      const inner = await e.copy();
      assert.deepEqual(await Promise.all(inner.map((x) => (x as unknown as ListProxy<number>).copy())), [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [0, 1, 2, 3, 4, 0, 1, 2, 3, 4],
      ]);
      const f = await m.list([a]);
      await a.append('hello' as never);
      assert.deepEqual(await ((await f.get(0)) as unknown as ListProxy<unknown>).copy(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'hello']);
    });

    it('CPython test_list_proxy_in_list: a list of lists', T, async () => {
      const a = await m.list(await Promise.all([0, 1, 2].map(() => m.list([0, 1, 2]))));
      const at = async (i: number) => (await a.get(i)) as unknown as ListProxy<number>;
      await (await at(0)).set(-1, 55);
      assert.deepEqual(await (await at(0)).copy(), [0, 1, 55]);
      for (const i of [1, 2]) assert.deepEqual(await (await at(i)).copy(), [0, 1, 2]);
      assert.equal(await (await at(1)).pop(), 2);
      assert.equal(await (await at(1)).length(), 2);
      for (const i of [0, 2]) assert.equal(await (await at(i)).length(), 3);
      const b = await m.list<unknown>();
      await b.append(b); // a list that holds itself
      assert.ok(((await b.get(0)) as ListProxy)._token.id === b._token.id);
    });

    it('CPython test_dict and test_dict_proxy_nested', T, async () => {
      const d = await m.dict<number, string>();
      const indices = [65, 66, 67, 68, 69];
      for (const i of indices) await d.set(i, String.fromCharCode(i));
      assert.deepEqual(await d.copy(), new Map(indices.map((i) => [i, String.fromCharCode(i)])));
      assert.deepEqual((await d.keys()).sort(), indices);

      const pets = await m.dict({ ferrets: 2, hamsters: 4 });
      const supplies = await m.dict({ water: 10, feed: 3 });
      const nd = await m.dict<string, DictProxy<string, number>>({ pets, supplies } as never);
      const sub = async (k: string) => (await nd.get(k)) as DictProxy<string, number>;
      assert.equal(await supplies.get('water'), 10);
      assert.equal(await (await sub('supplies')).get('water'), 10);
      await (await sub('supplies')).set('blankets', 5);
      assert.equal(await supplies.get('blankets'), 5);
      await (await sub('supplies')).set('water', 7);
      assert.equal(await supplies.get('water'), 7);
      const back = await sub('pets');
      assert.ok(back instanceof DictProxy);
      await nd.clear();
      assert.equal(await nd.size(), 0);
      assert.equal(await supplies.get('water'), 7, 'still alive: proxies of it remain');
      assert.equal(await back.get('hamsters'), 4);
      const l = await m.list([pets, supplies]);
      await ((await l.get(0)) as unknown as DictProxy<string, number>).set('marmots', 1);
      assert.equal(await pets.get('marmots'), 1);
      const outer = await m.list<unknown>([[88, 99], l]);
      const first = await outer.get(0);
      assert.ok(Array.isArray(first) && !(first instanceof BaseProxy), 'plain data comes back as plain data');
      const last = (await outer.get(-1)) as ListProxy<DictProxy<string, number>>;
      assert.equal(await ((await last.get(-1)) as DictProxy<string, number>).get('feed'), 3);
    });

    it('CPython test_nested_queue; a plain nested value is a copy (Python\'s rule)', T, async () => {
      const a = await m.list<unknown>();
      await a.append(await m.Queue());
      const q0 = (await a.get(0)) as Awaited<ReturnType<SyncManager['Queue']>>;
      await q0.put(123);
      assert.equal(await ((await a.get(0)) as typeof q0).get(), 123);
      const b = await m.dict<number, unknown>();
      await b.set(0, await m.Queue());
      await ((await b.get(0)) as typeof q0).put(456);
      assert.equal(await ((await b.get(0)) as typeof q0).get(), 456);

      const nm = await m.dict<string, number[]>({ k: [] });
      const got = (await nm.get('k'))!;
      got.push(1);
      assert.deepEqual(await nm.get('k'), [], 'changing a copy does not reach the server');
      await nm.set('k', got);
      assert.deepEqual(await nm.get('k'), [1], 'writing it back does');
    });

    it('registered classes and errors keep their class through a manager; code and library handles are refused', T, async () => {
      const d = await m.dict<string, unknown>();
      await d.set('p', new F.Point(3, 4));
      const p = (await d.get('p')) as F.Point;
      assert.ok(p instanceof F.Point);
      assert.equal(p.norm(), 5);
      await d.set('e', new RangeError('stored'));
      const e = (await d.get('e')) as Error;
      assert.ok(e instanceof RangeError);
      assert.equal(e.message, 'stored');
      await assert.rejects(d.set('f', F.seedF as never), (err: Error) => err instanceof TypeError && /args\[1\].*function/.test(err.message));
      const q = new Queue();
      await assert.rejects(d.set('q', q as never), (err: Error) => err instanceof TypeError && /Queue of this library/.test(err.message));
      q.close();
      await d.set('proto', JSON.parse('{"__proto__": {"polluted": true}}'));
      const back = (await d.get('proto')) as Record<string, unknown>;
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(Object.getPrototypeOf(back), Object.prototype, 'a "__proto__" key stays a plain key');
    });

    // ---- registered types (CPython _TestMyManager) ---------------------------------------

    async function mymanagerCommon(mm: F.MyManager): Promise<void> {
      const foo = await mm.create<AutoProxy<F.FooBar>>('Foo');
      const bar = await mm.create<AutoProxy<F.FooBar>>('Bar');
      const bz = (await mm.create('baz')) as F.IteratorProxy;
      const fooMethods = ['f', 'g', '_h'].filter((n) => n in foo);
      const barMethods = ['f', 'g', '_h'].filter((n) => n in bar);
      assert.deepEqual(fooMethods, ['f', 'g']);
      assert.deepEqual(barMethods, ['f', '_h']);
      assert.equal(await foo.f(), 'f()');
      await assert.rejects(foo.g(), (err: Error) => err instanceof RangeError && err.message === 'g() failed');
      assert.equal(await foo._callMethod('f'), 'f()');
      await assert.rejects(foo._callMethod('_h'), (err: Error) => err instanceof RemoteError && /not exposed/.test(err.message));
      assert.equal(await bar.f(), 'f()');
      assert.equal(await (bar as unknown as { _h(): Promise<string> })._h(), '_h()');
      assert.equal(await bar._callMethod('_h'), '_h()');
      assert.ok(bz instanceof F.IteratorProxy);
      const seen: number[] = [];
      for await (const x of bz) seen.push(x);
      assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => i * i));
      // the create method named after the typeid
      const viaMethod = await (mm as unknown as { Foo(): Promise<AutoProxy<F.FooBar>> }).Foo();
      assert.equal(await viaMethod.f(), 'f()');
      await assert.rejects(mm.create('nope'), (err: Error) => err instanceof RemoteError && /unknown typeid 'nope'/.test(err.message));
    }

    it('CPython test_mymanager / _context / _context_prestarted', T, async () => {
      const mm = new F.MyManager({ context: ctx });
      await mm.start();
      await mymanagerCommon(mm);
      await mm.shutdown();
      assert.equal(mm.process?.exitCode, 0, 'the server ended on its own after the shutdown request');
      await mm.shutdown(); // idempotent
      await assert.rejects(mm.start(), (err: Error) => err instanceof ProcessError && err.message === 'Manager has shut down');

      const pre = new F.MyManager({ context: ctx });
      await pre.start();
      await assert.rejects(pre.start(), (err: Error) => err instanceof ProcessError && err.message === 'Already started server');
      {
        await using scoped = pre;
        await mymanagerCommon(scoped);
      }
      assert.equal(pre.process?.exitCode, 0);
    });

    it('start() errors: an initializer that is not callable, a callable that is not exported, an instance register', T, async () => {
      const mm = new SyncManager({ context: ctx });
      await assert.rejects(mm.start({ initializer: 1 as never }), (err: Error) => err instanceof TypeError && /initializer must be a callable/.test(err.message));
      class Local {
        x = 1;
      }
      const bad = new BaseManager({ context: ctx });
      bad.register('Local', Local);
      await assert.rejects(bad.start(), (err: Error) => err instanceof ProcessError && /Unable to start server/.test(err.message) && /Local/.test(err.message));
      const own = new BaseManager({ context: ctx });
      own.register('Foo', F.FooBar);
      own.register('Point', F.Point);
      await own.start();
      try {
        const foo = await own.create<AutoProxy<F.FooBar>>('Foo');
        assert.equal(await foo.f(), 'f()');
        const pt = await own.create<AutoProxy<F.Point>>('Point', 3, 4);
        assert.equal(await pt.norm(), 5);
        const copy = await pt._getValue();
        assert.ok(copy instanceof F.Point, '_getValue() gives a copy of the referent, with its registered class');
        assert.deepEqual({ ...(copy as F.Point) }, { x: 3, y: 4 });
        assert.throws(() => own.register('Bar', F.FooBar), /must come before start/);
      } finally {
        await own.shutdown();
      }
      await assert.rejects(new SyncManager().dict(), /not started: call start\(\) or connect\(\)/);
    });

    // ---- remote managers (CPython _TestRemoteManager, _TestManagerRestart) ------------------

    it('CPython test_remote: a child connects by address and key and sends values', T, async () => {
      const authkey = randomBytes(32);
      const qm = new F.QueueManager({ address: ['127.0.0.1', 0], authkey, context: ctx });
      await qm.start();
      try {
        const p = spawn(F.putter, [qm.address, authkey, 'values']);
        const m2 = new F.QueueManager2({ address: qm.address!, authkey });
        await m2.connect();
        const q = (await m2.create('get_queue')) as BaseProxy & { get(): Promise<unknown>; put(v: unknown): Promise<void> };
        assert.deepEqual(await within(q.get(), 30_000, 'the values'), F.REMOTE_VALUES);
        await assert.rejects(q.put(F.putter), TypeError);
        await joinOk(p);
        await m2.shutdown();
      } finally {
        await qm.shutdown();
      }
    });

    it('a second Node.js program uses the manager over TCP', T, async () => {
      const authkey = randomBytes(32);
      const qm = new F.QueueManager({ authkey, context: ctx });
      await qm.start();
      try {
        const [host, port] = qm.address as [string, number];
        const q = (await qm.create('get_queue')) as BaseProxy & { get(): Promise<unknown> };
        const r = await runProgram([tsxCli, `${programs}manager-remote-client.ts`, host, String(port), authkey.toString('hex')], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /sent 7 pid=\d+/);
        assert.deepEqual(await within(q.get(), 10_000, 'what the program sent'), F.REMOTE_VALUES);
      } finally {
        await qm.shutdown();
      }
    });

    it('a CommonJS program starts and uses a manager', T, async () => {
      const r = await runProgram([`${programs}manager-cjs.cjs`, method], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /value \[1,2\]/);
    });

    it('CPython test_rapid_restart: a new server on the address of one that shut down', T, async () => {
      const authkey = randomBytes(32);
      const first = new F.QueueManager({ address: ['127.0.0.1', 0], authkey, context: ctx });
      await first.start();
      const addr = first.address!;
      const p = spawn(F.putter, [addr, authkey, 'hello']);
      await joinOk(p);
      const q = (await first.create('get_queue')) as BaseProxy & { get(): Promise<unknown> };
      assert.equal(await q.get(), 'hello world');
      await first.shutdown();
      await assert.rejects(q.get(), 'proxies fail once their server has gone');
      const second = new F.QueueManager({ address: addr, authkey, context: ctx });
      await second.start();
      try {
        assert.deepEqual(second.address, addr);
        const q2 = (await second.create('get_queue')) as BaseProxy & { size(): Promise<number> };
        assert.equal(await q2.size(), 0, 'a fresh server');
      } finally {
        await second.shutdown();
      }
    });

    it('a server in this program: getServer().serveForever(), stopped by a client\'s shutdown', T, async () => {
      const authkey = randomBytes(16);
      const host = new SyncManager({ authkey });
      const server = await host.getServer();
      const serving = server.serveForever();
      const client = new SyncManager({ address: server.address, authkey });
      await client.connect();
      const d = await client.dict<string, number>({ a: 1 });
      assert.equal(await d.get('a'), 1);
      const info = await client.info();
      assert.equal(info.pid, process.pid);
      await assert.rejects(host.getServer(), /Already started server/);
      await host.shutdown();
      await within(serving, 10_000, 'serveForever to return');
      await assert.rejects(d.get('a'));
      await client.shutdown();
      await assert.rejects(new SyncManager({ authkey }).connect(), /address type of None unrecognized/);
    });

    it('a client that leaves gives its references back', T, async () => {
      const ids = await m.list<number>();
      const p = spawn(F.makeObjectsAndLeave, [m.address, m.authkey, 5, ids]);
      await joinOk(p);
      const made = await ids.copy();
      assert.equal(made.length, 5);
      // ask the server for each object on a connection of our own: it must be gone
      const probe = await Client<Uint8Array, Uint8Array>(m.address!, { authkey: m.authkey });
      try {
        const held = async (id: number): Promise<boolean> => {
          // take a reference and give it back at once (the probe must not keep anything alive)
          await probe.sendBytes(encodeFrame([[1, OP_INCREF, id, '', 0, []], [2, OP_DECREF, id, '', 0, []]]));
          const [r] = decodeFrame(await probe.recvBytes()) as Array<[number, number, number, unknown]>;
          return r![1] === ST_OK;
        };
        for (const id of made) {
          let alive = await held(id);
          for (const deadline = Date.now() + 20_000; alive && Date.now() < deadline; ) {
            await new Promise((r) => setTimeout(r, 50));
            alive = await held(id);
          }
          assert.equal(alive, false, `object ${id}, which only the child held, is gone`);
        }
        // and an object the main thread holds is still there
        assert.equal(await held(ids._token.id), true);
      } finally {
        probe.close();
      }
    });

    it('a proxy the program drops gives its reference back (garbage collection)', T, async () => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const make = async (): Promise<number> => (await m.dict({ temp: true }))._token.id;
      const id = await make(); // the proxy is unreachable once make() returns
      const probe = await Client<Uint8Array, Uint8Array>(m.address!, { authkey: m.authkey });
      try {
        const held = async (): Promise<boolean> => {
          await probe.sendBytes(encodeFrame([[1, OP_INCREF, id, '', 0, []], [2, OP_DECREF, id, '', 0, []]]));
          const [r] = decodeFrame(await probe.recvBytes()) as Array<[number, number, number, unknown]>;
          return r![1] === ST_OK;
        };
        let alive = await held();
        for (const deadline = Date.now() + 20_000; alive && Date.now() < deadline; ) {
          gc();
          await new Promise((r) => setTimeout(r, 50));
          alive = await held();
        }
        assert.equal(alive, false, 'the server freed the object once its only proxy was collected');
      } finally {
        probe.close();
      }
    });

    // ---- security and robustness --------------------------------------------------------

    it('a wrong key is refused with AuthenticationError before any object is touched', T, async () => {
      const d = await m.dict<string, number>({ k: 1 });
      const objects = (await m.info()).objects;
      const wrong = new SyncManager({ address: m.address!, authkey: Buffer.from('not the key') });
      await assert.rejects(wrong.connect(), AuthenticationError);
      await assert.rejects(Client(m.address!, { authkey: Buffer.from('nope') }), AuthenticationError);
      // no key at all: the handshake never completes and the server drops us
      const s = await rawSocket(m.address as [string, number]);
      s.write(Buffer.from([0, 0, 0, 4, 1, 2, 3, 4]));
      await closedByPeer(s);
      assert.equal(await d.get('k'), 1);
      assert.equal((await m.info()).objects, objects);
    });

    it('garbage bytes and an oversized length prefix drop only that client', T, async () => {
      const d = await m.dict<string, number>({ k: 1 });
      // before authentication
      const g = await rawSocket(m.address as [string, number]);
      g.write(randomBytes(64));
      await closedByPeer(g);
      const big = await rawSocket(m.address as [string, number]);
      big.write(Buffer.from([0x7f, 0xff, 0xff, 0xf0]));
      await closedByPeer(big);
      // after authentication: a frame that is not a message, then one over the size limit
      const c1 = await Client(m.address!, { authkey: m.authkey });
      await c1.sendBytes(randomBytes(100));
      await within(assert.rejects(c1.recvBytes()), 20_000, 'the server to drop the garbage client');
      c1.close();
      const small = new SyncManager({ context: ctx, maxMessageSize: 64 * 1024 });
      await small.start();
      try {
        const c2 = await Client(small.address!, { authkey: small.authkey });
        await c2.sendBytes(Buffer.alloc(100 * 1024));
        await within(assert.rejects(c2.recvBytes()), 20_000, 'the server to drop the oversized client');
        c2.close();
        const sd = await small.dict<string, number>();
        await sd.set('still', 1);
        assert.equal(await sd.get('still'), 1);
        await assert.rejects(sd.set('big', 'x'.repeat(100 * 1024) as never), 'a message over the limit is refused');
      } finally {
        await small.shutdown();
      }
      assert.equal(await within(d.get('k'), 10_000, 'a call after the bad clients'), 1);
    });

    it('a slow client (half a frame, or a silent handshake) does not stall the others', T, async () => {
      const d = await m.dict<string, number>({ k: 1 });
      const silent = await rawSocket(m.address as [string, number]); // never answers the challenge
      // authenticated, then the first 2 bytes of a header, and nothing more
      const sock = await rawSocket(m.address as [string, number]);
      sock.on('error', () => {});
      const channel = new SocketChannel(sock, { handshakeFrames: 3 });
      await auth.answerChallenge(channel, m.authkey, undefined);
      await auth.deliverChallenge(channel, m.authkey, 'sha256', undefined);
      sock.write(Buffer.from([0, 0]));
      const t0 = Date.now();
      for (let i = 0; i < 20; i++) await d.set('k', i);
      assert.equal(await d.get('k'), 19);
      assert.ok(Date.now() - t0 < 10_000, 'calls went on while the slow clients waited');
      silent.destroy();
      channel.close();
    });

    it('a client killed while holding a managed Lock releases it', T, async () => {
      const lock = await m.Lock();
      const ev = await m.Event();
      const p = spawn(F.holdLockForever, [lock, ev]);
      assert.equal(await ev.wait(30_000), true, 'the child holds the lock');
      assert.equal(await lock.acquire({ block: false }), false);
      p.kill();
      await p.join(20_000);
      assert.equal(p.isAlive(), false);
      assert.equal(await lock.acquire({ timeout: 20_000 }), true, 'the lock came back when its holder died');
      // a client killed while it waits for the lock never gets it
      const ev2 = await m.Event();
      const w = spawn(F.waitForLock, [lock, ev2]);
      assert.equal(await ev2.wait(30_000), true, 'the child waits for the lock');
      w.kill();
      await w.join(20_000);
      assert.equal(w.isAlive(), false);
      await lock.release();
      // (the server may learn of the death after this release: either way the lock must come back)
      assert.equal(await lock.acquire({ timeout: 20_000 }), true, 'the lock is not lost to the dead waiter');
      await lock.release();
    });

    it('50 clients at once', T, async () => {
      const d = await m.dict<string, number>();
      const id = d._token.id;
      const clients = await Promise.all(Array.from({ length: 50 }, () => Client<Uint8Array, Uint8Array>(m.address!, { authkey: m.authkey })));
      try {
        const answers = await within(
          Promise.all(
            clients.map(async (c, i) => {
              await c.sendBytes(encodeFrame([[1, OP_CALL, id, 'set', 0, [`c${i}`, i]], [2, OP_CALL, id, 'get', 0, [`c${i}`]]]));
              const out = decodeFrame(await c.recvBytes()) as Array<[number, number, number, unknown]>;
              return out;
            }),
          ),
          60_000,
          '50 clients to be served',
        );
        answers.forEach((out, i) => {
          assert.deepEqual(out.map((r) => [r[0], r[1]]), [
            [1, ST_OK],
            [2, ST_OK],
          ]);
          assert.equal(out[1]![3], i);
        });
        assert.equal(await d.size(), 50);
      } finally {
        for (const c of clients) c.close();
      }
    });

    it('the server ends when its owner is killed (no orphaned server)', T, async () => {
      let ready: { serverPid: number; ownerPid: number; address: [string, number] } | null = null;
      const r = await runProgram([`${programs}manager-owner.mjs`, method], {
        timeoutMs: 60_000,
        onStdout: (all, child) => {
          const mm = /ready (\{.*\})/.exec(all);
          if (mm && ready === null) {
            ready = JSON.parse(mm[1]!) as typeof ready;
            child.kill('SIGKILL');
          }
        },
      });
      assert.equal(r.signal, 'SIGKILL', r.stderr);
      assert.ok(ready !== null);
      const info = ready as { serverPid: number; ownerPid: number; address: [string, number] };
      if (method === 'process') assert.notEqual(info.serverPid, info.ownerPid, 'the server is a process of its own');
      await eventually(() => !pidAlive(info.serverPid), 15_000, `the server process ${info.serverPid} to end`);
      // (a dying process may still hold its socket for a moment: poll until connections are refused)
      const refusedNow = () =>
        new Promise<boolean>((resolve) => {
          const s = connect({ host: info.address[0], port: info.address[1] });
          s.once('connect', () => (s.destroy(), resolve(false)));
          s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
        });
      let refused = await refusedNow();
      for (const deadline = Date.now() + 15_000; !refused && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 50));
        refused = await refusedNow();
      }
      assert.equal(refused, true, 'nothing listens on the server\'s port any more');
    });
  });
}
