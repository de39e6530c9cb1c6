/**
 * The synchronisation suites with neither the native addon nor koffi: worker
 * threads share plain SharedArrayBuffers, 'process' children go through the
 * parent's broker thread. Every broker operation is a round trip, so the
 * stress counts are scaled down; SharedMemory (POSIX shared memory, which
 * this mode lacks) is skipped. The 'thread' start method is the plain
 * SharedArrayBuffer path that test/sync.thread.test.ts covers already when the
 * addon is missing, and runs here in the mixed case of test/suites/fallback.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

// Before the library is imported anywhere: the mode is chosen once, at first use.
process.env.MULTIPROCESSING_TS_NATIVE = '0';
process.env.MULTIPROCESSING_TS_KOFFI = '0';
const { syncSuite } = await import('./suites/sync.js');
const { syncCpythonSuite } = await import('./suites/sync-cpython.js');
const { fallbackSuite, leftoversCase } = await import('./suites/fallback.js');

const NO_SHM = 'broker mode has no POSIX shared memory: SharedMemory needs the native addon or koffi';
fallbackSuite('broker', /'process' children reach them through a broker thread/, 200);
describe('broker fallback: a whole program', () => leftoversCase({ MULTIPROCESSING_TS_NATIVE: '0', MULTIPROCESSING_TS_KOFFI: '0' }));
syncSuite('process', { scale: 0.005, skipSharedMemory: NO_SHM });
syncCpythonSuite('process', { brokerSkips: `${NO_SHM}; and 1,000 barrier passes of round trips are too slow for the suite` });

// What the skipped cases above would need is refused clearly in this mode, never half-done.
const { SharedMemory, Queue, getContext, ProcessError } = await import('multiprocessing-ts');
describe('broker fallback: what it cannot carry is refused with a clear error', () => {
  it('SharedMemory cannot be created without POSIX shared memory', () => {
    assert.throws(() => new SharedMemory({ create: true, size: 64 }), (e: Error) => e instanceof Error && /native|koffi/.test(e.message));
  });
  it("a Queue cannot go to a 'process' child (start() says why); it works between threads", async () => {
    const q = new Queue<number>();
    const p = new (getContext('process').Process)({ target: undefined, args: [q] });
    assert.throws(() => p.start(), (e: Error) => e instanceof ProcessError && /koffi/.test(e.message));
    await q.put(1);
    assert.equal(await q.get(), 1);
  });
});
