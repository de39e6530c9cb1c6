/**
 * Seed 003, "进程互斥锁" (a mutual-exclusion lock between processes): five
 * children with 10 to 14 rounds print under one shared `Lock`, so no two
 * prints overlap.
 *
 * The Lock lives in shared memory; passing it to a child (in `args` or, as
 * here, a field of a `Process` subclass) gives the child a handle to the same
 * lock. `await lock.acquire()` waits without blocking the thread's event
 * loop; `acquireSync()` would block like Python's.
 */
import { Lock, Process, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';
import { getpid } from './_lib/ids.js';

export class MyProcess extends Process {
  loop: number;
  lock: Lock;

  constructor(loop: number, lock: Lock) {
    super();
    this.loop = loop;
    this.lock = lock;
  }

  override async run(): Promise<void> {
    for (let count = 0; count < this.loop; count++) {
      await sleep(0.1);
      await this.lock.acquire();
      console.log(`Pid: ${getpid()} LoopCount: ${count}`);
      this.lock.release();
    }
  }
}

if (isMain()) {
  const lock = new Lock();
  for (let i = 10; i < 15; i++) {
    const p = new MyProcess(i, lock);
    p.start();
  }
}
