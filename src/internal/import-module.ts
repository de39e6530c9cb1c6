/**
 * `import()` of users' modules (and of loaders' modules) for the worker core.
 *
 * The core is compiled by workers from a V8 code cache (see child/core-loader.ts), and a
 * script compiled that way has no `import()` of its own on Node 20: it throws
 * ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING. So the core imports through a one-line module
 * compiled by Node as usual (dist/esm-import.cjs), loaded on first use.
 * @internal
 */
import { createRequire } from 'node:module';

type Importer = (specifier: string) => Promise<unknown>;

const requireHere = createRequire(import.meta.url);
let importer: Importer | undefined;

/** `import(specifier)`: an absolute URL, or a specifier resolved from the library's folder. */
export function importModule(specifier: string): Promise<unknown> {
  importer ??= (requireHere('#mpts/esm-import') as { esmImport: Importer }).esmImport;
  return importer(specifier);
}
