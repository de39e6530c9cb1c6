/**
 * Seed 003, "进程池（Pool）": a pool of three workers and four calls. Three
 * start at once; the fourth waits for a free worker.
 */
import { Pool, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';

export async function fn(index: number): Promise<void> {
  console.log(`Start process: ${index}`);
  await sleep(3);
  console.log(`End process: ${index}`);
}

if (isMain()) {
  const pool = new Pool(3);
  for (let i = 0; i < 4; i++) pool.applyAsync(fn, [i]);
  console.log('Main process started');
  pool.close(); // no more work
  await pool.join(); // wait for the pool's workers to end
  console.log('Main process ended');
}
