/**
 * The `'thread'` start method: workers are `worker_threads`.
 * Control messages use a dedicated MessagePort; `parentPort` stays free for user data.
 * @internal
 */
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { ProcessError } from '../errors.js';
import type { Backend, RawExit, SpawnOptions, WorkerHandle } from './backend.js';
import type { ChildMessage, ParentMessage } from '../protocol/messages.js';
import { entryUrl } from './entry-url.js';
import { markThreadDead } from '../internal/liveness.js';
import { withoutRunFlags } from '../internal/loaders.js';
import { newLoadGuard, stopWhenSafe } from '../internal/load-guard.js';

class ThreadHandle implements WorkerHandle {
  readonly method = 'thread' as const;
  readonly pid = process.pid;
  readonly ident: number;
  readonly exited: Promise<RawExit>;
  hasExited = false;
  readonly #worker: Worker;
  readonly #port: MessagePort;
  /** Shared with the worker: see internal/load-guard.ts. */
  readonly #guard = newLoadGuard();

  constructor(options: SpawnOptions) {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const workerOptions: ConstructorParameters<typeof Worker>[1] = {
      workerData: { port: port2, boot: options.boot, guard: this.#guard },
      transferList: [port2],
      stdout: false,
      stderr: false,
    };
    if (options.env) workerOptions.env = options.env;
    if (options.execArgv) workerOptions.execArgv = [...withoutRunFlags(process.execArgv), ...options.execArgv];
    if (options.resourceLimits) workerOptions.resourceLimits = options.resourceLimits;
    this.#worker = new Worker(entryUrl('thread-entry'), workerOptions);
    this.ident = this.#worker.threadId;
    // The control port never keeps the program alive: liveness is the Worker's ref.
    port1.unref();
    this.exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        this.hasExited = true;
        markThreadDead(this.ident);
        port1.close();
        resolve({ code, signal: null });
      });
    });
    this.#worker.on('error', (err) => {
      // Errors the worker could not report itself (e.g. during start-up).
      process.stderr.write(`multiprocessing-ts: worker thread ${this.ident} failed: ${err?.stack ?? String(err)}\n`);
    });
  }

  sendControl(msg: ParentMessage): void {
    this.#port.postMessage(msg);
  }

  onControl(listener: (msg: ChildMessage) => void): void {
    this.#port.on('message', listener);
    this.#port.unref();
  }

  terminate(): void {
    this.#stop();
  }

  kill(): void {
    this.#stop();
  }

  signal(): void {
    this.#stop();
  }

  /** `worker.terminate()`, once the thread is not linking an ES module (internal/load-guard.ts). */
  #stop(): void {
    stopWhenSafe(this.#guard, () => void this.#worker.terminate());
  }

  ref(): void {
    this.#worker.ref();
  }

  unref(): void {
    this.#worker.unref();
  }
}

/** Worker threads. */
export const threadBackend: Backend = {
  name: 'thread',
  spawn(options) {
    if (options.cwd !== undefined) {
      throw new ProcessError(
        "the 'cwd' option is not supported on the 'thread' start method (worker threads share their process's working directory); use getContext('process') for a child with its own cwd",
      );
    }
    return new ThreadHandle(options);
  },
};
