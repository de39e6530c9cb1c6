/**
 * The manager's wire format: what a hostile peer can put in a message is
 * rebuilt only as plain data, allowed classes and known errors; nothing is
 * called, imported or assigned through a prototype.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize, deserialize } from 'node:v8';
import { MARK, walkIn, walkOut, needsWalk, checkRequest, decodeFrame, forEachProxyMarker, type ProxyMarker } from '../../src/protocol/manager.js';
import { RemoteError, Empty, registerClass } from 'multiprocessing-ts';

class Known {
  constructor(public v = 1) {}
  twice(): number {
    return this.v * 2;
  }
}
registerClass(Known, 'ManagerProtocolKnown');

/** What a peer's bytes become here: serialize (the peer) then deserialize (us) then walkIn. */
function fromWire(value: unknown, toProxy = (m: ProxyMarker) => ({ proxy: m.i })): unknown {
  return walkIn(deserialize(serialize(value)), toProxy);
}

describe('manager wire format', () => {
  it('plain data needs no walk; functions and symbols do, and are refused with their path', () => {
    assert.equal(needsWalk([1, 'a', null, [2, { b: new Map([[1, 2]]) }], new Uint8Array(2)]), false);
    assert.equal(needsWalk([1, () => 1]), true);
    assert.throws(() => walkOut([1, { f: () => 1 }], 'args', () => undefined), (e: Error) => e instanceof TypeError && /args\[1\]\.f/.test(e.message));
    assert.throws(() => walkOut([Symbol('s')], 'args', () => undefined), TypeError);
    assert.throws(() => walkOut([Promise.resolve(1)], 'args', () => undefined), /Promise/);
  });

  it('registered classes and known errors come back with their class; unknown ones as plain data / RemoteError', () => {
    const out = fromWire(walkOut([new Known(4), new Empty('none'), new RangeError('r')], 'args', () => undefined)) as unknown[];
    assert.ok(out[0] instanceof Known);
    assert.equal((out[0] as Known).twice(), 8);
    assert.ok(out[1] instanceof Empty);
    assert.ok(out[2] instanceof RangeError);
    const unknownClass = fromWire({ [MARK]: 'c', n: 'NoSuchClass', f: { a: 1 } }) as object;
    assert.equal(Object.getPrototypeOf(unknownClass), Object.prototype);
    assert.deepEqual({ ...unknownClass }, { a: 1 });
    const unknownError = fromWire({ [MARK]: 'e', c: 'EvilError', n: 'EvilError', m: 'boom', s: undefined, p: {}, hk: false }) as Error;
    assert.ok(unknownError instanceof RemoteError);
    assert.equal(unknownError.message, 'boom');
    assert.equal((unknownError as unknown as { remoteClass: string }).remoteClass, 'EvilError');
  });

  it('a "__proto__" key anywhere stays a plain key: no prototype is changed', () => {
    const evil = JSON.parse('{"__proto__": {"polluted": 1}, "x": {"__proto__": {"polluted": 2}}}') as object;
    const viaClass = { [MARK]: 'c', n: 'ManagerProtocolKnown', f: JSON.parse('{"__proto__": {"polluted": 3}, "v": 2}') as object };
    const viaError = { [MARK]: 'e', c: 'Error', n: 'Error', m: 'm', s: undefined, p: JSON.parse('{"__proto__": {"polluted": 4}}') as object, hk: false };
    const out = fromWire([evil, viaClass, viaError, { y: { [MARK]: 'p', i: 7, t: 'dict', x: null, n: 'DictProxy' }, ...JSON.parse('{"__proto__": 5}') }]) as object[];
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(out[0]), Object.prototype);
    assert.ok(out[1] instanceof Known);
    assert.equal((out[1] as Known).v, 2);
    assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(out[1])), Object.prototype);
    assert.ok(out[2] instanceof Error);
    assert.deepEqual((out[3] as { y: unknown }).y, { proxy: 7 });
    assert.equal(Object.getPrototypeOf(out[3]), Object.prototype);
  });

  it('malformed markers and requests are refused', () => {
    assert.throws(() => fromWire({ [MARK]: 'p', i: 'not a number', t: 'dict', x: null, n: 'DictProxy' }), /malformed proxy reference/);
    assert.throws(() => fromWire({ [MARK]: 'zz' }), /unknown marker/);
    assert.throws(() => checkRequest([1, 0, 2]), /malformed request/);
    assert.throws(() => checkRequest([1, 0, 2, 'get', 2, []]), /malformed request/);
    assert.throws(() => decodeFrame(serialize({ not: 'an array' })), /must hold an array/);
    assert.throws(() => decodeFrame(new Uint8Array([0xff, 0x0f, 0x99, 0x99])));
  });

  it('escaped objects that own the marker key come back as they were', () => {
    const weird = { [MARK]: 'p', other: 1 };
    const out = fromWire(walkOut([weird, new Known()], 'args', () => undefined)) as unknown[];
    assert.deepEqual(out[0], { [MARK]: 'p', other: 1 });
  });

  it('forEachProxyMarker finds references at any depth and in class fields', () => {
    const m = (i: number) => ({ [MARK]: 'p', i, t: 'dict', x: null, n: 'DictProxy' });
    const v = [m(1), { a: [m(2)] }, new Map([['k', m(3)]]), { [MARK]: 'c', n: 'X', f: { q: m(4) } }];
    const seen: number[] = [];
    forEachProxyMarker(v, (x) => seen.push(x.i));
    assert.deepEqual(seen.sort(), [1, 2, 3, 4]);
  });
});
