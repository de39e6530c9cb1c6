/**
 * Seed 001, "Queue": a producer puts 0..9 and then `None` (here `null`), a
 * consumer prints items until it gets the `null` sentinel.
 *
 * - `await q.put(x)` waits while the queue is full; `putNowait(x)` throws
 *   `Full` instead (Python's `put_nowait`).
 * - `await q.get()` waits while the queue is empty; `getNowait()` throws
 *   `Empty` instead.
 * Items from one producer arrive in the order they were put.
 */
import { Process, Queue, isMain } from 'multiprocessing-ts';

/** producer function */
export async function producer(queue: Queue<number | null>): Promise<void> {
  for (let i = 0; i < 10; i++) await queue.put(i);
  await queue.put(null);
}

/** consumer function */
export async function consumer(queue: Queue<number | null>): Promise<void> {
  for (;;) {
    const item = await queue.get();
    if (item === null) break;
    console.log(item);
  }
}

if (isMain()) {
  const queue = new Queue<number | null>();
  const p1 = new Process({ target: producer, args: [queue] });
  const p2 = new Process({ target: consumer, args: [queue] });
  p1.start();
  p2.start();
  await p1.join();
  await p2.join();
}
