// Queues-and-pipes workload: this library's Queue and Pipe between two workers, on both start
// methods, beside raw Atomics round trips measured in the same run. Prints '@@row {json}' lines
// for bench/run.mjs. Run as a child of run.mjs.
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';

const P = JSON.parse(process.argv[2] ?? '{}');
const reps = P.reps ?? 3;
const out = (o) => process.stdout.write(`@@row ${JSON.stringify(o)}\n`);
const lib = await import('multiprocessing-ts');
const { Queue, Pipe, Event, getContext, isMain } = lib;

/** Puts 0..n-1 (blocking form), after `go`. */
export function qProducer(q, n, ready, go, sync) {
  ready.set();
  go.waitSync(60_000);
  if (sync) for (let i = 0; i < n; i++) q.putSync(i);
  else return (async () => { for (let i = 0; i < n; i++) await q.put(i); })();
}

/** Takes n items and reports the time from `go` to the last one. */
export async function qConsumer(q, n, ready, go, res, sync) {
  ready.set();
  go.waitSync(60_000);
  const t = performance.now();
  let s = 0;
  if (sync) for (let i = 0; i < n; i++) s += q.getSync();
  else for (let i = 0; i < n; i++) s += await q.get();
  if (s !== (n * (n - 1)) / 2) throw new Error('lost items');
  await res.put(performance.now() - t);
}

/** Echoes until null. */
export async function echo(conn, sync) {
  if (sync) {
    for (;;) {
      const x = conn.recvSync();
      if (x === null) break;
      conn.sendSync(x);
    }
  } else {
    for (;;) {
      const x = await conn.recv();
      if (x === null) break;
      await conn.send(x);
    }
  }
}

/** Round trips from a worker (so both sides are workers, as the raw rows). */
export async function rtDriver(conn, warm, n, sync, res) {
  const run = async (k) => {
    if (sync) for (let i = 0; i < k; i++) { conn.sendSync(i); conn.recvSync(); }
    else for (let i = 0; i < k; i++) { await conn.send(i); await conn.recv(); }
  };
  await run(warm);
  const t = performance.now();
  await run(n);
  await res.put(((performance.now() - t) / n) * 1000);
  sync ? conn.sendSync(null) : await conn.send(null);
}

/** Sends `mb` MB as one message. */
export async function bigSender(conn, mb) {
  await conn.sendBytes(new Uint8Array(mb * 1024 * 1024));
}

async function queueRate(method, n, sync) {
  const ctx = getContext(method);
  const q = new Queue();
  const res = new Queue();
  const go = new Event();
  const r1 = new Event(), r2 = new Event();
  const c = new ctx.Process({ target: qConsumer, args: [q, n, r1, go, res, sync] });
  const p = new ctx.Process({ target: qProducer, args: [q, n, r2, go, sync] });
  c.start(); p.start();
  await r1.wait(60_000); await r2.wait(60_000);
  go.set();
  const ms = await res.get({ timeout: 120_000 });
  await p.join(60_000); await c.join(60_000);
  return n / (ms / 1000);
}

async function pipeRt(method, warm, n, sync) {
  const ctx = getContext(method);
  const [a, b] = Pipe();
  const res = new Queue();
  const e = new ctx.Process({ target: echo, args: [b, sync] });
  const d = new ctx.Process({ target: rtDriver, args: [a, warm, n, sync, res] });
  e.start(); d.start();
  a.close(); b.close();
  const us = await res.get({ timeout: 120_000 });
  await d.join(60_000); await e.join(60_000);
  return us;
}

async function bigPipe(method, mb) {
  const ctx = getContext(method);
  const [r, w] = Pipe(false);
  const p = new ctx.Process({ target: bigSender, args: [w, mb] });
  const t = performance.now();
  p.start();
  w.close();
  const got = await r.recvBytes();
  const dt = performance.now() - t;
  await p.join(60_000);
  if (got.length !== mb * 1024 * 1024) throw new Error('short');
  return mb / (dt / 1000);
}

const RAW_WAITASYNC = `
const { workerData, parentPort } = require('node:worker_threads');
const { i32, n, echo } = workerData;
// A pending Atomics.waitAsync does not keep a worker alive: hold it with a timer.
const keep = setInterval(() => {}, 1 << 30);
(async () => {
  let v = 0;
  for (let i = 0; i < n; i++) {
    if (echo) { while (Atomics.load(i32, 0) === v) await Atomics.waitAsync(i32, 0, v).value; v = Atomics.load(i32, 0); Atomics.store(i32, 1, v); Atomics.notify(i32, 1); }
    else { Atomics.store(i32, 0, ++v); Atomics.notify(i32, 0); let cur; while ((cur = Atomics.load(i32, 1)) !== v) await Atomics.waitAsync(i32, 1, cur).value; }
  }
  parentPort.postMessage('done');
  clearInterval(keep);
})();
`;

async function rawWaitAsyncRt(n) {
  const i32 = new Int32Array(new SharedArrayBuffer(8));
  const e = new Worker(RAW_WAITASYNC, { eval: true, workerData: { i32, n, echo: true } });
  const eDone = once(e, 'message');
  const t = performance.now();
  const d = new Worker(RAW_WAITASYNC, { eval: true, workerData: { i32, n, echo: false } });
  await once(d, 'message');
  const us = ((performance.now() - t) / n) * 1000;
  await eDone;
  await Promise.all([e.terminate(), d.terminate()]);
  return us;
}

async function row(metric, row, kind, transport, fn) {
  try {
    const samples = [];
    for (let r = 0; r < reps; r++) samples.push(await fn());
    out({ metric, row, kind, transport, samples });
  } catch (e) {
    out({ metric, row, kind, transport, error: String(e?.stack ?? e) });
  }
}

if (isMain()) {
  const n = P.ourQueueN ?? 300_000;
  const warm = P.rtWarm ?? 1000;
  const rtN = P.rtN ?? 20_000;
  const only = P.part;
  if (!only || only === 'roundtrip') {
    await row('roundtrip', 'Atomics.waitAsync, 2 worker threads (await)', 'raw', 'thread', () => rawWaitAsyncRt(rtN + warm));
    for (const m of ['thread', 'process']) {
      await row('roundtrip', `ours Pipe sendSync/recvSync '${m}'`, 'ours', m, () => pipeRt(m, warm, rtN, true));
      await row('roundtrip', `ours Pipe await send/recv '${m}'`, 'ours', m, () => pipeRt(m, warm, rtN, false));
    }
  }
  if (!only || only === 'queue') {
    for (const m of ['thread', 'process']) {
      await row('queue', `ours Queue putSync/getSync '${m}'`, 'ours', m, () => queueRate(m, n, true));
      await row('queue', `ours Queue await put/get '${m}'`, 'ours', m, () => queueRate(m, n, false));
    }
  }
  if (!only || only === 'pipe-bytes') {
    for (const m of ['thread', 'process']) await row('pipe-bytes', `ours Pipe 64 MB sendBytes '${m}'`, 'ours', m, () => bigPipe(m, 64));
  }
  process.stdout.write('@@done {}\n');
}
