/**
 * Locates the worker-side entry files next to the running build: `dist/child/*.cjs`
 * (the build is CommonJS; the extension follows this file's own).
 * (Every chunk of the build sits directly in `dist/`, and so does `core`, the
 * worker core, which holds this function and the pool worker's loop.)
 * @internal
 */
export function entryUrl(name: 'core' | 'thread-entry' | 'process-entry' | 'koffi-waiter' | 'broker' | 'broker-client' | 'manager-server' | 'handles'): URL {
  const here = import.meta.url;
  const ext = here.endsWith('.cjs') ? '.cjs' : '.js';
  return new URL(name === 'core' ? `./core${ext}` : `./child/${name}${ext}`, here);
}
