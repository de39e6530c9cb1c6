/**
 * Loads every module that defines library objects able to travel between
 * workers, so that their revivers are registered. A worker imports it before
 * decoding a value holding such objects (its own code may import the
 * library for types only).
 * @internal
 */
import './synchronize.js';
import './sharedctypes.js';
import './shared-memory.js';
import './queues.js';
import './connection.js';
import './managers.js';
