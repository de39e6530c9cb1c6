/**
 * Seed 003, "window 和 Linux/macOS 差异" (Windows vs Linux/macOS): a
 * module-level `buffer = Queue()` that the child puts into, and the parent's
 * `buffer.qsize()` afterwards.
 *
 * Python: under fork (Linux, macOS before 3.8) the child inherits the
 * parent's memory and file descriptors, so its `buffer` is the parent's queue
 * and the parent sees 1; under spawn (Windows, macOS now) the child imports
 * the main module again and makes a new `buffer`, so the parent sees 0.
 *
 * Node.js has no fork. Both start methods of this library are like spawn:
 * - 'thread': a worker thread, a new JavaScript realm in the same process;
 * - 'process': a new Node.js process (child_process).
 * Either way the child imports this module again, runs its top level again
 * and gets a `buffer` of its own: module-level variables are never shared,
 * and the parent's queue stays empty (0) on both.
 *
 * The way that works everywhere (Python included): pass the queue to the
 * child in `args`. The child then gets a handle to the same queue (it lives
 * in shared memory) and the parent sees 1.
 */
import { Queue, getContext, isMain } from 'multiprocessing-ts';

export const buffer = new Queue<number>(); // runs again in every child

export async function worker(): Promise<void> {
  await buffer.put(1); // the child's own `buffer`
}

export async function workerWith(q: Queue<number>): Promise<void> {
  await q.put(1); // the queue the parent passed
}

if (isMain()) {
  for (const method of ['thread', 'process'] as const) {
    const { Process } = getContext(method);
    const p = new Process({ target: worker });
    p.start();
    await p.join();
    console.log(`${method}: module-level buffer, buffer.qsize() = ${buffer.qsize()}`);
  }
  console.log('(0: the child imported this module again and put into a queue of its own, as under spawn)');

  for (const method of ['thread', 'process'] as const) {
    const { Process } = getContext(method);
    const p = new Process({ target: workerWith, args: [buffer] });
    p.start();
    await p.join();
    console.log(`${method}: buffer passed in args, buffer.qsize() = ${buffer.qsize()}`);
    await buffer.get();
  }
  console.log('(1: the child got a handle to the same queue)');
}
