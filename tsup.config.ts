import { defineConfig, type Options } from 'tsup';

const common: Options = {
  format: ['esm', 'cjs'],
  target: 'node20',
  platform: 'node',
  shims: true,
  sourcemap: true,
  outExtension: ({ format }) => ({ js: format === 'cjs' ? '.cjs' : '.js' }),
};

// Two builds. The library and the worker entries that run user code share one split build, so
// that a worker's library modules are the very instances the user's modules import. The helper
// threads (the koffi waiter, the broker and its client) run no user code: each is one file of
// its own. Kept in the split build, they cut its shared code into more, smaller chunks, and a
// new worker pays for every module it loads (on the test machine a fresh worker thread loads the
// same 150 KB of code in 5 ms as one module, in 10 ms as 16).
// `npm run build` empties dist/ first (two builds cannot both clean it).
export default defineConfig([
  {
    ...common,
    entry: {
      index: 'src/index.ts',
      dummy: 'src/dummy.ts',
      'child/thread-entry': 'src/child/thread-entry.ts',
      'child/process-entry': 'src/child/process-entry.ts',
      'child/pool-worker': 'src/child/pool-worker.ts',
      'child/manager-server': 'src/child/manager-server.ts',
      'child/handles': 'src/handles.ts',
    },
    splitting: true,
    dts: { entry: { index: 'src/index.ts', dummy: 'src/dummy.ts' } },
  },
  {
    ...common,
    entry: {
      'child/koffi-waiter': 'src/child/koffi-waiter.ts',
      'child/broker': 'src/child/broker.ts',
      'child/broker-client': 'src/child/broker-client.ts',
    },
    splitting: false,
  },
]);
