/**
 * The worker core: every module a new worker needs to boot, revive queues and
 * serve a pool, built as one file (`dist/core.cjs`), which workers compile from a
 * V8 code cache (child/core-loader.ts). The rest of the build requires these
 * modules from that file (as `#mpts-core`, see the `imports` field of
 * package.json), so a worker's library objects are the very instances the user's
 * modules get, and a fresh worker loads one script of library code instead of a
 * dozen small chunks.
 *
 * `tsup.config.ts` checks that this list is closed: every module these import
 * statically must be listed here, and none may statically import a module
 * outside it (the other modules are reached by dynamic imports only).
 * @internal
 */
export * from '../backends/child-process.js';
export * from '../backends/entry-url.js';
export * from '../backends/index.js';
export * from '../backends/thread.js';
export * from '../child/pool-worker.js';
export * from '../child/runtime.js';
export * from '../errors.js';
export * from '../fnref.js';
export * from './broker-client.js';
export * from './broker-protocol.js';
export * from './broker.js';
export * from './builtins.js';
export * from './code-cache.js';
export * from './codec.js';
export * from './import-module.js';
export * from './koffi-waiter.js';
export * from './koffi.js';
export * from './liveness.js';
export * from './load-guard.js';
export * from './loaders.js';
export * from './memory.js';
export * from './mutex.js';
export * from './native.js';
export * from './queue-iter.js';
export * from './ring.js';
export * from './segments.js';
export * from './spawner.js';
export * from './state.js';
export * from './task-context.js';
export * from './validators.js';
export * from './waiting.js';
export * from './word-ops.js';
export * from '../logging.js';
export * from '../process.js';
export * from '../protocol/messages.js';
export * from '../protocol/pool.js';
export * from '../queues.js';
export * from '../reduction.js';
