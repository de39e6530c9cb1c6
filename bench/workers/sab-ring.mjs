// Queue throughput worker -> worker through a plain single-producer single-consumer ring
// of 8-byte slots in a SharedArrayBuffer. ctrl[0] = head (slots written), ctrl[1] = tail
// (slots read), both running totals; the producer publishes every message with an
// Atomics.store of head, the consumer drains what it sees and publishes tail once per drain.
// Both sides busy-spin (one core each); no Atomics.wait on the hot path.
import { parentPort, workerData } from 'node:worker_threads';

const { role, ctrlSab, dataSab } = workerData;
const ctrl = new Int32Array(ctrlSab);
const data = new Float64Array(dataSab);
const CAP = data.length; // power of two
const MASK = CAP - 1;
const HEAD = 0;
const TAIL = 1;

function produce(n) {
  let head = Atomics.load(ctrl, HEAD);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    while (head - Atomics.load(ctrl, TAIL) >= CAP) {
      /* ring full: spin */
    }
    data[head & MASK] = i;
    head++;
    Atomics.store(ctrl, HEAD, head);
  }
  return { t0 };
}

function consume(n) {
  let tail = Atomics.load(ctrl, TAIL);
  const end = tail + n;
  let sum = 0;
  while (tail !== end) {
    const head = Atomics.load(ctrl, HEAD);
    while (tail !== head) {
      sum += data[tail & MASK];
      tail++;
    }
    Atomics.store(ctrl, TAIL, tail);
  }
  return { t1: process.hrtime.bigint(), sum };
}

parentPort.on('message', ({ n }) => {
  parentPort.postMessage(role === 'producer' ? produce(n) : consume(n));
});
parentPort.postMessage('ready');
