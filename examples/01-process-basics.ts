/**
 * Seed 001, "Process": two children started, then joined one after the other.
 *
 *   Python                                   here
 *   mp.Process(target=func, args=(1,))       new Process({ target: func, args: [1] })
 *   p.start() / p.join()                     p.start() / await p.join()
 *   if __name__ == '__main__':               if (isMain())
 *
 * A target must be a top-level exported function: the child imports this file
 * to find it (that is also why the main program sits under `isMain()`).
 */
import { Process, isMain } from 'multiprocessing-ts';

export function func(id: number): void {
  console.log(`id ${id}\n`);
}

async function runProcess(): Promise<void> {
  // This is the main process.
  const processes = [new Process({ target: func, args: [1] }), new Process({ target: func, args: [2] })];
  processes.forEach((p) => p.start()); // two children started
  console.log('start');
  for (const p of processes) await p.join(); // wait for each to end, in turn
  console.log('end');
}

if (isMain()) {
  await runProcess();
}
