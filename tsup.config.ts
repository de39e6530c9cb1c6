import { buildSync, type Plugin } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defineConfig, type Options } from 'tsup';

const common: Options = {
  format: ['cjs'],
  target: 'node20',
  platform: 'node',
  // import.meta.url: tsup's shim builds it as `file:${__filename}`, which breaks on a path with
  // `#` in it; this one is the file's URL.
  shims: false,
  esbuildOptions(options) {
    options.inject = [...(options.inject ?? []), 'src/cjs-shim.ts'];
    options.define = { ...options.define, 'import.meta.url': 'importMetaUrl' };
  },
  sourcemap: true,
  outExtension: ({ format }) => ({ js: format === 'cjs' ? '.cjs' : '.js' }),
};

// The library is built as CommonJS only; dist/index.js and dist/dummy.js, the entries of ES
// module programs, re-export it (scripts/esm-entries.mjs writes them after these builds). One
// build for both kinds of program means one instance of the library in a program that has
// both, and lets workers compile the core from a V8 code cache (child/core-loader.ts), which
// Node 20 offers for CommonJS only.
//
// Four builds.
//
// 1. The worker core (src/internal/core.ts): every module a new worker needs to boot, revive
//    queues and serve a pool, as ONE file, dist/core.cjs: one script to compile and to cache.
//    (As ES modules, a new worker thread loaded the same 160 KB of code in 5 ms as one module
//    and in 10 ms as the 14 chunks a split build cut it into.)
// 2. The rest of the library, split as usual. Every import of a core
//    module is redirected to the core file, through package.json's private `imports` field
//    (`#mpts-core`, which resolves from any folder of the package), so a worker's library
//    objects are the very instances the user's modules get. The core reaches the other modules
//    only on demand (the kinds of objects it revives); those modules are entries of this build
//    with fixed names, required as `#mpts/<name>`.
// 3. Single files that run apart: the worker entries (with the core's loader in them: a new
//    worker requires one file before the core, not three), the helper threads (the koffi
//    waiter, the broker and its client, which run no user code), and the core's `import()`
//    (src/esm-import.ts).
// 4. The type declarations of the ES module entries (the CommonJS ones come with build 2).
// `npm run build` empties dist/ first (the builds cannot all clean it), and after tsup runs
// scripts/core-exports.mjs (the core's exports as plain properties) and scripts/esm-entries.mjs.

const CORE_ENTRY = 'src/internal/core.ts';
/** Modules of the core reached by dynamic import from it: entries of the split build. */
const ON_DEMAND = ['synchronize', 'sharedctypes', 'shared-memory', 'connection', 'managers'];

const rel = (p: string) => path.relative(process.cwd(), p).split(path.sep).join('/');

/**
 * The core's modules: the static closure of core.ts. Fails the build if core.ts does not
 * re-export one of them (the split build imports their names from the core file).
 */
function coreModules(): Set<string> {
  const { metafile } = buildSync({
    entryPoints: [CORE_ENTRY],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  const seen = new Set<string>();
  const stack = [CORE_ENTRY];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const imp of metafile!.inputs[file]!.imports) {
      if (!imp.external && (imp.kind === 'import-statement' || imp.kind === 'require-call')) stack.push(imp.path);
    }
  }
  const listed = new Set(
    [...readFileSync(CORE_ENTRY, 'utf8').matchAll(/^export \* from '(.+)';$/gm)].map((m) =>
      rel(path.resolve(path.dirname(CORE_ENTRY), m[1]!.replace(/\.js$/, '.ts'))),
    ),
  );
  const missing = [...seen].filter((f) => f !== CORE_ENTRY && !listed.has(f));
  if (missing.length > 0) throw new Error(`${CORE_ENTRY} must re-export every module of the core; missing: ${missing.join(', ')}`);
  return seen;
}

const core = coreModules();
const SKIP = Symbol('resolve as usual');

/** Resolves a relative import to its source file (relative to the project). */
async function sourceOf(build: Parameters<Plugin['setup']>[0], args: { path: string; resolveDir: string; kind: import('esbuild').ImportKind; importer: string }) {
  const r = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: SKIP });
  return r.errors.length > 0 ? null : rel(r.path);
}

/** Build 2: imports of core modules go to the core file. */
const toCore: Plugin = {
  name: 'mpts-to-core',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData === SKIP || args.kind === 'entry-point') return undefined;
      const file = await sourceOf(build, args);
      return file && core.has(file) ? { path: '#mpts-core', external: true } : undefined;
    });
  },
};

/**
 * Build 1: the core stays closed; its dynamic imports of the library's other modules become
 * `require('#mpts/<name>')` (the build is told that `import()` is not supported: a script
 * compiled from a code cache has none). Users' modules are imported through
 * internal/import-module.ts, a function call this build leaves alone.
 */
const fromCore: Plugin = {
  name: 'mpts-from-core',
  setup(build) {
    const prefix = '#mpts/';
    build.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData === SKIP || args.kind === 'entry-point') return undefined;
      const file = await sourceOf(build, args);
      if (file === null) return undefined;
      // A dynamic import of a core module (the reviver of queues) imports the core file itself:
      // inlined instead, it would make esbuild wrap every module of the core in a lazy initialiser.
      if (core.has(file)) return args.kind === 'dynamic-import' ? { path: `${prefix}core`, external: true } : undefined;
      const name = path.basename(file, '.ts');
      if (args.kind !== 'dynamic-import' || !file.startsWith('src/') || !ON_DEMAND.includes(name)) {
        return { errors: [{ text: `${rel(args.importer)} is in the worker core and imports ${file}, which is not (${args.kind}); list it in ${CORE_ENTRY} or import it dynamically (one of: ${ON_DEMAND.join(', ')})` }] };
      }
      return { path: `${prefix}${name}`, external: true };
    });
  },
};

export default defineConfig([
  {
    ...common,
    entry: { core: CORE_ENTRY },
    splitting: false,
    esbuildPlugins: [fromCore],
    esbuildOptions(options, context) {
      common.esbuildOptions!(options, context);
      options.supported = { ...options.supported, 'dynamic-import': false };
    },
  },
  {
    ...common,
    entry: {
      index: 'src/index.ts',
      dummy: 'src/dummy.ts',
      ...Object.fromEntries(ON_DEMAND.map((name) => [name, `src/${name}.ts`])),
      'child/manager-server': 'src/child/manager-server.ts',
      'child/handles': 'src/handles.ts',
    },
    splitting: true,
    // Rollup makes the CommonJS chunks: tsup's own CommonJS splitting passes them through
    // sucrase, which turned every `?.` into a call of a helper (137 in one chunk, on hot paths).
    treeshake: true,
    esbuildPlugins: [toCore],
    dts: { entry: { index: 'src/index.ts', dummy: 'src/dummy.ts' } },
  },
  {
    ...common,
    entry: {
      'child/thread-entry': 'src/child/thread-entry.ts',
      'child/process-entry': 'src/child/process-entry.ts',
      'child/koffi-waiter': 'src/child/koffi-waiter.ts',
      'child/broker': 'src/child/broker.ts',
      'child/broker-client': 'src/child/broker-client.ts',
      'esm-import': 'src/esm-import.ts',
    },
    splitting: false,
  },
  {
    ...common,
    entry: { index: 'src/index.ts', dummy: 'src/dummy.ts' },
    format: ['esm'],
    dts: { only: true },
  },
]);
