/**
 * Seed 003, "通过继承创建多进程" (a process by subclassing): `MyProcess`
 * overrides `run()`; three daemonic children with 2, 3 and 4 rounds.
 *
 * As in Python, the main program does not wait for daemonic children: it ends
 * right after starting them, and they end with it, so they print nothing (or
 * next to nothing). Example 04 adds `join(timeout)` to let them run a while.
 *
 * A subclass must be exported (the child imports this file to find it). In
 * the child, `run()` is called on a copy of the object: its own fields
 * (`loop` here) travel by structured clone; the constructor is not run again.
 */
import { Process, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';
import { getpid } from './_lib/ids.js';

export class MyProcess extends Process {
  loop: number;

  constructor(loop: number) {
    super();
    this.loop = loop;
  }

  // Python calls run() in the child; so does start() here.
  override async run(): Promise<void> {
    for (let count = 0; count < this.loop; count++) {
      await sleep(1);
      console.log(`Pid: ${getpid()} LoopCount: ${count}`);
    }
  }
}

if (isMain()) {
  for (let i = 2; i < 5; i++) {
    const p = new MyProcess(i);
    p.daemon = true;
    p.start();
  }
  // Not in the seed (which prints nothing at all): say what happens.
  console.log('main ends without joining; its daemonic children end with it');
}
