/**
 * Seed 003, "管道（Pipe）": a two-way pipe, one end for a `Producer`, the other
 * for a `Consumer` (both `Process` subclasses holding their end in a field).
 * The consumer speaks first; the producer answers.
 *
 * `Pipe()` is two-way by default; `Pipe(false)` gives a one-way pipe (the
 * first end receives, the second sends).
 */
import { Connection, Pipe, Process, isMain } from 'multiprocessing-ts';

export class Consumer extends Process {
  pipe: Connection<string>;

  constructor(pipe: Connection<string>) {
    super();
    this.pipe = pipe;
  }

  override async run(): Promise<void> {
    await this.pipe.send('Consumer Words');
    console.log(`Consumer Received: ${await this.pipe.recv()}`);
  }
}

export class Producer extends Process {
  pipe: Connection<string>;

  constructor(pipe: Connection<string>) {
    super();
    this.pipe = pipe;
  }

  override async run(): Promise<void> {
    console.log(`Producer Received: ${await this.pipe.recv()}`);
    await this.pipe.send('Producer Words');
  }
}

if (isMain()) {
  const pipe = Pipe<string>();
  const p = new Producer(pipe[0]);
  const c = new Consumer(pipe[1]);
  // [0] and [1] are the two ends; a two-way pipe needs one each. This works too:
  // const [conn1, conn2] = Pipe<string>();
  // const p = new Producer(conn1);
  // const c = new Consumer(conn2);
  p.daemon = c.daemon = true;
  p.start();
  c.start();
  await p.join();
  await c.join();
  console.log('Main Process Ended');
}
