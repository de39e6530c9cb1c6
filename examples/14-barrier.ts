/**
 * Seed 000, "Barrier": a barrier lets a set number of parties wait for each
 * other ("可以方便的指定数量到多少后同步"). The seed's use: a broadcast start,
 * where a group of workers waits until the main program has its resources
 * ready, then all of them start together.
 *
 * The barrier counts four workers plus the main program. Each worker gets
 * ready and waits; the main program prepares for a second and then waits
 * too; when the fifth party arrives, the barrier's action runs once (in the
 * last party to arrive) and every party goes on. `wait()` resolves to the
 * party's arrival index, 0 to parties-1.
 */
import { Barrier, Process, isMain } from 'multiprocessing-ts';
import { random, sleep } from './_lib/time.js';

const WORKERS = 4;

/** The barrier's action: an exported function, since any party may run it. */
export function go(): void {
  console.log(`--- all ${WORKERS + 1} parties arrived: go ---`);
}

export async function worker(barrier: Barrier, i: number): Promise<void> {
  await sleep(random() * 0.5); // getting ready takes a while
  console.log(`worker ${i} ready, waiting at the barrier (${barrier.nWaiting} already there)`);
  const index = await barrier.wait();
  console.log(`worker ${i} starts (arrival index ${index})`);
}

if (isMain()) {
  const barrier = new Barrier(WORKERS + 1, { action: go });
  const workers = Array.from({ length: WORKERS }, (_, i) => new Process({ target: worker, args: [barrier, i + 1] }));
  workers.forEach((p) => p.start());
  console.log('main: preparing the resources...');
  await sleep(1);
  console.log('main: resources ready, waiting at the barrier');
  await barrier.wait();
  for (const p of workers) await p.join();
  console.log(`main: all workers done (exit codes ${workers.map((p) => p.exitCode).join(', ')})`);
}
