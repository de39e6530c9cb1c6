/**
 * The small interface every start method implements. Nothing above
 * `backends/` sees more of a worker than a {@link WorkerHandle}.
 * @internal
 */
import type { BootData, ChildMessage, ParentMessage } from '../protocol/messages.js';

/** Options a worker can be spawned with (Process and Pool options). */
export interface SpawnOptions {
  boot: BootData;
  env?: Record<string, string | undefined>;
  cwd?: string;
  execArgv?: string[];
  resourceLimits?: ResourceLimits;
}

/** Memory limits of a worker (the `worker_threads` names; mapped to V8 flags for processes). */
export interface ResourceLimits {
  /** Maximum size of the main (old generation) heap, in MB. */
  maxOldGenerationSizeMb?: number;
  /** Maximum size of the young generation heap, in MB. */
  maxYoungGenerationSizeMb?: number;
  /** Size of the pre-allocated code range, in MB (threads only). */
  codeRangeSizeMb?: number;
  /** Default maximum stack size, in MB. */
  stackSizeMb?: number;
}

/** How a worker ended, as the transport reported it. */
export interface RawExit {
  code: number | null;
  signal: string | null;
}

/** One spawned worker, whatever the transport. */
export interface WorkerHandle {
  readonly method: 'thread' | 'process';
  /** OS process id (the parent's for threads). */
  readonly pid: number;
  /** Unique id of this worker: thread id, or pid. */
  readonly ident: number;
  /** Resolves once, when the worker has ended. */
  readonly exited: Promise<RawExit>;
  /** True once the worker has ended. */
  readonly hasExited: boolean;
  /** Sends a control message; throws synchronously if the message cannot be serialized. */
  sendControl(msg: ParentMessage): void;
  /** Listens to control messages from the worker. */
  onControl(listener: (msg: ChildMessage) => void): void;
  /** Stops the worker as SIGTERM does (threads: `worker.terminate()`). */
  terminate(): void;
  /** Stops the worker as SIGKILL does. */
  kill(): void;
  /** Forwards a signal (processes), or terminates (threads). */
  signal(sig: NodeJS.Signals): void;
  /** Keep the program alive while this worker runs. */
  ref(): void;
  /** Do not keep the program alive for this worker. */
  unref(): void;
}

/** A start method's implementation. */
export interface Backend {
  readonly name: 'thread' | 'process';
  spawn(options: SpawnOptions): WorkerHandle;
}
