/** multiprocessing-ts/dummy: Process as async tasks in the calling thread. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Process, currentProcess, activeChildren, cpuCount } from 'multiprocessing-ts/dummy';
import { ProcessError } from 'multiprocessing-ts';

describe('multiprocessing-ts/dummy Process', () => {
  it('runs any function (closures too) as an async task, and join waits for it', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = new Process({
      target: async (tag: string) => {
        seen.push(`${currentProcess()?.name}:${tag}:start`);
        await gate;
        seen.push(`${currentProcess()?.name}:${tag}:end`);
      },
      args: ['x'],
      name: 'A',
    });
    const b = new Process({ target: () => void seen.push(`${currentProcess()?.name}:y`), name: 'B' });
    a.start();
    b.start();
    assert.equal(a.isAlive(), true);
    await b.join();
    assert.deepEqual(activeChildren(), [a]);
    await a.join(10); // times out: the task waits for the gate
    assert.equal(a.isAlive(), true);
    release();
    await a.join();
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
    p.start();
    assert.throws(() => p.start(), ProcessError);
    await p.join();
    assert.equal(p.exitCode, 1);
    assert.match(p.name, /^Thread-\d+$/);
    assert.throws(() => new Process({ target: 3 as unknown as () => void }), TypeError);
  });
});
