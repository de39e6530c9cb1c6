/**
 * Seed 003, "守护进程" (daemonic processes): the same `MyProcess` as
 * example 03, but the main program waits at most one second for each child
 * with `join(timeout)` before it prints `end` and exits.
 *
 * - A daemonic child is ended when its parent ends.
 * - `join(ms)` waits at most `ms` milliseconds (Python: seconds) and resolves
 *   either way; look at `exitCode` (or `isAlive()`) to know which.
 *
 * The story (1 s per round): after the three joins (about 3 s) the children
 * with 2 and 3 rounds have finished; the one with 4 rounds is still running
 * and is ended with the main program before its last round.
 */
import { Process, isMain } from 'multiprocessing-ts';
import { ms, sleep } from './_lib/time.js';
import { getpid } from './_lib/ids.js';

export class MyProcess extends Process {
  loop: number;

  constructor(loop: number) {
    super();
    this.loop = loop;
  }

  override async run(): Promise<void> {
    for (let count = 0; count < this.loop; count++) {
      await sleep(1);
      console.log(`Pid: ${getpid()} LoopCount: ${count}`);
    }
  }
}

if (isMain()) {
  const processes: MyProcess[] = [];
  for (let i = 2; i < 5; i++) {
    const p = new MyProcess(i);
    processes.push(p);
    p.daemon = true;
    p.start();
  }
  for (const p of processes) await p.join(ms(1));
  // Not in the seed: which children were still running when the waiting ended.
  console.log(`still running: ${processes.filter((p) => p.isAlive()).map((p) => `${p.name} (${p.loop} rounds)`).join(', ') || 'none'}`);
  console.log('end');
}
