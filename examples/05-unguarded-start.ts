/**
 * Seed 004, "创建实例" (creating a process), first snippet: starting a
 * process at the top level of the module, outside `if __name__ == '__main__'`.
 * The seed notes it breaks on Windows ("recursive"): under `spawn` the child
 * imports the main module again, which runs the top level again, which
 * starts a child again...
 *
 * Node.js has no fork: every child (worker thread or OS process) imports
 * this file again, like Python's spawn on Windows. So the top level below
 * also runs in the child: it prints `main process start` a second time, and
 * its `p.start()` fails there with an error that says to guard the code with
 * `isMain()` (instead of starting children without end). The child exits
 * with code 1; the main program goes on.
 *
 * Always put the code that starts processes under `if (isMain())`.
 */
import { Process, isMain } from 'multiprocessing-ts';

console.log(`main process start (isMain() = ${isMain()})`);

export function run(): void {}

const p = new Process({ target: run }); // recursive: runs again in the child
p.start();

if (isMain()) {
  // The seed has `pass` here; we wait for the child to show how it ended.
  await p.join();
  console.log(`child ${p.name} exited with code ${p.exitCode}`);
}
