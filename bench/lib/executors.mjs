// Everything that runs `call(fnName, arg) -> Promise<result>` on two workers:
// the no-library baselines and the peer pools (piscina, tinypool, workerpool).
// Each executor: `await start()`, `call(name, arg)`, `await destroy()`.
import { Worker } from 'node:worker_threads';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TASK_INDEX } from '../fixtures/tasks.mjs';
import { onceMessage, withTimeout } from './util.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const WORKERS = {
  namedTasks: here('../workers/named-tasks.mjs'),
  workerpool: here('../workers/workerpool-worker.mjs'),
  baselineThread: here('../workers/baseline-thread.mjs'),
  baselineChild: here('../workers/baseline-child.mjs'),
};

const N_WORKERS = 2;

/** FIFO of pending resolvers with an O(1) shift. */
class Fifo {
  items = [];
  head = 0;
  push(x) {
    this.items.push(x);
  }
  shift() {
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return x;
  }
  drain() {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return rest;
  }
}

/**
 * The no-library baseline: two plain workers fed round-robin, `[fnIndex, arg]` in,
 * result out. Each worker answers in order, so a per-worker FIFO of resolvers is all
 * the bookkeeping needed.
 */
class PlainPair {
  constructor(transport) {
    this.transport = transport; // 'thread' | 'process'
    this.members = [];
    this.pending = [];
    this.next = 0;
    this.closing = false;
  }

  async start() {
    for (let i = 0; i < N_WORKERS; i++) {
      const m =
        this.transport === 'thread'
          ? new Worker(WORKERS.baselineThread)
          : fork(WORKERS.baselineChild, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const q = new Fifo();
      this.members.push(m);
      this.pending.push(q);
      await withTimeout(onceMessage(m, (x) => x === 'ready'), 30_000, `baseline ${this.transport} start`);
      m.on('message', (r) => q.shift()[0](r));
      const fail = (why) => {
        if (this.closing) return;
        const err = new Error(`baseline ${this.transport} worker ${i}: ${why}`);
        for (const [, rej] of q.drain()) rej(err);
      };
      m.on('error', (e) => fail(e.message));
      m.on('exit', (code) => fail(`exited with code ${code}`));
    }
  }

  call(name, arg) {
    const i = this.next;
    this.next = (i + 1) % N_WORKERS;
    const m = this.members[i];
    const q = this.pending[i];
    return new Promise((res, rej) => {
      q.push([res, rej]);
      if (this.transport === 'thread') m.postMessage([TASK_INDEX[name], arg]);
      else m.send([TASK_INDEX[name], arg]);
    });
  }

  async destroy() {
    this.closing = true;
    await Promise.all(
      this.members.map(async (m) => {
        if (this.transport === 'thread') return m.terminate();
        if (m.exitCode !== null || m.signalCode !== null) return;
        const gone = new Promise((r) => m.once('exit', r));
        m.disconnect(); // the child has nothing left to keep it alive and exits
        const t = setTimeout(() => m.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(t);
      }),
    );
    this.members = [];
  }
}

class PiscinaExec {
  async start() {
    const { Piscina } = await import('piscina');
    this.pool = new Piscina({
      filename: WORKERS.namedTasks,
      // piscina require()s its worker file before trying import(). Node 20.19+ can require an
      // ES module, and doing so in a piscina worker once aborted the whole bench process
      // (2026-11-24: "v8::Module::IsGraphAsync must be used on an instantiated module", in the
      // pool-ready rows). Without it piscina imports the file, as it did on older Node 20.
      execArgv: [...process.execArgv, '--no-experimental-require-module'],
      minThreads: N_WORKERS,
      maxThreads: N_WORKERS,
      idleTimeout: 60_000,
    });
  }
  call(name, arg) {
    return this.pool.run(arg, { name });
  }
  async destroy() {
    await this.pool?.destroy();
  }
}

class TinypoolExec {
  constructor(runtime) {
    this.runtime = runtime; // 'worker_threads' | 'child_process'
  }
  async start() {
    const { Tinypool } = await import('tinypool');
    this.pool = new Tinypool({
      filename: WORKERS.namedTasks,
      runtime: this.runtime,
      minThreads: N_WORKERS,
      maxThreads: N_WORKERS,
      idleTimeout: 60_000,
    });
  }
  call(name, arg) {
    return this.pool.run(arg, { name });
  }
  async destroy() {
    await this.pool?.destroy();
  }
}

class WorkerpoolExec {
  constructor(workerType) {
    this.workerType = workerType; // 'thread' | 'process'
  }
  async start() {
    const { default: workerpool } = await import('workerpool');
    this.pool = workerpool.pool(WORKERS.workerpool, {
      workerType: this.workerType,
      minWorkers: N_WORKERS,
      maxWorkers: N_WORKERS,
    });
  }
  call(name, arg) {
    return this.pool.exec(name, [arg]);
  }
  async destroy() {
    await this.pool?.terminate();
  }
}

/**
 * The rows that run on an executor. `kind`: baseline | peer. `transport`: thread | process.
 * `perItemMap`: also measured one task per item in "map of small items" (as BENCH.md's
 * anchors: piscina only, the others are hand-chunked).
 */
export const EXECUTORS = [
  { row: 'baseline: 2 plain worker_threads', kind: 'baseline', transport: 'thread', make: () => new PlainPair('thread') },
  { row: 'baseline: 2 plain forked processes', kind: 'baseline', transport: 'process', make: () => new PlainPair('process') },
  { row: 'piscina', kind: 'peer', transport: 'thread', make: () => new PiscinaExec(), perItemMap: true },
  { row: 'tinypool (threads)', kind: 'peer', transport: 'thread', make: () => new TinypoolExec('worker_threads') },
  { row: 'tinypool (child_process)', kind: 'peer', transport: 'process', make: () => new TinypoolExec('child_process') },
  { row: 'workerpool (thread)', kind: 'peer', transport: 'thread', make: () => new WorkerpoolExec('thread') },
  { row: 'workerpool (process)', kind: 'peer', transport: 'process', make: () => new WorkerpoolExec('process') },
];
