/**
 * Entry file of a worker thread. Control messages arrive on the port in
 * `workerData`; `parentPort` is left to user data.
 * @internal
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { loadCore } from './core-loader.js';
import type { BootData, ChildMessage, ParentMessage } from '../protocol/messages.js';

const { childMain } = loadCore();

const { port, boot, guard } = workerData as { port: MessagePort; boot: BootData; guard: SharedArrayBuffer };

void childMain(
  {
    send: (msg: ChildMessage) => port.postMessage(msg),
    onMessage: (listener: (msg: ParentMessage) => void) => port.on('message', listener),
    takeWaiting: () => receiveMessageOnPort(port)?.message as ParentMessage | undefined,
    hold: () => port.ref(),
    release: () => {
      port.unref();
    },
    loadGuard: guard,
    onParentGone: () => {
      /* a thread dies with its parent */
    },
  },
  boot,
);
