/**
 * Keeps a worker thread from being terminated while it links an ES module it loads with
 * `require()`.
 *
 * On Node 20.20, `worker.terminate()` landing while `require()` instantiates an ES module graph
 * ends the whole process with a V8 fatal error ("IsGraphAsync must be used on an instantiated
 * module"): Node does not check that the instantiation was cut short. `import()` and the rest of
 * `require()` (running the module) stop cleanly. So a worker thread and its parent share one
 * word: the worker marks the time it spends in such a `require()`, and the parent, to stop the
 * worker, first claims the word so that no such `require()` starts, waiting out one that is under
 * way (briefly: linking takes microseconds; a module that runs long at its top level is stopped
 * after the grace period, while it runs, which is safe).
 * @internal
 */

/** The word's states. */
const IDLE = 0;
const LOADING = 1;
const STOPPING = 2;

/** How long a stop waits for a `require()` under way before it goes ahead. */
export const LOAD_GUARD_GRACE_MS = 1000;

/** A new guard word, for a worker thread about to be started. */
export function newLoadGuard(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

let word: Int32Array | null = null;
let depth = 0;

/** The worker's side: the word its parent shares (worker threads only). */
export function setLoadGuard(buffer: SharedArrayBuffer | undefined): void {
  word = buffer ? new Int32Array(buffer) : null;
}

/**
 * Runs `load` (a `require()` of an ES module) where the parent cannot terminate this thread
 * until it returns; `undefined` without running it when the parent is already stopping the
 * thread (the caller then imports instead, which a stop cuts short safely).
 */
export function guardedLoad<T>(load: () => T): T | undefined {
  if (word !== null && depth === 0 && Atomics.compareExchange(word, 0, IDLE, LOADING) !== IDLE) return undefined;
  depth++;
  try {
    return load();
  } finally {
    if (--depth === 0 && word !== null) Atomics.compareExchange(word, 0, LOADING, IDLE);
  }
}

/**
 * The parent's side: calls `stop` once the thread is not inside a guarded `require()` (at once,
 * in nearly every case), and from then on the thread starts none. Gives up waiting after
 * `graceMs`.
 */
export function stopWhenSafe(buffer: SharedArrayBuffer, stop: () => void, graceMs: number = LOAD_GUARD_GRACE_MS): void {
  const w = new Int32Array(buffer);
  const deadline = Date.now() + graceMs;
  const attempt = (): void => {
    const was = Atomics.compareExchange(w, 0, IDLE, STOPPING);
    if (was === LOADING && Date.now() < deadline) {
      setTimeout(attempt, 1);
      return;
    }
    Atomics.store(w, 0, STOPPING);
    stop();
  };
  attempt();
}
