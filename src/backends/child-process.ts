/**
 * The `'process'` start method: workers are OS processes started with
 * `child_process.fork`. Control messages are tagged on the IPC channel.
 * @internal
 */
import type { ChildProcess } from 'node:child_process';
import type * as childProcess from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Backend, RawExit, ResourceLimits, SpawnOptions, WorkerHandle } from './backend.js';
import { CONTROL_TAG, type ChildMessage, type ParentMessage } from '../protocol/messages.js';
import { entryUrl } from './entry-url.js';
import { portableExecArgv } from '../internal/loaders.js';

function limitFlags(limits: ResourceLimits | undefined): string[] {
  if (!limits) return [];
  const flags: string[] = [];
  if (limits.maxOldGenerationSizeMb) flags.push(`--max-old-space-size=${Math.ceil(limits.maxOldGenerationSizeMb)}`);
  if (limits.maxYoungGenerationSizeMb) {
    // V8's young generation is three semi-spaces.
    flags.push(`--max-semi-space-size=${Math.max(1, Math.floor(limits.maxYoungGenerationSizeMb / 3))}`);
  }
  if (limits.stackSizeMb) flags.push(`--stack-size=${Math.floor(limits.stackSizeMb * 1024)}`);
  return flags;
}

class ProcessHandle implements WorkerHandle {
  readonly method = 'process' as const;
  readonly pid: number;
  readonly ident: number;
  readonly exited: Promise<RawExit>;
  hasExited = false;
  readonly #child: ChildProcess;

  constructor(options: SpawnOptions) {
    // Loaded on first use: a program (or worker) that never forks does not pay for child_process.
    const { fork } = createRequire(import.meta.url)('node:child_process') as typeof childProcess;
    this.#child = fork(fileURLToPath(entryUrl('process-entry')), [JSON.stringify(options.boot)], {
      execArgv: [...portableExecArgv(), ...(options.execArgv ?? []), ...limitFlags(options.resourceLimits)],
      env: options.env ?? process.env,
      cwd: options.cwd,
      serialization: 'advanced',
      // Python gives the child /dev/null as stdin; output goes straight to our descriptors.
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.pid = this.#child.pid ?? -1;
    this.ident = this.pid;
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.hasExited = true;
        resolve({ code, signal });
      });
    });
    this.#child.on('error', (err) => {
      if (!this.hasExited) process.stderr.write(`multiprocessing-ts: child process ${this.pid}: ${err.message}\n`);
    });
  }

  sendControl(msg: ParentMessage): void {
    if (!this.#child.connected) return;
    this.#child.send({ [CONTROL_TAG]: msg });
  }

  onControl(listener: (msg: ChildMessage) => void): void {
    this.#child.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && CONTROL_TAG in m) listener((m as Record<string, ChildMessage>)[CONTROL_TAG]!);
    });
  }

  terminate(): void {
    this.signal('SIGTERM');
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  signal(sig: NodeJS.Signals): void {
    if (this.hasExited) return;
    try {
      this.#child.kill(sig);
    } catch {
      /* already gone */
    }
  }

  ref(): void {
    this.#child.ref();
    (this.#child.channel as { ref?: () => void } | undefined)?.ref?.();
  }

  unref(): void {
    this.#child.unref();
    (this.#child.channel as { unref?: () => void } | undefined)?.unref?.();
  }
}

/** OS processes. */
export const processBackend: Backend = {
  name: 'process',
  spawn(options) {
    return new ProcessHandle(options);
  },
};
