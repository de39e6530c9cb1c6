/**
 * Serialization: what crosses, how it comes back, and what is refused.
 * Values go through encode → structured clone (the transports' step) → decode.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encode, decode, encodeErrorValue } from '../../src/reduction.js';
import { ProcessError, TimeoutError, WorkerLostError, RemoteError, registerClass } from 'multiprocessing-ts';
import * as T from '../fixtures/targets.js';

async function roundTrip(value: unknown, force = false): Promise<unknown> {
  const enc = encode(value, 'args', force);
  return decode(structuredClone(enc));
}

class Unregistered {
  a = 1;
}

export class MyError extends Error {
  constructor(
    message: string,
    public detail: { level: number },
  ) {
    super(message);
    this.name = 'MyError';
  }
}
registerClass(MyError);

describe('serialization', () => {
  it('plain data takes the fast path untouched; only values that need it are walked', async () => {
    const plain = [1, 'two', null, true, 3n, { a: [1, { b: new Map([[1, new Date(0)]]) }] }, new Uint8Array(2)];
    const enc = encode(plain, 'args');
    assert.equal(enc.walked, false);
    assert.equal(enc.data, plain); // not copied
    assert.deepEqual(await roundTrip(plain), plain);
    assert.equal(encode([1, { deep: [new T.Point(1, 2)] }], 'args').walked, true);
    assert.equal(encode([new Map([['k', new Error('e')]])], 'args').walked, true);
    assert.equal(encode({ f: T.add }, 'args').walked, true);
  });

  it('rich structured-clone data arrives equal (Map, Set, Date, RegExp, BigInt, typed arrays, cycles)', async () => {
    const cyc: Record<string, unknown> = { k: 1 };
    cyc.me = cyc;
    const v = { m: new Map([[1, new Set(['a'])]]), d: new Date(5), r: /a/gi, b: 2n ** 70n, u: new Float64Array([1.5]), cyc };
    const back = (await roundTrip(v, true)) as typeof v;
    assert.deepEqual(back.m, v.m);
    assert.deepEqual(back.d, v.d);
    assert.equal(back.r.source, 'a');
    assert.equal(back.r.flags, 'gi');
    assert.equal(back.b, v.b);
    assert.deepEqual(back.u, v.u);
    assert.equal((back.cyc as Record<string, unknown>).me, back.cyc);
  });

  it('registered classes keep their prototype at any depth; unregistered ones arrive as plain data', async () => {
    const back = (await roundTrip({ list: [new T.Point(6, 8)], loose: new Unregistered() })) as { list: T.Point[]; loose: unknown };
    assert.ok(back.list[0] instanceof T.Point);
    assert.equal(back.list[0]!.norm(), 10);
    assert.deepEqual(back.loose, { a: 1 });
    assert.ok(!(back.loose instanceof Unregistered));
  });

  it('exported functions cross as references and come back callable', async () => {
    const back = (await roundTrip({ fns: [T.add] })) as { fns: [(a: number, b: number) => number] };
    assert.equal(back.fns[0](2, 3), 5);
  });

  it('objects that use the internal marker key are escaped, not mistaken for markers', async () => {
    const tricky = { __mp_ts__: 'class', name: 'Point', fields: { x: 1 } };
    const back = await roundTrip({ tricky, p: new T.Point(1, 1) });
    assert.deepEqual((back as { tricky: unknown }).tricky, tricky);
  });

  it('refuses what cannot cross, naming the path', () => {
    assert.throws(() => encode([1, { a: { b: Symbol('x') } }], 'args', true), /args\[1\]\.a\.b cannot be sent.*symbol/);
    assert.throws(() => encode([new WeakMap()], 'args', true), /args\[0\].*WeakMap/);
    assert.throws(() => encode({ s: process.stdout }, 'args', true), /args\.s.*streams, sockets/);
    assert.throws(() => encode([T.makeClosure()], 'args', true), /args\[0\] is a function that cannot be sent.*closure/);
    assert.throws(() => encode(new Map([['k', { p: Promise.resolve() }]]), 'args', true), /args\.get\("k"\)\.p.*Promise/);
  });

  it('errors come back with class, message, own properties, cause and the remote stack', async () => {
    const cause = new RangeError('root cause');
    const err = new TypeError('outer', { cause });
    (err as TypeError & { code: string; extra: Map<string, number> }).code = 'E_OUTER';
    (err as TypeError & { extra: Map<string, number> }).extra = new Map([['n', 1]]);
    const back = (await decode(structuredClone(encodeErrorValue(err)))) as TypeError & { code: string; extra: Map<string, number> };
    assert.ok(back instanceof TypeError);
    assert.equal(back.message, 'outer');
    assert.equal(back.code, 'E_OUTER');
    assert.deepEqual(back.extra, new Map([['n', 1]]));
    assert.ok(back.cause instanceof RangeError);
    assert.equal((back.cause as Error).message, 'root cause');
    assert.match(back.stack!, /TypeError: outer/);
    assert.match(back.stack!, /raised in a worker/);
  });

  it('library errors and registered error classes keep their class; unknown classes become RemoteError', async () => {
    const t = (await decode(structuredClone(encodeErrorValue(new TimeoutError('late'))))) as Error;
    assert.ok(t instanceof TimeoutError);
    assert.ok(t instanceof ProcessError);
    assert.equal((t as TimeoutError).code, 'ERR_MP_TIMEOUT');
    const w = (await decode(structuredClone(encodeErrorValue(new WorkerLostError('gone'))))) as Error;
    assert.ok(w instanceof WorkerLostError && !(w instanceof TimeoutError));
    const mine = (await decode(structuredClone(encodeErrorValue(new MyError('mine', { level: 3 }))))) as MyError;
    assert.ok(mine instanceof MyError);
    assert.deepEqual(mine.detail, { level: 3 });
    class Strange extends Error {}
    const s = (await decode(structuredClone(encodeErrorValue(new Strange('odd'))))) as RemoteError & { remoteClass: string };
    assert.ok(s instanceof RemoteError);
    assert.equal(s.remoteClass, 'Strange');
    assert.equal(s.message, 'odd');
  });

  it('a thrown non-error value survives as itself', async () => {
    assert.equal(await decode(structuredClone(encodeErrorValue('just a string'))), 'just a string');
  });
});

describe('errors', () => {
  it('every class extends ProcessError and has a stable code', () => {
    const e = new TimeoutError('x');
    assert.ok(e instanceof Error);
    assert.ok(e instanceof ProcessError);
    assert.equal(e.name, 'TimeoutError');
    assert.equal(e.code, 'ERR_MP_TIMEOUT');
    assert.equal(new ProcessError('p').code, 'ERR_MP_PROCESS');
    assert.ok(!(new ProcessError('p') instanceof TimeoutError));
  });

  it('user subclasses of ProcessError work with instanceof', () => {
    class AppError extends ProcessError {}
    const e = new AppError('app');
    assert.ok(e instanceof AppError);
    assert.ok(e instanceof ProcessError);
    assert.ok(!(new ProcessError('x') instanceof AppError));
  });
});

describe('library handles', () => {
  it('an object with a reduce method arrives, at any depth, as the handle its kind revives', async () => {
    const { REDUCE, registerHandleKind } = await import('../../src/reduction.js');
    class FakeLock {
      constructor(readonly id: number) {}
      [REDUCE]() {
        return { kind: 'test-fake-lock', state: { id: this.id } };
      }
    }
    registerHandleKind('test-fake-lock', (s) => new FakeLock((s as { id: number }).id + 1000));
    const lock = new FakeLock(7);
    const enc = encode({ deep: [{ lock }], again: lock }, 'args');
    assert.equal(enc.walked, true);
    const back = (await decode(structuredClone(enc))) as { deep: [{ lock: FakeLock }]; again: FakeLock };
    assert.ok(back.deep[0].lock instanceof FakeLock);
    assert.equal(back.deep[0].lock.id, 1007);
    assert.equal(back.again, back.deep[0].lock); // one handle per object, identity kept
  });
});
