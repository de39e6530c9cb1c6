// Locks workload: this library's Lock/RLock/Value lock beside a plain shared-memory mutex
// (compare-and-swap + futex-style wait, what any lock here is built from) and Python, in one
// run. Prints '@@row {json}' lines for bench/run.mjs. Run as a child of run.mjs, once per
// memory mode: P.mode 'native' (the default), 'koffi' or 'broker', which run.mjs forces through
// MULTIPROCESSING_TS_NATIVE=0 / MULTIPROCESSING_TS_KOFFI=0.
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';

const P = JSON.parse(process.argv[2] ?? '{}');
const reps = P.reps ?? 3;
const out = (o) => process.stdout.write(`@@row ${JSON.stringify(o)}\n`);
const lib = await import('multiprocessing-ts');
const { Lock, RLock, Value, getContext, isMain } = lib;

/** Wall-clock ms with sub-ms precision, comparable across threads and processes. */
const wall = () => performance.timeOrigin + performance.now();

/**
 * One of the two workers of the pair rows. Each stamps when its loop starts and ends, so that
 * the rate counts the loops only (not the workers' exits, which a join would add).
 */
export function lockedIncr(v, n, ready, go, stamps, slot) {
  const lock = v.getLock();
  ready.set();
  go.waitSync(60_000);
  stamps.set(2 * slot, wall());
  for (let i = 0; i < n; i++) {
    lock.acquireSync();
    v.value += 1;
    lock.release();
  }
  stamps.set(2 * slot + 1, wall());
}

/** Increments per second over the span from the first loop's start to the last one's end. */
const pairRate = (total, st) => total / ((Math.max(st[1], st[3]) - Math.min(st[0], st[2])) / 1000);

/** Broker rows: a 'process' child (in broker mode) times its own loop and reports the rate. */
export function timedLockLoop(lock, n, out) {
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    lock.acquireSync();
    lock.release();
  }
  out.value = n / ((performance.now() - t) / 1000);
}

export async function timedAwaitLoop(lock, n, out) {
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    await lock.acquire();
    lock.release();
  }
  out.value = n / ((performance.now() - t) / 1000);
}

async function inChild(target, n) {
  const lock = new Lock();
  const out = new Value('d', 0, { lock: false });
  const p = new (getContext('process').Process)({ target, args: [lock, n, out] });
  p.start();
  await p.join(120_000);
  if (p.exitCode !== 0) throw new Error(`child exit code ${p.exitCode}`);
  return out.value;
}

function rate(n, fn) {
  const t = performance.now();
  fn();
  return n / ((performance.now() - t) / 1000);
}

/** A plain mutex on a SharedArrayBuffer: CAS to take, exchange + notify to give. */
function rawMutexLoop(i32, n) {
  for (let k = 0; k < n; k++) {
    while (Atomics.compareExchange(i32, 0, 0, 1) !== 0) {
      if (Atomics.exchange(i32, 0, 2) === 0) break;
      Atomics.wait(i32, 0, 2, 10);
    }
    if (Atomics.exchange(i32, 0, 0) === 2) Atomics.notify(i32, 0, 1);
  }
}

