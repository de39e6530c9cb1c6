/**
 * Node built-in modules loaded on first use. Each one imported at the top of a module is
 * loaded by every new worker before it can run anything, whether it is needed or not (in a
 * fresh worker thread, `node:v8` and `node:os` cost about 0.3 and 0.2 ms).
 * @internal
 */
import { createRequire } from 'node:module';
import type * as Os from 'node:os';
import type * as V8 from 'node:v8';

const requireHere = createRequire(import.meta.url);
let os: typeof Os | undefined;
let v8: typeof V8 | undefined;

/** `node:os`. */
export function nodeOs(): typeof Os {
  return (os ??= requireHere('node:os') as typeof Os);
}

/** `node:v8` (its serializer: a worker whose values all have the codec's own forms never loads it). */
export function nodeV8(): typeof V8 {
  return (v8 ??= requireHere('node:v8') as typeof V8);
}
