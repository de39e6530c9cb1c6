// No-library baseline, worker_threads transport: `[fnIndex, arg]` in, result out.
import { parentPort } from 'node:worker_threads';
import { TASKS } from '../fixtures/tasks.mjs';

parentPort.on('message', (m) => {
  parentPort.postMessage(TASKS[m[0]](m[1]));
});
parentPort.postMessage('ready');