const RAW_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { i32, n, counter, stamps, slot } = workerData;
parentPort.once('message', () => {
  stamps[2 * slot] = performance.timeOrigin + performance.now();
  for (let k = 0; k < n; k++) {
    while (Atomics.compareExchange(i32, 0, 0, 1) !== 0) {
      if (Atomics.exchange(i32, 0, 2) === 0) break;
      Atomics.wait(i32, 0, 2, 10);
    }
    counter[0]++;
    if (Atomics.exchange(i32, 0, 0) === 2) Atomics.notify(i32, 0, 1);
  }
  stamps[2 * slot + 1] = performance.timeOrigin + performance.now();
  parentPort.postMessage('done');
});
parentPort.postMessage('ready');
`;

async function rawPair(n) {
  const i32 = new Int32Array(new SharedArrayBuffer(4));
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const stamps = new Float64Array(new SharedArrayBuffer(32));
  const ws = [0, 1].map((slot) => new Worker(RAW_WORKER, { eval: true, workerData: { i32, n, counter, stamps, slot } }));
  await Promise.all(ws.map((w) => once(w, 'message')));
  ws.forEach((w) => w.postMessage('go'));
  await Promise.all(ws.map((w) => once(w, 'message')));
  await Promise.all(ws.map((w) => w.terminate()));
  if (counter[0] !== 2 * n) throw new Error(`raw mutex lost increments: ${counter[0]}`);
  return pairRate(2 * n, stamps);
}

async function oursPair(method, n) {
  const ctx = getContext(method);
  const v = new Value('i', 0);
  const go = new lib.Event();
  const readies = [new lib.Event(), new lib.Event()];
  const stamps = new lib.RawArray('d', 4);
  const ps = readies.map((ready, slot) => new ctx.Process({ target: lockedIncr, args: [v, n, ready, go, stamps, slot] }));
  ps.forEach((p) => p.start());
  for (const r of readies) await r.wait(60_000);
  go.set();
  for (const p of ps) await p.join(120_000);
  for (const p of ps) if (p.exitCode !== 0) throw new Error(`worker exit code ${p.exitCode}`);
  if (v.value !== 2 * n) throw new Error(`lost increments: ${v.value}`);
  return pairRate(2 * n, [...stamps]);
}

async function row(row, kind, transport, fn) {
  try {
    const samples = [];
    for (let r = 0; r < reps; r++) samples.push(await fn());
    out({ metric: 'locks', row, kind, transport, samples });
  } catch (e) {
    out({ metric: 'locks', row, kind, transport, error: String(e?.message ?? e) });
  }
}

const mode = P.mode ?? 'native';

if (isMain() && mode === 'koffi') {
  const n1 = Math.min(P.lockN ?? 2_000_000, 1_000_000);
  const n2 = P.lockPairN ?? 200_000;
  const lock = new Lock();
  await row('koffi: Lock acquireSync+release, uncontended', 'ours', 'thread', () =>
    rate(n1, () => {
      for (let i = 0; i < n1; i++) {
        lock.acquireSync();
        lock.release();
      }
    }),
  );
  await row('koffi: Lock await acquire()+release, main thread', 'ours', 'thread', async () => {
    const n = Math.min(n1, 500_000);
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      await lock.acquire();
      lock.release();
    }
    return n / ((performance.now() - t) / 1000);
  });
  await row("koffi: Value + getLock(), 2 workers 'thread'", 'ours', 'thread', () => oursPair('thread', n2));
  await row("koffi: Value + getLock(), 2 workers 'process'", 'ours', 'process', () => oursPair('process', n2));
  process.stdout.write('@@done {}\n');
}

if (isMain() && mode === 'broker') {
  const n = P.brokerN ?? 5_000;
  await row('broker: Lock acquireSync+release in a process child', 'ours', 'process', () => inChild(timedLockLoop, n));
  await row('broker: Lock await acquire()+release in a process child', 'ours', 'process', () => inChild(timedAwaitLoop, n));
  await row("broker: Value + getLock(), 2 workers 'process'", 'ours', 'process', () => oursPair('process', n));
  process.stdout.write('@@done {}\n');
}

if (isMain() && mode === 'native') {
  const n1 = P.lockN ?? 2_000_000;
  const n2 = P.lockPairN ?? 200_000;
  const raw = new Int32Array(new SharedArrayBuffer(4));
  await row('plain shared-memory mutex, uncontended', 'raw', 'thread', () => rate(n1, () => rawMutexLoop(raw, n1)));
  const lock = new Lock();
  await row('ours Lock acquireSync+release, uncontended', 'ours', 'thread', () =>
    rate(n1, () => {
      for (let i = 0; i < n1; i++) {
        lock.acquireSync();
        lock.release();
      }
    }),
  );
  const rlock = new RLock();
  await row('ours RLock acquireSync+release, uncontended', 'ours', 'thread', () =>
    rate(n1, () => {
      for (let i = 0; i < n1; i++) {
        rlock.acquireSync();
        rlock.release();
      }
    }),
  );
  await row('ours Lock await acquire()+release, main thread', 'ours', 'thread', async () => {
    const n = Math.min(n1, 1_000_000);
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      await lock.acquire();
      lock.release();
    }
    return n / ((performance.now() - t) / 1000);
  });
  await row('plain shared-memory mutex, 2 worker threads', 'raw', 'thread', () => rawPair(n2));
  await row("ours Value + getLock(), 2 workers 'thread'", 'ours', 'thread', () => oursPair('thread', n2));
  await row("ours Value + getLock(), 2 workers 'process'", 'ours', 'process', () => oursPair('process', n2));
  process.stdout.write('@@done {}\n');
}
