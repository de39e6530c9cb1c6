/**
 * Seed 001, "imap 和 imap_unordered", the `imap` half: results come back in the
 * order of the input, each as soon as it and all before it are ready.
 * The tasks sleep 4, 3 and 2 seconds: result 0 is ready last, at about 4 s,
 * and 1 and 2 (ready since 3 s and 2 s) follow it at once.
 *
 * Unlike `map`/`mapAsync`, `imap` and `imapUnordered` read their input
 * lazily (no list of all items is made first) and hand results over one by
 * one, before all are done. Items go one per task by default (chunksize 1);
 * a larger chunksize cuts the overhead for many small items.
 *
 * Besides the seed's lines, each result shows when it arrived (seconds
 * since the loop began, at this run's time scale).
 */
import { Pool, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';

export async function func(msg: number): Promise<number> {
  console.log('msg: ', msg);
  await sleep(4 - msg);
  return msg;
}

if (isMain()) {
  const pool = new Pool(3);
  const t0 = performance.now();
  const results = pool.imap(func, [0, 1, 2]); // range(3)
  for await (const res of results) {
    console.log('res: ', res, `(after ${((performance.now() - t0) / 1000).toFixed(2)} s)`);
  }

  console.log('start');
  pool.close();
  await pool.join();

  console.log('done.');
}
