/**
 * The worker core's `import()` (see internal/import-module.ts): this module is compiled by Node
 * itself, so its `import()` works in every worker.
 * @internal
 */
export function esmImport(specifier: string): Promise<unknown> {
  return import(specifier);
}
