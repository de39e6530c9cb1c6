/**
 * Error classes of multiprocessing-ts. Every class extends {@link ProcessError}
 * and carries a stable `code`.
 *
 * `instanceof` works across the ESM and CommonJS builds of the package (and
 * across copies of it), because membership is decided by a brand kept on the
 * instance, not by prototype identity.
 *
 * @module
 */

const BRAND = Symbol.for('multiprocessing-ts.error-kinds');

type Branded = { [BRAND]?: readonly string[] };

/**
 * Base class of every error this library throws on purpose (Python's
 * `multiprocessing.ProcessError`). Misuse, such as joining a process that was
 * never started, throws a plain `ProcessError` whose message says what was
 * wrong and what to do.
 */
export class ProcessError extends Error {
  /** Stable machine-readable code of the error class, e.g. `'ERR_MP_TIMEOUT'`. */
  readonly code: string;

  /**
   * @param message - what went wrong and what to do about it.
   * @param options - `cause`: the underlying error, if any.
   */
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
    const ctor = new.target as unknown as { code?: string; kinds?: readonly string[] };
    this.code = ctor.code ?? 'ERR_MP_PROCESS';
    Object.defineProperty(this, BRAND, { value: ctor.kinds ?? ['ProcessError'], enumerable: false });
    Object.defineProperty(this, 'name', {
      value: new.target.name,
      enumerable: false,
      writable: true,
      configurable: true,
    });
  }

  /** @internal code shared by every instance of the class. */
  static readonly code: string = 'ERR_MP_PROCESS';
  /** @internal names of this class and its bases, used by `instanceof`. */
  static readonly kinds: readonly string[] = ['ProcessError'];

  /** `instanceof` that holds across package copies (ESM and CommonJS builds). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== 'object' || value === null || !Object.hasOwn(this, 'kinds')) return false;
    const kinds = (value as Branded)[BRAND];
    return kinds !== undefined && kinds.includes(this.kinds[0]!);
  }
}

function kind<T extends typeof ProcessError>(base: T, name: string, code: string) {
  return { kinds: [name, ...base.kinds] as readonly string[], code };
}

/** A wait with a timeout ran out of time (Python's `multiprocessing.TimeoutError`). */
export class TimeoutError extends ProcessError {
  static override readonly code = 'ERR_MP_TIMEOUT';
  static override readonly kinds = kind(ProcessError, 'TimeoutError', 'ERR_MP_TIMEOUT').kinds;
}

/** A queue had no item to give (Python's `queue.Empty`). */
export class Empty extends ProcessError {
  static override readonly code = 'ERR_MP_EMPTY';
  static override readonly kinds = kind(ProcessError, 'Empty', 'ERR_MP_EMPTY').kinds;
}

/** A bounded queue had no room (Python's `queue.Full`). */
export class Full extends ProcessError {
  static override readonly code = 'ERR_MP_FULL';
  static override readonly kinds = kind(ProcessError, 'Full', 'ERR_MP_FULL').kinds;
}

/** The other end of a connection is closed and nothing is left to read. */
export class EOFError extends ProcessError {
  static override readonly code = 'ERR_MP_EOF';
  static override readonly kinds = kind(ProcessError, 'EOFError', 'ERR_MP_EOF').kinds;
}

/** A barrier was broken (aborted, reset, timed out, or a party died) while waiting. */
export class BrokenBarrierError extends ProcessError {
  static override readonly code = 'ERR_MP_BROKEN_BARRIER';
  static override readonly kinds = kind(ProcessError, 'BrokenBarrierError', 'ERR_MP_BROKEN_BARRIER').kinds;
}

/** A peer failed the `authkey` challenge. */
export class AuthenticationError extends ProcessError {
  static override readonly code = 'ERR_MP_AUTHENTICATION';
  static override readonly kinds = kind(ProcessError, 'AuthenticationError', 'ERR_MP_AUTHENTICATION').kinds;
}

/** A message did not fit the buffer given to `recvBytesInto`; the message is on `.bytes`. */
export class BufferTooShort extends ProcessError {
  static override readonly code = 'ERR_MP_BUFFER_TOO_SHORT';
  static override readonly kinds = kind(ProcessError, 'BufferTooShort', 'ERR_MP_BUFFER_TOO_SHORT').kinds;
}

/** A worker died (crash, `process.exit`, out of memory, kill) while it was running a task. */
export class WorkerLostError extends ProcessError {
  static override readonly code = 'ERR_MP_WORKER_LOST';
  static override readonly kinds = kind(ProcessError, 'WorkerLostError', 'ERR_MP_WORKER_LOST').kinds;
}

/** An error raised in another process whose class could not be rebuilt here. */
export class RemoteError extends ProcessError {
  static override readonly code = 'ERR_MP_REMOTE';
  static override readonly kinds = kind(ProcessError, 'RemoteError', 'ERR_MP_REMOTE').kinds;
}

/** Every error class of the package, by name (used to rebuild errors that cross workers). */
export const errorClasses: Readonly<Record<string, typeof ProcessError>> = {
  ProcessError,
  TimeoutError,
  Empty,
  Full,
  EOFError,
  BrokenBarrierError,
  AuthenticationError,
  BufferTooShort,
  WorkerLostError,
  RemoteError,
};
