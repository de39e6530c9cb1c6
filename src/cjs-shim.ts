/**
 * `import.meta.url` in the CommonJS build (tsup.config.ts defines it as this). Built from the
 * path with `pathToFileURL`, so a folder name with `#`, `%` or `?` in it stays a path.
 * (A function, as tsup's own shim notes: esbuild would otherwise put this in every file.)
 * @internal
 */
import { pathToFileURL } from 'node:url';

const fileUrl = (): string => pathToFileURL(__filename).href;

export const importMetaUrl = /* @__PURE__ */ fileUrl();
