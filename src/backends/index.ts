/**
 * Start methods by name (CPython's `_concrete_contexts`).
 * @internal
 */
import type { Backend } from './backend.js';
import { threadBackend } from './thread.js';
import { processBackend } from './child-process.js';

export type { Backend, WorkerHandle, SpawnOptions, ResourceLimits, RawExit } from './backend.js';

/** The two start methods. */
export const backends: Readonly<Record<'thread' | 'process', Backend>> = {
  thread: threadBackend,
  process: processBackend,
};
