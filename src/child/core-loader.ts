/**
 * Loads the worker core (dist/core.cjs) in a new worker from a V8 code cache.
 *
 * A new worker spends most of its start-up beyond Node's own compiling the core and the
 * functions it runs on the way to its first task. Node 20 keeps no code cache for modules, so
 * the core is compiled here as CommonJS with V8's cached data, made by an earlier worker, and
 * put in `require.cache`: the library's other modules, and users' modules that import the
 * library, then get this very instance.
 *
 * The cache is a file per user (a folder only its owner may write to: cached data is code),
 * named after the core file (path, size, time), Node's version, architecture and flags (command
 * line and NODE_OPTIONS). V8 refuses data made for other flags or another V8; a refused or
 * missing cache is made again by the first worker that goes without, once it holds the compiled
 * code of the way to a first result too (a pool worker: before it sends its first result).
 * `MULTIPROCESSING_TS_NO_CODE_CACHE=1` turns all this off.
 *
 * This module must not import the core (that would load it without the cache first).
 * @internal
 */
import { isAscii } from 'node:buffer';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { threadId } from 'node:worker_threads';
import type * as Core from '../internal/core.js';

/** Where the core asks for the cache to be written (see `saveCodeCache` in the core). */
const SAVE = Symbol.for('multiprocessing-ts.saveCodeCache');

const requireHere = createRequire(import.meta.url);

/** A short hash of a string (FNV-1a, 32 bits), to name the cache file. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** This user's cache folder, or null when it cannot be made private to them. */
function cacheFolder(): string | null {
  const uid = process.getuid?.();
  const folder = process.env.MULTIPROCESSING_TS_CACHE_DIR ?? join(tmpdir(), `multiprocessing-ts-${uid ?? 'user'}`);
  try {
    let st;
    try {
      st = statSync(folder);
    } catch {
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      st = statSync(folder);
    }
    // Someone else's folder, or one others may write to: not to be trusted with code.
    if (uid !== undefined && (st.uid !== uid || (st.mode & 0o022) !== 0)) return null;
    return folder;
  } catch {
    return null;
  }
}

function cacheFile(file: string, size: number, mtimeMs: number): string | null {
  const folder = cacheFolder();
  if (folder === null) return null;
  // Node's flags come from the command line and NODE_OPTIONS; V8 refuses data made with others.
  const flags = `${process.execArgv.join(' ')}\0${process.env.NODE_OPTIONS ?? ''}`;
  const key = [file, size, mtimeMs, process.version, process.arch, flags].join('\0');
  return join(folder, `core-${hash(key)}.v8cache`);
}

/** How many cache files the folder keeps: one per build of the library, Node and flags in use. */
const CACHE_FILES_KEPT = 16;

/**
 * Removes what writers killed half-way left (their temporary files, a minute old or more), and
 * the oldest caches beyond the newest CACHE_FILES_KEPT (each build of the library, each Node
 * version and each set of flags makes its own; an old one is only made again if used again).
 */
function sweep(folder: string): void {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return;
  }
  const caches: { file: string; mtimeMs: number }[] = [];
  for (const name of names) {
    const file = join(folder, name);
    try {
      if (name.endsWith('.tmp')) {
        if (Date.now() - statSync(file).mtimeMs > 60_000) unlinkSync(file);
      } else if (/^core-[0-9a-f]{8}\.v8cache$/.test(name)) {
        caches.push({ file, mtimeMs: statSync(file).mtimeMs });
      }
    } catch {
      // another writer removed it first
    }
  }
  caches.sort((x, y) => y.mtimeMs - x.mtimeMs);
  for (const { file } of caches.slice(CACHE_FILES_KEPT)) {
    try {
      unlinkSync(file);
    } catch {
      // another writer removed it first
    }
  }
}

function write(path: string, data: Buffer): void {
  const tmp = `${path}.${process.pid}-${threadId}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, path);
    sweep(dirname(path));
  } catch {
    // A cache that cannot be written only costs the next worker its start-up time.
    try {
      unlinkSync(tmp);
    } catch {
      /* not there */
    }
  }
}

/** The core's exports, compiled from the code cache when there is a usable one. */
export function loadCore(): typeof Core {
  // The file `#mpts-core` names, found without resolving that name: resolving a package's
  // `imports` loads Node's ES module resolver, 1.3-1.8 ms here in a new worker thread. This
  // module is bundled into the worker entries, in dist/child/, a folder below dist/core.cjs;
  // both paths are real paths, as Node's own resolution gives.
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'core.cjs');
  const loaded = requireHere.cache[file];
  if (loaded) return loaded.exports as typeof Core;
  if (process.env.MULTIPROCESSING_TS_NO_CODE_CACHE) return requireHere(file) as typeof Core;

  // The build leaves the core ASCII-only (scripts/core-exports.mjs), so its bytes are its
  // Latin-1 text: V8 gets a one-byte string without a UTF-8 decode (bytes, check and string
  // 0.14 ms in a new worker thread, against 0.31-0.47 ms for readFileSync(file, 'utf8')).
  const bytes = readFileSync(file);
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  const st = statSync(file);
  const path = cacheFile(file, st.size, st.mtimeMs);
  let cachedData: Buffer | undefined;
  if (path !== null) {
    try {
      cachedData = readFileSync(path);
    } catch {
      // none yet
    }
  }
  const script = new Script(Module.wrap(source), { filename: file, cachedData });
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file));
  requireHere.cache[file] = mod;
  try {
    const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
    wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  } catch (err) {
    delete requireHere.cache[file];
    throw err;
  }
  mod.loaded = true;
  if (path !== null && (cachedData === undefined || script.cachedDataRejected)) {
    // Made once the worker has run something, so the cache holds that code too.
    let saved = false;
    const save = (): void => {
      if (saved) return;
      saved = true;
      write(path, script.createCachedData());
    };
    (globalThis as Record<symbol, unknown>)[SAVE] = save;
    // A worker that waits (a standby) has nothing more to compile: save soon anyway.
    setTimeout(save, 1000).unref();
  }
  return mod.exports as typeof Core;
}
