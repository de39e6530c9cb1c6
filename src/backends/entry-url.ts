/**
 * Locates the worker-side entry files next to the running build:
 * `dist/child/*.js` for the ESM build, `dist/child/*.cjs` for the CommonJS one.
 * (Every chunk of the build sits directly in `dist/`.)
 * @internal
 */
export function entryUrl(name: 'thread-entry' | 'process-entry' | 'koffi-waiter' | 'broker' | 'broker-client' | 'pool-worker' | 'manager-server' | 'handles'): URL {
  const here = import.meta.url;
  const ext = here.endsWith('.cjs') ? '.cjs' : '.js';
  return new URL(`./child/${name}${ext}`, here);
}
