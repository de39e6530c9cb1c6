/**
 * Python's `iter(q.get, sentinel)`, shared by the queues of both entries (the
 * shared-memory ones and the dummy module's).
 * @internal
 */
import { validateSignal } from './validators.js';

/**
 * The results of `q.get()` until `sentinel` arrives (not yielded). `options.sentinel`
 * defaults to `null`; NaN matches NaN.
 */
export async function* getUntilSentinel<T>(
  q: { get(options?: { signal?: AbortSignal }): Promise<T> },
  options: { sentinel?: unknown; signal?: AbortSignal },
): AsyncGenerator<T, void, undefined> {
  const sentinel = 'sentinel' in options ? options.sentinel : null;
  const signal = validateSignal(options);
  for (;;) {
    const x = await q.get(signal ? { signal } : undefined);
    if (x === sentinel || (Number.isNaN(x) && Number.isNaN(sentinel))) return;
    yield x;
  }
}
