/**
 * Loads every module that defines library objects able to travel between
 * workers, so that their revivers are registered. Built as an entry file of
 * its own (`dist/child/handles.js`): `decodeSync` in a worker that has not
 * loaded a kind yet requires it (the async `decode` imports only the modules
 * of the kinds it meets).
 * @internal
 */
import './synchronize.js';
import './sharedctypes.js';
import './shared-memory.js';
import './queues.js';
import './connection.js';
import './managers.js';
