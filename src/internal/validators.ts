/**
 * Argument checks shared by every module: they name the argument, what was
 * expected and what was received.
 * @internal
 */

/** Options of every call that waits. */
export interface WaitOptions {
  /** Aborts the wait: the call rejects with the signal's reason and the object stays as it was. */
  signal?: AbortSignal;
}

function received(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `'${v}' (string)`;
  return typeof v;
}

/**
 * A timeout in milliseconds: `undefined` (or `null`) waits forever, 0 or a
 * negative number does not wait, `NaN` or a non-number is a TypeError.
 */
export function validateTimeout(ms: unknown, name: string): number | undefined {
  if (ms === undefined || ms === null) return undefined;
  if (typeof ms !== 'number' || Number.isNaN(ms)) {
    throw new TypeError(`${name} must be a number of milliseconds or undefined; received ${received(ms)}`);
  }
  return ms === Infinity ? undefined : ms;
}

/** The `signal` of a WaitOptions bag, checked. */
export function validateSignal(options: unknown): AbortSignal | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object') {
    throw new TypeError(`options must be an object like { signal }; received ${received(options)}`);
  }
  const signal = (options as { signal?: unknown }).signal;
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new TypeError(`options.signal must be an AbortSignal; received ${received(signal)}`);
  }
  return signal;
}
