/**
 * Seed 004 ("JoinableQueue"; seed 000 describes the same flow in pictures):
 * two producers each make a `Product`, put it on a `JoinableQueue` and then
 * `join()` the queue, which waits until every item put has been marked done
 * with `taskDone()`. A hundred consumers each take one item. The consumers
 * are daemonic: only two of them ever get a product; the others wait in
 * `get()` and end with the main program ("必要，否则部分消费者进程并不退出":
 * needed, or those consumers would never exit).
 *
 * `Product` instances cross between workers as `Product`s (with their
 * methods, here `toString`) because the class is registered with
 * `registerClass` in this module, which every worker imports. Python pickles
 * the class by name the same way. An unregistered class would arrive as a
 * plain object (printed `[object Object]`).
 *
 * (`EXAMPLES_MAX_CHILDREN` lowers the hundred for fast runs: see
 * _lib/count.ts.)
 */
import { JoinableQueue, Process, isMain, registerClass } from 'multiprocessing-ts';
import { randint, sleep } from './_lib/time.js';
import { getpid } from './_lib/ids.js';
import { howMany } from './_lib/count.js';

export class Product {
  // Own fields (not #private ones): they are what travels.
  private readonly _name: string;
  private readonly _volume: number;

  constructor(name: string, volume: number) {
    this._name = name;
    this._volume = volume;
  }

  toString(): string {
    return `Name:${this._name}\tVolume:${this._volume}`;
  }
}
registerClass(Product);

export async function consume(q: JoinableQueue<Product>): Promise<void> {
  console.log(`consumer ${getpid()} started...`);
  const prod = await q.get();
  await sleep(randint(1, 5));
  console.log(`${getpid()} consumes ${prod}`);
  q.taskDone(); // signal that the item is processed
}

export async function produce(q: JoinableQueue<Product>): Promise<void> {
  console.log(`producer ${getpid()} started...`);
  const prod = new Product(`${getpid()}_pro`, randint(10, 100));
  await sleep(randint(1, 5));
  await q.put(prod);
  console.log(`${getpid()} produces ${prod}`);
  await q.join();
}

if (isMain()) {
  const q = new JoinableQueue<Product>();
  const producers: Process[] = [];
  const consumers: Process[] = [];
  for (let i = 0; i < 2; i++) producers.push(new Process({ target: produce, args: [q] }));
  for (let i = 0; i < howMany(100); i++) {
    const c = new Process({ target: consume, args: [q] });
    c.daemon = true; // needed: most consumers never get a product
    consumers.push(c);
  }
  for (const c of consumers) c.start();
  for (const p of producers) p.start();
  for (const p of producers) await p.join();
  console.log('main');
}
