/**
 * Seed 000 (and 002), "多进程共享内存": Value and Array are shared memory you lay out
 * yourself; "可以使用manager来管理共享内存，manager会自动创建一个进程来管理共享内存"
 * (a manager manages shared objects for you: it starts a server of its own). The seed's
 * pictures show Python's classic example, made here: a child changes a managed dict and
 * a managed list through their proxies, and the parent sees the changes.
 *
 * Every proxy call is a message to the manager's server, so it returns a Promise:
 * Python's `d[1] = '1'` is `await d.set(1, '1')`, `l.reverse()` is `await l.reverse()`.
 * The server is a worker of its own (`Manager({ context: 'process' })` for an OS process);
 * it ends with `shutdown()` (here: when `await using` leaves the block) or with this program.
 */
import { Manager, Process, isMain, type DictProxy, type ListProxy } from 'multiprocessing-ts';

export async function f(d: DictProxy<string | number, unknown>, l: ListProxy<number>): Promise<void> {
  await d.set(1, '1');
  await d.set('2', 2);
  await d.set(0.25, null);
  await l.reverse();
}

if (isMain()) {
  await using manager = await Manager();
  const d = await manager.dict<string | number, unknown>();
  const l = await manager.list(Array.from({ length: 10 }, (_, i) => i));
  const p = new Process({ target: f, args: [d, l] });
  p.start();
  await p.join();
  console.log(await d.copy()); // Python: {1: '1', '2': 2, 0.25: None}
  console.log(JSON.stringify(await l.copy())); // Python: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
}
