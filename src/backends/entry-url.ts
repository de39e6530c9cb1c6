/**
 * Locates the worker-side entry files next to the running build: `dist/child/*.cjs`.
 * (Every chunk of the build sits directly in `dist/`, and so does `core.cjs`, the worker core,
 * which holds this function and the pool worker's loop.)
 * @internal
 */
export function entryUrl(name: 'core' | 'thread-entry' | 'process-entry' | 'koffi-waiter' | 'broker' | 'broker-client' | 'manager-server' | 'handles'): URL {
  return new URL(name === 'core' ? './core.cjs' : `./child/${name}.cjs`, import.meta.url);
}
