/**
 * Seed 003, "信号量" (semaphores): a producer and a consumer around a
 * `Queue`, with two semaphores counting the free places (`empty`, 2) and
 * the filled ones (`full`, 0), and a `Lock` around each step.
 *
 * The producer takes a free place (`empty.acquire()`), puts an item and
 * gives a filled place (`full.release()`); the consumer does the opposite.
 * So the producer is never more than two items ahead of the consumer.
 *
 * Change from the seed: there both loops are `while True` and the main
 * program's `join()` never returns, so `Main Process end` is never printed.
 * Here each side handles ROUNDS items and ends, so the joins return.
 */
import { Lock, Process, Queue, Semaphore, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';

const ROUNDS = 10;

export class Consumer extends Process {
  buffer: Queue<number>;
  empty: Semaphore;
  full: Semaphore;
  lock: Lock;

  constructor(buffer: Queue<number>, empty: Semaphore, full: Semaphore, lock: Lock) {
    super();
    this.buffer = buffer;
    this.empty = empty;
    this.full = full;
    this.lock = lock;
  }

  override async run(): Promise<void> {
    for (let i = 0; i < ROUNDS; i++) {
      await this.full.acquire(); // take a filled place
      await this.lock.acquire();
      await this.buffer.get(); // take the 1 out
      console.log('Consumer pop an element');
      await sleep(1);
      this.lock.release();
      this.empty.release(); // give a free place back
    }
  }
}

export class Producer extends Process {
  buffer: Queue<number>;
  empty: Semaphore;
  full: Semaphore;
  lock: Lock;

  constructor(buffer: Queue<number>, empty: Semaphore, full: Semaphore, lock: Lock) {
    super();
    this.buffer = buffer;
    this.empty = empty;
    this.full = full;
    this.lock = lock;
  }

  override async run(): Promise<void> {
    for (let i = 0; i < ROUNDS; i++) {
      await this.empty.acquire(); // take a free place
      await this.lock.acquire();
      await this.buffer.put(1); // put a 1 in
      console.log('Producer append an element');
      await sleep(1);
      this.lock.release();
      this.full.release(); // one more filled place
    }
  }
}

if (isMain()) {
  const buffer = new Queue<number>(10);
  const empty = new Semaphore(2); // two free places
  const full = new Semaphore(0); // nothing filled yet: the consumer waits
  const lock = new Lock();

  const p = new Producer(buffer, empty, full, lock);
  const c = new Consumer(buffer, empty, full, lock);
  p.daemon = c.daemon = true;
  c.start();
  p.start();
  await p.join();
  await c.join();
  console.log('Main Process end');
  // qsize(), empty() and full() are exact here (Python: may be wrong on some platforms).
  console.log(`items left in the queue: ${buffer.qsize()}`);
}
