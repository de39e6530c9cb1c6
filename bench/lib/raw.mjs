// Raw Node primitives: start-up of a plain Worker / fork, round trips and queue
// throughput. Each function returns its samples in the unit of its metric.
import { Worker, MessageChannel } from 'node:worker_threads';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hr, onceMessage, withTimeout } from './util.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const W = {
  startupThread: here('../workers/startup-thread.mjs'),
  startupChild: here('../workers/startup-child.mjs'),
  echoThread: here('../workers/echo-thread.mjs'),
  echoChild: here('../workers/echo-child.mjs'),
  atomics: here('../workers/atomics-pingpong.mjs'),
  pmQueue: here('../workers/pm-queue.mjs'),
  ring: here('../workers/sab-ring.mjs'),
};

const ms = (a, b) => Number(b - a) / 1e6;

/** One start of a plain Worker or fork: { first, exit } in ms from construction. */
function startOnce(kind) {
  return new Promise((resolve, reject) => {
    let first;
    const t0 = hr();
    const c =
      kind === 'thread'
        ? new Worker(W.startupThread)
        : fork(W.startupChild, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.once('message', (m) => {
      first = ms(t0, BigInt(m));
    });
    c.once('error', reject);
    c.once('exit', (code) => {
      const exit = ms(t0, hr());
      if (code !== 0 || first === undefined) reject(new Error(`start-up child exited with ${code}`));
      else resolve({ first, exit });
    });
  });
}

/** `n` sequential starts; returns { first: [...ms], exit: [...ms] }. */
export async function startup(kind, n) {
  const first = [];
  const exit = [];
  for (let i = 0; i < n; i++) {
    const s = await withTimeout(startOnce(kind), 30_000, `${kind} start-up`);
    first.push(s.first);
    exit.push(s.exit);
  }
  return { first, exit };
}

/** Ping-pong `warm + n` messages over an emitter with a send function; µs per trip of the last n. */
function pingPong(emitter, send, warm, n) {
  return new Promise((resolve, reject) => {
    let i = 0;
    let t0;
    const onMsg = () => {
      i++;
      if (i === warm) t0 = hr();
      if (i === warm + n) {
        emitter.off('message', onMsg);
        resolve(Number(hr() - t0) / 1e3 / n);
        return;
      }
      send(i);
    };
    emitter.on('message', onMsg);
    emitter.once('error', reject);
    if (warm === 0) t0 = hr();
    send(0);
  });
}

/** Round trip main <-> worker through postMessage. */
export async function rtPostMessage(warm, n, reps) {
  const w = new Worker(W.echoThread);
  try {
    const samples = [];
    await pingPong(w, (x) => w.postMessage(x), 0, warm); // start-up + warm-up
    for (let r = 0; r < reps; r++) samples.push(await pingPong(w, (x) => w.postMessage(x), warm, n));
    return samples;
  } finally {
    await w.terminate();
  }
}

/** Round trip parent <-> forked child through process.send, with the given serialization. */
export async function rtProcessSend(serialization, warm, n, reps) {
  const c = fork(W.echoChild, [], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await withTimeout(onceMessage(c, (m) => m === 'ready'), 30_000, 'echo child start');
    const samples = [];
    await pingPong(c, (x) => c.send(x), 0, warm);
    for (let r = 0; r < reps; r++) samples.push(await pingPong(c, (x) => c.send(x), warm, n));
    return samples;
  } finally {
    const gone = new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)));
    if (c.connected) c.disconnect();
    await gone;
  }
}

/** Round trip between two worker threads through Atomics.wait / notify. */
export async function rtAtomics(warm, n, reps) {
  const sab = new SharedArrayBuffer(4);
  const ping = new Worker(W.atomics, { workerData: { sab, role: 'ping' } });
  const pong = new Worker(W.atomics, { workerData: { sab, role: 'pong' } });
  try {
    await Promise.all([onceMessage(ping, (m) => m === 'ready'), onceMessage(pong, (m) => m === 'ready')]);
    const once = async (w, m) => {
      const done = onceMessage(pong, (x) => x === 'done');
      const res = onceMessage(ping, (x) => typeof x === 'number');
      pong.postMessage({ warm: w, n: m });
      ping.postMessage({ warm: w, n: m });
      await done;
      return res;
    };
    await withTimeout(once(0, warm), 60_000, 'atomics warm-up');
    const samples = [];
    for (let r = 0; r < reps; r++) samples.push(await withTimeout(once(warm, n), 60_000, 'atomics round trip'));
    return samples;
  } finally {
    await Promise.all([ping.terminate(), pong.terminate()]);
  }
}

