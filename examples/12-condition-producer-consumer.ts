/**
 * Seed 000 (and its copy 002): producers and consumers around a counter in a
 * shared `Value`, with two condition variables, "not full" and "not empty",
 * written as `Process` subclasses. Two producers and three consumers run as
 * daemons; the main program lets them work for 20 seconds and exits.
 *
 * A fix to the seed. There, `not_full` and `not_empty` are two Conditions
 * with two different locks: a producer changes the counter holding
 * not_full's lock and then takes not_empty's lock inside it; a consumer does
 * the opposite (not_empty's, then not_full's inside). That is
 *  - a deadlock waiting to happen: lock order A then B in one process, B then
 *    A in another; each can hold one and wait for the other forever;
 *  - a data race: producers change `counter` under one lock and consumers
 *    under the other, so a producer and a consumer can both be inside their
 *    "critical" sections at once. `counter.value += 1` is a read and a write
 *    (each locked on its own by the Value's lock, not together), so one
 *    update can overwrite the other and the count drifts away from the
 *    truth (and the "full"/"empty" checks read a count the other side is
 *    changing at that moment).
 * The sound form: ONE lock, shared by both conditions (`new Condition(lock)`
 * twice). The counter is read and changed only while holding it, so no
 * update is lost and every check sees a count nobody is changing; and there
 * is only one lock to take, so there is no order to get wrong. Each
 * side still waits on, and wakes, its own condition.
 *
 * Every line below is printed while holding the lock, so the printed buffer
 * sizes form one consistent history: each "produced" is one more than the
 * line before, each "consumed" one less, never below 0 or above MAXSIZE.
 */
import { Condition, Lock, Process, Value, isMain } from 'multiprocessing-ts';
import { random, sleep } from './_lib/time.js';

const MAXSIZE = 10;

export class Producer extends Process {
  notFull: Condition;
  notEmpty: Condition;
  counter: Value<'i'>;
  sleep: number;

  constructor(notFull: Condition, notEmpty: Condition, counter: Value<'i'>, sleepSeconds = 1.0) {
    super();
    this.notFull = notFull;
    this.notEmpty = notEmpty;
    this.counter = counter;
    this.sleep = sleepSeconds;
  }

  override async run(): Promise<void> {
    for (;;) {
      // 1) wait on not_full: produce only while the buffer is not full
      await this.notFull.with(async () => {
        while (this.counter.value >= MAXSIZE) {
          console.log(`${this.name}: buffer full (${this.counter.value}), waiting`);
          await this.notFull.wait();
        }
        // 2) produce one
        this.counter.value += 1;
        console.log(`${this.name}: produced → buffer size = ${this.counter.value}`);
        // 3) wake the consumers waiting on not_empty. Same lock, already held:
        //    no second `with` (the seed's nested `with self.not_empty:`).
        this.notEmpty.notifyAll();
      });
      // the time it takes to produce
      await sleep(this.sleep * random());
    }
  }
}

export class Consumer extends Process {
  notFull: Condition;
  notEmpty: Condition;
  counter: Value<'i'>;
  sleep: number;

  constructor(notFull: Condition, notEmpty: Condition, counter: Value<'i'>, sleepSeconds = 1.5) {
    super();
    this.notFull = notFull;
    this.notEmpty = notEmpty;
    this.counter = counter;
    this.sleep = sleepSeconds;
  }

  override async run(): Promise<void> {
    for (;;) {
      // 1) wait on not_empty: consume only while the buffer is not empty
      await this.notEmpty.with(async () => {
        while (this.counter.value <= 0) {
          console.log(`${this.name}: buffer empty, waiting`);
          await this.notEmpty.wait();
        }
        // 2) consume one
        this.counter.value -= 1;
        console.log(`${this.name}: consumed ← buffer size = ${this.counter.value}`);
        // 3) wake the producers waiting on not_full
        this.notFull.notifyAll();
      });
      // the time it takes to consume
      await sleep(this.sleep * random());
    }
  }
}

if (isMain()) {
  const lock = new Lock(); // the one lock both conditions use
  const notFull = new Condition(lock);
  const notEmpty = new Condition(lock);
  const counter = new Value('i', 0);

  // two producers
  const producers = Array.from({ length: 2 }, () => new Producer(notFull, notEmpty, counter, 1.0));
  for (const p of producers) {
    p.daemon = true;
    p.start();
  }
  // three consumers
  const consumers = Array.from({ length: 3 }, () => new Consumer(notFull, notEmpty, counter, 1.5));
  for (const c of consumers) {
    c.daemon = true;
    c.start();
  }
  // let them run for 20 seconds; the main program then exits and its daemonic children with it
  try {
    await sleep(20);
  } finally {
    console.log('Main process exiting; all daemon workers will be terminated.');
  }
}
