// Queue throughput worker -> worker through a MessagePort (postMessage of integers).
// The producer stamps CLOCK_MONOTONIC before its first post, the consumer after the
// last receipt; both stamps go to the parent.
import { parentPort, workerData } from 'node:worker_threads';

const { role, port } = workerData;

if (role === 'producer') {
  parentPort.on('message', ({ n }) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) port.postMessage(i);
    parentPort.postMessage({ t0 });
  });
} else {
  let want = 0;
  let got = 0;
  let sum = 0;
  port.on('message', (x) => {
    sum += x;
    if (++got === want) parentPort.postMessage({ t1: process.hrtime.bigint(), sum });
  });
  parentPort.on('message', ({ n }) => {
    want = n;
    got = 0;
    sum = 0;
    parentPort.postMessage('armed');
  });
}
parentPort.postMessage('ready');
