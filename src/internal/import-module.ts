/**
 * Loading users' ES modules (and loaders' modules) for the worker core.
 *
 * The core is compiled by workers from a V8 code cache (see child/core-loader.ts), and a
 * script compiled that way has no `import()` of its own on Node 20: it throws
 * ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING. So the core imports through a one-line module
 * compiled by Node as usual (dist/esm-import.cjs), loaded on first use.
 *
 * A worker with no module hooks loads an ES module with `require()` where Node allows that
 * without a flag or a warning (20.19+, 22.13+, 23.5+, 24+): it is the same module instance
 * `import()` gives, evaluated once, but a first `import()` in a fresh worker thread costs 3-4 ms
 * here (Node's asynchronous loader starting) where `require()` of the same module costs about
 * 0.5 ms. A module graph with top-level await cannot be required: `import()` loads it then.
 * @internal
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { guardedLoad } from './load-guard.js';

type Importer = (specifier: string) => Promise<unknown>;

const requireHere = createRequire(import.meta.url);
let importer: Importer | undefined;
let requireEsm = false;
/** Modules `require()` could not load here: they are imported from then on. */
const notRequired = new Set<string>();

/** `import(specifier)`: an absolute URL, or a specifier resolved from the library's folder. */
export function importModule(specifier: string): Promise<unknown> {
  importer ??= (requireHere('#mpts/esm-import') as { esmImport: Importer }).esmImport;
  return importer(specifier);
}

/** Whether this Node loads ES modules with `require()` without a flag and without a warning. */
export function quietRequireEsm(version: string = process.versions.node, enabled: unknown = (process.features as { require_module?: unknown }).require_module): boolean {
  if (enabled !== true) return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major === 20) return minor >= 19;
  if (major === 22) return minor >= 13;
  if (major === 23) return minor >= 5;
  return major >= 24;
}

/**
 * Lets `requireModule` load ES modules in this worker. Its boot calls this when no module hooks
 * (`--import`, `--loader`, `--require`) are set for it: hooks may treat `require()` and `import()`
 * differently, so with them every ES module is imported.
 */
export function allowRequireEsm(allowed: boolean): void {
  requireEsm = allowed && quietRequireEsm();
}

/**
 * The namespace of the ES module at `url` loaded with `require()`, or `undefined` where it must be
 * imported instead: not allowed in this worker, not a plain `.mjs`/`.js` file URL, top-level await
 * in its graph, or an error (`import()` then gives the module's own error: an ES module that
 * threw while it ran is not run again).
 */
export function requireModule(url: string): Record<string, unknown> | undefined {
  if (!requireEsm || notRequired.has(url) || !url.startsWith('file:') || /[?#]/.test(url) || !/\.m?js$/.test(url)) return undefined;
  let ns: unknown;
  try {
    // A worker thread's parent must not terminate it while it links the module (load-guard.ts).
    ns = guardedLoad(() => requireHere(fileURLToPath(url)) as unknown);
  } catch {
    notRequired.add(url);
    return undefined;
  }
  // A module that exports the name 'module.exports' gives that value to require(), not its
  // namespace; and a .js file that turned out to be CommonJS is no namespace either.
  const isNamespace = ns !== null && typeof ns === 'object' && (ns as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'Module';
  if (isNamespace) return ns as Record<string, unknown>;
  notRequired.add(url);
  return undefined;
}
