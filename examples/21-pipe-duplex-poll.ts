/**
 * Seed 001, Pipe's `duplex` and `poll()`, all in the main program.
 *
 * - `Pipe(true)` (the default) is two-way: both ends send and receive.
 *   `Pipe(false)` is one-way: the first end only receives, the second only
 *   sends (Python's conn1 ← conn2).
 * - `poll()` says whether `recv()` would return at once; with no argument
 *   it does not wait. `poll(ms)` waits up to `ms` milliseconds for something
 *   to arrive (Python: `poll(2)` waits 2 seconds).
 */
import { Pipe, isMain } from 'multiprocessing-ts';
import { ms } from './_lib/time.js';

if (isMain()) {
  const [conn1, conn2] = Pipe<string>(true); // two-way: both ends send and receive (the default)
  await conn1.send('A');
  console.log(await conn1.poll()); // false: nothing waits for conn1
  console.log(await conn2.poll()); // true: conn1 sent 'A', waiting for conn2
  // recv() first, then poll(2 s), which waits 2 seconds and finds nothing: 'A false'
  console.log(await conn2.recv(), await conn2.poll(ms(2)));
  conn1.close();
  conn2.close();
}
