/** Liveness of lock holders: a half-written owner key is never taken for a dead holder. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ownerAlive, selfKey, markThreadDead } from '../../src/internal/liveness.js';

describe('liveness of lock holders', () => {
  it('a key read while being cleared or written (pid 0, or thread id 0) counts as alive', () => {
    assert.equal(ownerAlive(12345n), true); // pid 0, thread 12345: half-cleared
    assert.equal(ownerAlive(BigInt(process.pid) << 32n), true); // thread id 0
    assert.equal(ownerAlive(selfKey()), true);
  });

  it('a thread of this process is dead once recorded; a missing process is dead', () => {
    const tid = 987_654;
    const key = (BigInt(process.pid) << 32n) | BigInt(tid);
    assert.equal(ownerAlive(key), true);
    markThreadDead(tid);
    assert.equal(ownerAlive(key), false);
    assert.equal(ownerAlive((2_147_483_000n << 32n) | 1n), false);
  });
});
