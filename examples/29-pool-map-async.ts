/**
 * Seed 001, "pool.map_async": the pool splits `range(5)` among two workers
 * by itself. `mapAsync` returns an `AsyncResult` at once (`start` is printed
 * before any work is done); `close()` + `join()` wait for the work.
 *
 * The default chunksize is Python's: 5 items over 2 workers x 4, rounded
 * up, is 1 item per task.
 */
import { Pool, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';

export async function func(msg: number): Promise<void> {
  console.log('msg:', msg);
  await sleep(2);
  console.log('end');
}

if (isMain()) {
  const pool = new Pool(2);
  pool.mapAsync(func, [0, 1, 2, 3, 4]); // range(5)

  console.log('start');
  pool.close();
  await pool.join();
  console.log('done.');
}