/** Throughput of integers from one worker to another through a MessagePort; msgs/s. */
export async function qPostMessage(n, reps) {
  const { port1, port2 } = new MessageChannel();
  const prod = new Worker(W.pmQueue, { workerData: { role: 'producer', port: port1 }, transferList: [port1] });
  const cons = new Worker(W.pmQueue, { workerData: { role: 'consumer', port: port2 }, transferList: [port2] });
  try {
    await Promise.all([onceMessage(prod, (m) => m === 'ready'), onceMessage(cons, (m) => m === 'ready')]);
    const once = async (m) => {
      const armed = onceMessage(cons, (x) => x === 'armed');
      cons.postMessage({ n: m });
      await armed;
      const end = onceMessage(cons, (x) => x && x.t1 !== undefined);
      const start = onceMessage(prod, (x) => x && x.t0 !== undefined);
      prod.postMessage({ n: m });
      const [{ t0 }, { t1, sum }] = await Promise.all([start, end]);
      if (sum !== (m * (m - 1)) / 2) throw new Error('postMessage queue: wrong sum');
      return m / (Number(t1 - t0) / 1e9);
    };
    await withTimeout(once(Math.min(n, 100_000)), 120_000, 'postMessage queue warm-up');
    const samples = [];
    for (let r = 0; r < reps; r++) samples.push(await withTimeout(once(n), 120_000, 'postMessage queue'));
    return samples;
  } finally {
    await Promise.all([prod.terminate(), cons.terminate()]);
  }
}

/** Throughput of 8-byte messages through a plain SharedArrayBuffer ring between two workers. */
export async function qSabRing(n, reps, capacity = 4096) {
  const ctrlSab = new SharedArrayBuffer(8);
  const dataSab = new SharedArrayBuffer(8 * capacity);
  const prod = new Worker(W.ring, { workerData: { role: 'producer', ctrlSab, dataSab } });
  const cons = new Worker(W.ring, { workerData: { role: 'consumer', ctrlSab, dataSab } });
  try {
    await Promise.all([onceMessage(prod, (m) => m === 'ready'), onceMessage(cons, (m) => m === 'ready')]);
    const once = async (m) => {
      const end = onceMessage(cons, (x) => x && x.t1 !== undefined);
      const start = onceMessage(prod, (x) => x && x.t0 !== undefined);
      cons.postMessage({ n: m });
      prod.postMessage({ n: m });
      const [{ t0 }, { t1, sum }] = await Promise.all([start, end]);
      if (sum !== (m * (m - 1)) / 2) throw new Error('SAB ring: wrong sum');
      return m / (Number(t1 - t0) / 1e9);
    };
    await withTimeout(once(Math.min(n, 1_000_000)), 120_000, 'SAB ring warm-up');
    const samples = [];
    for (let r = 0; r < reps; r++) samples.push(await withTimeout(once(n), 120_000, 'SAB ring'));
    return samples;
  } finally {
    await Promise.all([prod.terminate(), cons.terminate()]);
  }
}

/**
 * Two plain workers started at once (the no-library baseline's workers) and one task posted to
 * the first: ms from construction to its result. `n` times, sequentially.
 */
export async function readyPair(kind, n) {
  const here2 = (p) => fileURLToPath(new URL(p, import.meta.url));
  const file = here2(kind === 'thread' ? '../workers/baseline-thread.mjs' : '../workers/baseline-child.mjs');
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = hr();
    const pair = [0, 1].map(() => (kind === 'thread' ? new Worker(file) : fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
    const first = pair[0];
    const got = new Promise((resolve, reject) => {
      first.on('message', (m) => {
        if (m !== 'ready') resolve(m);
      });
      first.once('error', reject);
    });
    // noop is task 0 in fixtures/tasks.mjs (TASKS); the message waits until the worker listens.
    if (kind === 'thread') first.postMessage([0, 1]);
    else first.send([0, 1]);
    const v = await withTimeout(got, 30_000, `${kind} pair ready`);
    out.push(ms(t0, hr()));
    if (v !== 1) throw new Error(`wrong result ${v}`);
    await Promise.all(
      pair.map((c) =>
        kind === 'thread'
          ? c.terminate()
          : new Promise((r) => {
              if (c.exitCode !== null || c.signalCode !== null) return r();
              c.once('exit', r);
              c.kill('SIGKILL');
            }),
      ),
    );
  }
  return out;
}
