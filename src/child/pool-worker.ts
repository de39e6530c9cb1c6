/**
 * The loop of a pool worker (runs in the worker): takes tasks from its own
 * queue, runs them, puts results on the pool's result queue. The message
 * shapes are in protocol/pool.ts.
 * @internal
 */
import type { Queue } from '../queues.js';
import { loadReference } from '../fnref.js';
import { TASK_APPLY, TASK_STARMAP, decodeTask, encodeResult, decodeStop, type StopKind } from '../protocol/pool.js';
import { TaskContext, setCurrentTask } from '../internal/task-context.js';
import type { FnRefData } from '../protocol/messages.js';
import { saveCodeCache } from '../internal/code-cache.js';

type Fn = (...args: unknown[]) => unknown;

/**
 * Milliseconds on a monotonic clock, for a task's busy time. (The global `performance` costs a
 * new worker its first read, about half a millisecond to load, before its first result.)
 */
function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Runs until it gets an empty frame (the pool closes) or has run `maxTasks`
 * tasks. `initializer(...initargs)` runs first, as Python's. `control` carries
 * the pool's requests to stop a task (its caller aborted, or it timed out).
 */
export async function poolWorkerMain(
  index: number,
  tasks: Queue<never>,
  results: Queue<never>,
  control: Queue<never>,
  initializer: Fn | null,
  initargs: unknown[],
  maxTasks: number,
): Promise<void> {
  // Stop requests: for the running task, or for tasks still waiting in this worker's queue
  // (ids only grow, so a request for an id at or below the last one started is stale).
  let running: TaskContext | undefined;
  let lastStarted = 0;
  const early = new Map<number, StopKind>();
  const take = (b: Uint8Array): void => {
    const { id, why } = decodeStop(b);
    if (running?.id === id) running._stop(why);
    else if (id > lastStarted) early.set(id, why);
  };
  const poll = (): void => {
    for (let b = control._getBytesNowait(); b; b = control._getBytesNowait()) take(b);
  };
  // The listener starts when this loop first waits for a task or for a task's promise, not
  // before the first task: starting it costs a new worker about half a millisecond (over one
  // on the 'process' start method), on the way to its first result. Until then, requests are
  // read when a task starts, and when a task reads `currentTask().aborted`.
  const listening = new AbortController();
  let listens = false;
  const listen = (): void => {
    if (listens) return;
    listens = true;
    void (async () => {
      try {
        for (;;) take(await control._getBytes(listening.signal));
      } catch {
        // ended by `listening.abort()` when this loop returns
      }
    })();
  };
  try {
    await serve(index, tasks, results, initializer, initargs, maxTasks, {
      start(id) {
        if (!listens) poll();
        lastStarted = id;
        const why = early.get(id);
        if (why !== undefined) {
          early.delete(id);
          return why;
        }
        running = new TaskContext(id, poll);
        setCurrentTask(running);
        return 0;
      },
      end() {
        running = undefined;
        setCurrentTask(undefined);
      },
      waiting: listen,
    });
  } finally {
    listening.abort();
  }
}

interface Hooks {
  /** A task begins: 0 to run it, or why it was stopped before it started. */
  start(id: number): StopKind | 0;
  end(): void;
  /** The loop is about to wait for a task, or for the promise of a task or of the initializer. */
  waiting(): void;
}

async function serve(index: number, tasks: Queue<never>, results: Queue<never>, initializer: Fn | null, initargs: unknown[], maxTasks: number, hooks: Hooks): Promise<void> {
  if (initializer) {
    const ready = initializer(...initargs);
    if (isThenable(ready)) {
      hooks.waiting();
      await ready;
    }
  }
  const fns = new Map<number, Fn>();
  // A function's reference comes with the first task that uses it (which may be one stopped
  // before it ran, so keep the reference apart from loading it).
  const refs = new Map<number, FnRefData>();
  let done = 0;
  let first = true;
  // Results go in at once when the ring has room (most of the time), else wait for room.
  let wait: void | Promise<void>;
  for (;;) {
    // Tasks already queued are taken without a promise (with a turn of the event loop now
    // and then: see Queue._takeFrame).
    const got = tasks._takeFrame();
    let bytes: Uint8Array;
    if (got instanceof Uint8Array) bytes = got;
    else {
      hooks.waiting();
      bytes = await got;
    }
    if (bytes.length === 0) return; // the pool's request to end
    const task = decodeTask(bytes);
    const { id, fnId, kind } = task;
    if (task.ref) refs.set(fnId, task.ref);
    let fn = fns.get(fnId);
    const t0 = nowMs();
    const stopped = hooks.start(id);
    if (stopped) {
      // Stopped while it waited here: not run (but counted, as the pool counts what it sent).
      if ((wait = results._putBytesOrWait(encodeResult(id, index, 0, TaskContext._reasonFor(id, stopped), 0)))) await wait;
      if (maxTasks > 0 && ++done >= maxTasks) return;
      continue;
    }
    try {
      if (!fn) {
        const ref = refs.get(fnId)!;
        fn = (await loadReference(ref)) as Fn;
        if (typeof fn !== 'function') throw new TypeError(`${ref.url} export '${ref.name}' is not a function in this worker`);
        fns.set(fnId, fn);
      }
      const payload = task.payload instanceof Promise ? await task.payload : task.payload;
      let value: unknown;
      if (kind === TASK_APPLY) {
        value = fn(...(payload as unknown[]));
        if (isThenable(value)) {
          hooks.waiting();
          value = await value;
        }
      } else {
        const items = payload as unknown[];
        const out = new Array<unknown>(items.length);
        for (let i = 0; i < items.length; i++) {
          let v = kind === TASK_STARMAP ? fn(...(items[i] as unknown[])) : fn(items[i]);
          if (isThenable(v)) {
            hooks.waiting();
            v = await v;
          }
          out[i] = v;
        }
        value = out;
      }
      hooks.end();
      if (first) {
        // A worker that found no usable code cache writes one now, holding the code of the way
        // to a result; before the result goes, since a pool may end its workers on seeing it.
        // (That costs the first worker of a machine, or of a new build, a few milliseconds.)
        first = false;
        saveCodeCache();
      }
      if ((wait = results._putBytesOrWait(encodeResult(id, index, 1, value, nowMs() - t0)))) await wait;
    } catch (err) {
      hooks.end();
      try {
        if ((wait = results._putBytesOrWait(encodeResult(id, index, 0, err, nowMs() - t0)))) await wait;
      } catch (e2) {
        // The error itself cannot be sent: send what can be.
        if ((wait = results._putBytesOrWait(encodeResult(id, index, 0, new Error(`${String((err as Error)?.message ?? err)} (the original error could not be sent: ${(e2 as Error).message})`), nowMs() - t0)))) await wait;
      }
    }
    if (maxTasks > 0 && ++done >= maxTasks) return;
  }
}
