/**
 * README's "A short tour", as a program (npm run examples checks that it still runs and prints
 * what README says): a Process feeding a Queue and a shared Value, a Pool task that sees its
 * timeout, and a manager's dict.
 */
import { Process, Pool, Queue, Value, Manager, isMain, currentTask } from 'multiprocessing-ts';
export async function producer(q: Queue<number | null>, total: Value<'i'>): Promise<void> {
  for (let i = 0; i < 3; i++) await q.put(i);
  await total.getLock().with(() => { total.value += 3; }); // Python's  with total.get_lock():
  await q.put(null);                                        // a sentinel, as in Python
}
export function slow(n: number): number {         // spins until its caller gives up: a task sees that
  while (!currentTask().aborted);
  return n;
}

if (isMain()) {
  const q = new Queue<number | null>(), total = new Value('i', 0);
  const p = new Process({ target: producer, args: [q, total] }); p.start(); // getContext('process').Process: OS processes
  for await (const x of q) console.log(x);                  // 0 1 2 (ends at the sentinel)
  await p.join(1000);                                       // milliseconds, like every timeout here
  await using pool = new Pool(2);
  await pool.apply(slow, [1], { timeout: 100 }).catch((e) => console.log(e.name)); // TimeoutError
  await using m = await Manager();
  const d = await m.dict<string, number>({ total: total.value }); // a dict in the manager's server
  console.log(await d.get('total'));                        // 3
}
