/**
 * Seed 001, "pool.apply_async": five calls handed to a pool of two workers
 * by hand, one `applyAsync` each. The pool keeps two running at a time and
 * gives a worker the next call when it finishes one.
 *
 * Call `close()` before `join()` (Python's rule, and ours: `join()` before
 * `close()` throws). After `close()` the pool takes no new work; `join()`
 * waits until the workers have finished everything and exited.
 */
import { Pool, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';

export async function func(msg: string): Promise<void> {
  console.log('msg:', msg);
  await sleep(1);
  console.log('end');
}

if (isMain()) {
  const pool = new Pool({ processes: 2 });
  for (let i = 0; i < 5; i++) {
    const msg = `hello ${i}`;
    pool.applyAsync(func, [msg]); // the pool keeps 2 running; a free worker takes the next
  }
  console.log('start');
  pool.close();
  await pool.join(); // close() first, or join() throws
  console.log('done.');
}
