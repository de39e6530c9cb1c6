/**
 * Seed 001, "线程池" (a thread pool): `ThreadPool(2)` runs `func` over
 * `range(10)` with `imap`, under a progress bar whose label shows the last
 * result (`pbar.desc = f'{result=}'`).
 *
 * `ThreadPool` is a `Pool` on the 'thread' start method: worker threads of
 * this process. (Python's ThreadPool is threads under the GIL; here each
 * worker thread runs JavaScript in parallel.) The function must still be an
 * exported top-level function.
 *
 * Python's `func` returns None for numbers that are not multiples of 3;
 * here `undefined`, which crosses back as `undefined`.
 *
 * The bar draws on an interactive terminal only; the example also prints the
 * results at the end so that piped output shows them.
 */
import { ProgressBar, ThreadPool, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';

export async function func(num: number): Promise<number | undefined> {
  await sleep(0.1);
  if (num % 3 === 0) return num * 10;
  return undefined;
}

if (isMain()) {
  const seen: (number | undefined)[] = [];
  {
    await using pool = new ThreadPool(2); // with ThreadPool(2) as pool:
    const results = pool.imap(func, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    using pbar = new ProgressBar({ total: 10, width: 100 }); // tqdm(results, total=10, ncols=100)
    for await (const result of results) {
      pbar.label = `result=${result}`; // pbar.desc = f'{result=}'
      pbar.update();
      seen.push(result);
    }
  } // the bar closes, then the pool is terminated (Python's `with`)
  console.log(`results: ${seen.map(String).join(', ')}`);
}
