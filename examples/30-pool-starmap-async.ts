/**
 * Seed 001, "pool.starmap_async": like `mapAsync`, for functions of several
 * arguments: each item is a tuple of arguments (`f(...item)`).
 */
import { Pool, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';

export async function func(msg1: number, msg2: number): Promise<void> {
  console.log('msg1:', msg1, 'msg2:', msg2);
  await sleep(2);
  console.log('end');
}

if (isMain()) {
  const pool = new Pool(2);
  const msgs: [number, number][] = [
    [1, 1],
    [2, 2],
  ];
  pool.starmapAsync(func, msgs);

  console.log('start');
  pool.close();
  await pool.join();
  console.log('done.');
}
