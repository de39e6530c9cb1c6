/**
 * The lock of a segment's attachment table: a holder that ended while holding it (a killed
 * process, a terminated thread) must not stall the next taker for good.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getContext } from 'multiprocessing-ts';
import { _tableLock, HEADER_BYTES } from '../../src/internal/segments.js';
import { takeTableLock } from '../fixtures/segment-targets.js';

/** Takes the lock of `h` in a worker thread; resolves true once taken, false if not within `ms`. */
async function takeInWorker(h: Int32Array, ms: number): Promise<boolean> {
  const p = new (getContext('thread').Process)({ target: takeTableLock, args: [h] });
  p.start();
  try {
    await p.join(ms);
    if (p.exitCode === null) return false;
    assert.equal(p.exitCode, 0);
    return true;
  } finally {
    if (p.exitCode === null) {
      p.kill();
      await p.join(10_000);
    }
  }
}

const header = () => new Int32Array(new SharedArrayBuffer(HEADER_BYTES));

test('a table lock held by a process that has ended is taken over', async () => {
  const gone = spawnSync(process.execPath, ['-e', '']);
  assert.equal(gone.status, 0);
  const h = header();
  h[1] = gone.pid!;
  h[_tableLock.holderTidIndex] = 1;
  assert.equal(await takeInWorker(h, 10_000), true, 'the lock of an ended holder was never taken');
});

test('a table lock held by a thread of this process that took it and ended before writing its id is taken over', async () => {
  const h = header();
  h[1] = process.pid;
  h[_tableLock.holderTidIndex] = 0;
  assert.equal(await takeInWorker(h, 10_000), true);
});

test('a table lock held by a live thread is waited for, then taken once let go', async () => {
  const h = header();
  _tableLock.lock(h); // held by this (main) thread, which is alive
  assert.equal(h[1], process.pid);
  assert.equal(h[_tableLock.holderTidIndex], 1, "the holder's thread id + 1");
  assert.equal(await takeInWorker(h, 400), false, 'taken while its live holder held it');
  const taken = takeInWorker(h, 10_000);
  setTimeout(() => _tableLock.unlock(h), 50);
  assert.equal(await taken, true);
});

test('a table lock held by a worker thread of this process that ended is taken over', async () => {
  const h = header();
  assert.equal(await takeInWorker(h, 10_000), true); // the first thread takes it and ends holding it
  assert.equal(h[1], process.pid);
  assert.notEqual(h[_tableLock.holderTidIndex], 0);
  assert.equal(await takeInWorker(h, 10_000), true, "the lock of this process's ended thread was never taken");
});
