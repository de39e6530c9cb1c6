/**
 * Seed 003, "基本使用" (basic use): ten children, started and never joined.
 *
 * Python joins non-daemonic children when the main program ends; so does
 * this library: a running non-daemonic child keeps its parent alive, so every
 * child prints its line even though the main program never calls `join()`.
 */
import { Process, isMain } from 'multiprocessing-ts';

export function processTask(index: number): void {
  console.log(`Process: ${index}`);
}

if (isMain()) {
  for (let i = 0; i < 10; i++) {
    const p = new Process({ target: processTask, args: [i] });
    p.start();
  }
}
