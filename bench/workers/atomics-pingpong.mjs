// Round trip between two worker threads through Atomics.wait / Atomics.notify on one
// shared Int32 cell. Trip k: ping stores 2k+1 and waits for 2k+2; pong waits for 2k+1
// and stores 2k+2. Both sides keep k across repetitions, so the cell never needs a reset.
import { parentPort, workerData } from 'node:worker_threads';

const cell = new Int32Array(workerData.sab);
const role = workerData.role;
let k = 0;

function waitFor(expected) {
  for (;;) {
    const v = Atomics.load(cell, 0);
    if (v === expected) return;
    Atomics.wait(cell, 0, v);
  }
}

function ping() {
  Atomics.store(cell, 0, 2 * k + 1);
  Atomics.notify(cell, 0);
  waitFor(2 * k + 2);
  k++;
}

function pong() {
  waitFor(2 * k + 1);
  Atomics.store(cell, 0, 2 * k + 2);
  Atomics.notify(cell, 0);
  k++;
}

parentPort.on('message', ({ warm, n }) => {
  if (role === 'pong') {
    for (let i = 0; i < warm + n; i++) pong();
    parentPort.postMessage('done');
    return;
  }
  for (let i = 0; i < warm; i++) ping();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) ping();
  const t1 = process.hrtime.bigint();
  parentPort.postMessage(Number(t1 - t0) / 1e3 / n); // µs per round trip
});
parentPort.postMessage('ready');
