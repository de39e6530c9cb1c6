/**
 * The word a worker thread shares with its parent while it links ES modules with require()
 * (src/internal/load-guard.ts), both sides played in this thread; and which Node versions
 * load ES modules with require() quietly (src/internal/import-module.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { guardedLoad, newLoadGuard, setLoadGuard, stopWhenSafe } from '../../src/internal/load-guard.js';
import { quietRequireEsm } from '../../src/internal/import-module.js';

/** Resolves once `check()` holds, or rejects after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('load guard', () => {
  it('a stop asked for while a guarded load runs waits until the load returns; after it no guarded load runs', async () => {
    const buffer = newLoadGuard();
    setLoadGuard(buffer);
    try {
      let stopped = false;
      const value = guardedLoad(() => {
        stopWhenSafe(buffer, () => (stopped = true));
        assert.equal(stopped, false, 'stopped inside the load');
        return 'loaded';
      });
      assert.equal(value, 'loaded');
      assert.equal(stopped, false, 'stopped on the same turn the load ended (it retries on a timer)');
      await until(() => stopped, 5000, 'the stop');
      let ran = false;
      assert.equal(
        guardedLoad(() => (ran = true)),
        undefined,
      );
      assert.equal(ran, false, 'a load started after the stop');
    } finally {
      setLoadGuard(undefined);
    }
  });

  it('a stop with no load under way happens at once, and a nested load keeps the guard until the outer one ends', () => {
    const buffer = newLoadGuard();
    setLoadGuard(buffer);
    try {
      const words = new Int32Array(buffer);
      const inner = guardedLoad(() => {
        const v = guardedLoad(() => 2);
        assert.equal(Atomics.load(words, 0), 1, 'the inner load released the guard of the outer one');
        return v;
      });
      assert.equal(inner, 2);
      assert.equal(Atomics.load(words, 0), 0);
      let stopped = false;
      stopWhenSafe(buffer, () => (stopped = true));
      assert.equal(stopped, true);
    } finally {
      setLoadGuard(undefined);
    }
  });

  it('a load that never ends (as seen from the parent) is stopped after the grace period', async () => {
    const buffer = newLoadGuard();
    Atomics.store(new Int32Array(buffer), 0, 1); // a worker inside require() for ever
    let stoppedAt = 0;
    const t0 = Date.now();
    stopWhenSafe(buffer, () => (stoppedAt = Date.now()), 60);
    assert.equal(stoppedAt, 0);
    await until(() => stoppedAt > 0, 5000, 'the stop after the grace period');
    assert.ok(stoppedAt - t0 >= 55, `stopped after ${stoppedAt - t0} ms, before the grace period`);
  });

  it('a thread with no guard (processes, the main thread) loads without one', () => {
    setLoadGuard(undefined);
    assert.equal(
      guardedLoad(() => 'x'),
      'x',
    );
  });
});

describe('require() of ES modules', () => {
  it('is used only on Node versions where it needs no flag and prints no warning, and never when turned off', () => {
    const cases: [string, boolean][] = [
      ['20.18.3', false],
      ['20.19.0', true],
      ['20.20.2', true],
      ['21.7.3', false],
      ['22.12.0', false],
      ['22.13.0', true],
      ['23.4.0', false],
      ['23.5.0', true],
      ['24.0.0', true],
      ['25.1.0', true],
    ];
    for (const [version, expected] of cases) assert.equal(quietRequireEsm(version, true), expected, version);
    assert.equal(quietRequireEsm('22.13.0', false), false);
    assert.equal(quietRequireEsm('22.13.0', null), false);
  });
});
