/**
 * The synchronisation suites on the koffi fallback (native addon disabled),
 * plus what only this fallback can get wrong (test/suites/fallback.ts).
 * Skipped, saying so, where the optional package koffi is not installed.
 */
import { describe, it } from 'node:test';
import { createRequire } from 'node:module';

let koffiMissing: string | null = null;
try {
  createRequire(import.meta.url)('koffi');
} catch (e) {
  koffiMissing = `the optional package koffi is not installed here (${(e as Error).message.split('\n')[0]})`;
}

if (koffiMissing) {
  describe('the koffi fallback', () => it('runs where koffi is installed', { skip: koffiMissing }, () => {}));
} else {
  // Before the library is imported anywhere: the mode is chosen once, at first use.
  process.env.MULTIPROCESSING_TS_NATIVE = '0';
  const { syncSuite } = await import('./suites/sync.js');
  const { syncCpythonSuite } = await import('./suites/sync-cpython.js');
  const { fallbackSuite, leftoversCase } = await import('./suites/fallback.js');

  fallbackSuite('koffi', /using the koffi fallback/, 5000);
  describe('koffi fallback: a whole program', () => leftoversCase({ MULTIPROCESSING_TS_NATIVE: '0' }));
  syncSuite('process');
  syncSuite('thread');
  // The CPython cases on 'process' only: under koffi a worker thread maps objects by name exactly
  // as a process does (the 'thread' runs of the suites above cover threads), and the full
  // second run would add half a minute to `npm test`.
  syncCpythonSuite('process');
}
