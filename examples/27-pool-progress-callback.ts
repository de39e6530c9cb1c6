/**
 * Seed 000 (and 002), "添加一个进程返回后的callback" (a callback when a task
 * returns): a progress bar, moved by each task's `callback`.
 *
 * Python uses tqdm; here `ProgressBar` (built in) plays its part:
 * `tqdm(total=10)` + `set_description("Sleep")` is
 * `new ProgressBar({ total: 10, label: 'Sleep' })`, and `pbar.update()` is
 * `bar.update()`. Callbacks run in the main program as results arrive.
 *
 * The bar draws only on an interactive terminal (on stderr); piped or in CI
 * it draws nothing and still counts, so the example prints the count at the
 * end.
 *
 * The seed makes the bar at the top level of its module. Here it is made
 * under `isMain()`: every worker imports this module too, and has no use for
 * a bar.
 */
import { AsyncResult, Pool, ProgressBar, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';
import { getpid } from './_lib/ids.js';

export async function work(n: number): Promise<number> {
  console.log(`${getpid()} run`);
  await sleep(1);
  return n ** 2;
}

if (isMain()) {
  const pbar = new ProgressBar({ total: 10 }); // ten tasks in all
  pbar.label = 'Sleep'; // pbar.set_description("Sleep")
  const update = (): void => pbar.update(); // the callback that moves the bar

  const p = new Pool(3); // at most 3 at once
  const resL: AsyncResult<number>[] = [];
  for (let i = 0; i < 10; i++) {
    // hand the task over; `update` runs when it has returned
    const res = p.applyAsync(work, [i], { callback: update });
    resL.push(res);
  }
  p.close(); // no more tasks
  await p.join(); // wait for every task
  pbar.close();

  for (const res of resL) console.log(await res.get()); // each task's return value
  console.log(`(the bar counted ${pbar.count} of ${pbar.total})`);
}
