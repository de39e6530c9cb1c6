// Round trip main <-> worker through postMessage: echo every message.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (m) => parentPort.postMessage(m));
