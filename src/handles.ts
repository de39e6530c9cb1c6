/**
 * Loads every module that defines library objects able to travel between
 * workers, so that their revivers are registered. Built as an entry file of
 * its own (`dist/child/handles.js`): `decodeSync` in a worker that has not
 * loaded a kind yet requires it (the async `decode` imports only the modules
 * of the kinds it meets).
 * @internal
 */
// Re-exported, not imported bare: the package is marked free of side effects, so a bare import
// may be dropped by the bundler, and the modules' registrations with it.
export { Lock } from './synchronize.js';
export { Value } from './sharedctypes.js';
export { SharedMemory } from './shared-memory.js';
export { Queue } from './queues.js';
export { Connection } from './connection.js';
export { BaseManager } from './managers.js';
