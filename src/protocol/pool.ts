/**
 * Messages between a Pool and its workers (through shared-memory queues).
 * @internal
 */
import type { FnRefData } from './messages.js';

/** `fn(...args)`: one call. */
export const TASK_APPLY = 0;
/** `fn(item)` for each item of a chunk. */
export const TASK_MAP = 1;
/** `fn(...item)` for each item of a chunk. */
export const TASK_STARMAP = 2;

export type TaskKind = typeof TASK_APPLY | typeof TASK_MAP | typeof TASK_STARMAP;

/**
 * A task: [task id, function id, the function's reference (only the first
 * time a worker gets this function id, else null), kind, arguments or chunk].
 */
export type PoolTask = [id: number, fnId: number, ref: FnRefData | null, kind: TaskKind, payload: unknown[]];

/** A result: [task id, worker index, 1 ok / 0 failed, value or error, milliseconds the task ran]. */
export type PoolResult = [id: number, worker: number, ok: 0 | 1, value: unknown, ms: number];
