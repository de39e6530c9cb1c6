/**
 * The worker's side of the code cache (see child/core-loader.ts): the loader leaves a function
 * here when the cache is missing or was refused; the core calls it once the worker has run
 * something, so the cache holds the code of that path too.
 * @internal
 */
const SAVE = Symbol.for('multiprocessing-ts.saveCodeCache');

/** Writes this worker's code cache now, if the loader asked for one (at most once). */
export function saveCodeCache(): void {
  const g = globalThis as unknown as Record<symbol, (() => void) | undefined>;
  const save = g[SAVE];
  if (save === undefined) return;
  g[SAVE] = undefined;
  save();
}
