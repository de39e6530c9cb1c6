// Start-up of a plain `new Worker`: the first statement stamps CLOCK_MONOTONIC and
// reports it; the worker then ends on its own (nothing keeps its event loop alive).
const t = process.hrtime.bigint();
const { parentPort } = await import('node:worker_threads');
parentPort.postMessage(String(t));
