/**
 * Seed 004, "队列" (queues): two producers make a car each; then a hundred
 * buyers start, and the main program puts one `None` (here `null`) per buyer
 * as the end signal. Two buyers get a car; the other 98 get a `null` and
 * end.
 *
 * (`EXAMPLES_MAX_CHILDREN` lowers the hundred for fast runs: see _lib/count.ts.)
 *
 * The main program prints `main` and does not join the buyers; non-daemonic
 * children keep it alive until they end (Python joins them at exit).
 */
import { Process, Queue, isMain } from 'multiprocessing-ts';
import { random, sleep } from './_lib/time.js';
import { getpid } from './_lib/ids.js';
import { howMany } from './_lib/count.js';

export async function produce(q: Queue<string | null>): Promise<void> {
  await sleep(random());
  await q.put(`car_by_${getpid()}`);
  console.log(`${getpid()} produces a car...`);
}

export async function buy(q: Queue<string | null>): Promise<void> {
  const car = await q.get();
  if (car === null) {
    console.log(`no car. ${getpid()} ends.`);
    return;
  }
  await sleep(random());
  console.log(`${getpid()} buy the car ${car}`);
}

if (isMain()) {
  const q = new Queue<string | null>();
  const producers: Process[] = [];
  const consumers: Process[] = [];
  for (let i = 0; i < 2; i++) producers.push(new Process({ target: produce, args: [q] }));
  for (let i = 0; i < howMany(100); i++) consumers.push(new Process({ target: buy, args: [q] }));
  for (const p of producers) p.start();
  for (const p of producers) await p.join();
  for (const c of consumers) c.start();
  for (let i = 0; i < consumers.length; i++) await q.put(null); // the end signal, one for each buyer
  console.log('main');
}
