/**
 * The loop of a pool worker (runs in the worker): takes tasks from its own
 * queue, runs them, puts results on the pool's result queue. The message
 * shapes are in protocol/pool.ts.
 * @internal
 */
import type { Queue } from '../queues.js';
import { loadReference } from '../fnref.js';
import { TASK_APPLY, TASK_STARMAP, decodeTask, encodeResult } from '../protocol/pool.js';
import type { FnRefData } from '../protocol/messages.js';

type Fn = (...args: unknown[]) => unknown;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Runs until it gets `null` (the pool closes) or has run `maxTasks` tasks.
 * `initializer(...initargs)` runs first, as Python's.
 */
export async function poolWorkerMain(
  index: number,
  tasks: Queue<never>,
  results: Queue<never>,
  initializer: Fn | null,
  initargs: unknown[],
  maxTasks: number,
): Promise<void> {
  if (initializer) await initializer(...initargs);
  const fns = new Map<number, Fn>();
  let done = 0;
  for (;;) {
    const bytes = await tasks._getBytes();
    if (bytes.length === 0) return; // the pool's request to end
    const task = decodeTask(bytes);
    const { id, fnId, ref, kind } = task;
    let fn = fns.get(fnId);
    const t0 = performance.now();
    try {
      if (!fn) {
        fn = (await loadReference(ref as FnRefData)) as Fn;
        if (typeof fn !== 'function') throw new TypeError(`${(ref as FnRefData).url} export '${(ref as FnRefData).name}' is not a function in this worker`);
        fns.set(fnId, fn);
      }
      const payload = task.payload instanceof Promise ? await task.payload : task.payload;
      let value: unknown;
      if (kind === TASK_APPLY) {
        value = fn(...(payload as unknown[]));
        if (isThenable(value)) value = await value;
      } else {
        const items = payload as unknown[];
        const out = new Array<unknown>(items.length);
        for (let i = 0; i < items.length; i++) {
          let v = kind === TASK_STARMAP ? fn(...(items[i] as unknown[])) : fn(items[i]);
          if (isThenable(v)) v = await v;
          out[i] = v;
        }
        value = out;
      }
      await results._putBytes(encodeResult(id, index, 1, value, performance.now() - t0));
    } catch (err) {
      try {
        await results._putBytes(encodeResult(id, index, 0, err, performance.now() - t0));
      } catch (e2) {
        // The error itself cannot be sent: send what can be.
        await results._putBytes(encodeResult(id, index, 0, new Error(`${String((err as Error)?.message ?? err)} (the original error could not be sent: ${(e2 as Error).message})`), performance.now() - t0));
      }
    }
    if (maxTasks > 0 && ++done >= maxTasks) return;
  }
}

