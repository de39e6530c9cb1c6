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

/** A byte buffer argument as a `Uint8Array` over the same memory (`sendBytes`, `recvBytesInto`). */
export function asBytes(buf: unknown, name: string): Uint8Array {
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer)) {
    return new Uint8Array(buf);
  }
  throw new TypeError(`${name} must be a Uint8Array, another ArrayBufferView or an ArrayBuffer; received ${buf === null ? 'null' : typeof buf}`);
}

/** An integer argument (offsets, sizes), checked. */
export function intArg(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer; received ${String(v)}`);
  return v;
}

/** Python's `Connection.poll` timeout: default 0, `null`/`Infinity` forever, negative acts as 0. */
export function pollTimeout(ms: unknown): number {
  if (ms === null) return Infinity;
  if (ms === undefined) return 0;
  const t = validateTimeout(ms, 'timeout');
  return t === undefined ? Infinity : Math.max(0, t);
}
