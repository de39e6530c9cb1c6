// Worker module for piscina and tinypool (both runtimes): tasks are picked by export name.
export { noop, sq, sqChunk, burn } from '../fixtures/tasks.mjs';
