/**
 * Seed 004: a connection pool of five, shared by twenty workers through a
 * `Semaphore(5)`: at most five workers hold a connection at any time; the
 * others wait in `acquire()` until one is given back.
 *
 * (`EXAMPLES_MAX_CHILDREN` lowers the twenty for fast runs: see _lib/count.ts.)
 */
import { Process, Semaphore, currentProcess, isMain } from 'multiprocessing-ts';
import { randint, sleep } from './_lib/time.js';
import { howMany } from './_lib/count.js';

export async function getConnections(s: Semaphore): Promise<void> {
  await s.acquire();
  try {
    console.log(`${currentProcess().name} acquire a connection`);
    await sleep(randint(1, 2));
    console.log(`${currentProcess().name} finishes its job and return the connection`);
  } finally {
    s.release();
  }
}

if (isMain()) {
  const connections = new Semaphore(5);
  const workers: Process[] = [];
  for (let i = 0; i < howMany(20); i++) {
    workers.push(new Process({ target: getConnections, args: [connections], name: `worker:${i + 1}` }));
  }
  for (const p of workers) p.start();
  for (const p of workers) await p.join();
  console.log('all workers exit');
}
