/**
 * Seed 000 (and 002), "进程池 pool / example": ten `applyAsync` calls on a
 * default pool, keeping each `AsyncResult`, then `close()`, `join()`, and the
 * results read with `get()`.
 *
 * `new Pool()` starts one worker per CPU (`cpuCount()`), like Python's
 * `Pool()` (the seed's comment "at most 3 at once" belongs to `Pool(3)`).
 */
import { AsyncResult, Pool, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';
import { getpid } from './_lib/ids.js';

export async function work(n: number): Promise<number> {
  console.log(`${getpid()} run`);
  await sleep(1);
  return n ** 2;
}

if (isMain()) {
  const p = new Pool(); // one worker per CPU
  const resL: AsyncResult<number>[] = []; // the pending results

  for (let i = 0; i < 10; i++) {
    const res = p.applyAsync(work, [i]);
    resL.push(res);
  }

  p.close(); // no more tasks
  await p.join(); // wait for every task

  for (const res of resL) console.log(await res.get()); // each task's return value
}
