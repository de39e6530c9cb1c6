import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    dummy: 'src/dummy.ts',
    'child/thread-entry': 'src/child/thread-entry.ts',
    'child/process-entry': 'src/child/process-entry.ts',
    'child/koffi-waiter': 'src/child/koffi-waiter.ts',
    'child/broker': 'src/child/broker.ts',
    'child/broker-client': 'src/child/broker-client.ts',
    'child/pool-worker': 'src/child/pool-worker.ts',
    'child/manager-server': 'src/child/manager-server.ts',
    'child/handles': 'src/handles.ts',
  },
  format: ['esm', 'cjs'],
  target: 'node20',
  platform: 'node',
  splitting: true,
  shims: true,
  sourcemap: true,
  clean: true,
  dts: { entry: { index: 'src/index.ts', dummy: 'src/dummy.ts' } },
  outExtension: ({ format }) => ({ js: format === 'cjs' ? '.cjs' : '.js' }),
});
