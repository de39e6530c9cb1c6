/**
 * What a `Connection` runs over: a message channel that carries whole frames
 * (byte strings) in one direction or both. Two kinds exist:
 *
 * - ring channels (Pipe): shared-memory rings, usable from any worker on
 *   either start method, with blocking (`Sync`) and async forms;
 * - socket channels (Listener / Client): a Unix or TCP socket speaking
 *   Python's framing (a 4-byte big-endian length, or -1 and an 8-byte length
 *   for frames over 2 GiB); async forms only.
 *
 * Timeouts are milliseconds; `Infinity` waits forever; 0 does not wait.
 * @internal
 */

/** Returned by a read or poll whose timeout passed. */
export const TIMED_OUT: unique symbol = Symbol('timed-out');

/** A read's result: a frame, `null` at end of stream (every writer gone), or TIMED_OUT. */
export type ReadResult = Uint8Array | null | typeof TIMED_OUT;

/** Either direction of a channel may be missing (a one-way pipe end). */
export interface Channel {
  /** Frames can be read from this end. */
  readonly canRead: boolean;
  /** Frames can be written to this end. */
  readonly canWrite: boolean;
  /** Whether the blocking forms work (false for sockets: they need the event loop). */
  readonly supportsSync: boolean;

  /**
   * Sends one frame made of `parts` (concatenated). Resolves once the frame is
   * handed to the channel. Rejects with the signal's reason on abort (then
   * nothing of the frame was sent), with a `ProcessError` whose `code` is
   * `'EPIPE'` when no reader is left.
   */
  write(parts: readonly Uint8Array[], signal?: AbortSignal): Promise<void>;
  /** Blocking `write`; throws when `supportsSync` is false. */
  writeSync(parts: readonly Uint8Array[]): void;

  /**
   * Reads one whole frame. `maxLength`: a longer frame is an error (Python's
   * "bad message length"), after which the channel is not readable any more.
   */
  read(timeoutMs: number, signal?: AbortSignal, maxLength?: number): Promise<ReadResult>;
  /** Blocking `read`; throws when `supportsSync` is false. */
  readSync(timeoutMs: number, maxLength?: number): ReadResult;

  /** True when a frame (or the end of the stream) is ready to read within the timeout. */
  poll(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Blocking `poll`; throws when `supportsSync` is false. */
  pollSync(timeoutMs: number): boolean;

  /** Gives this end up; idempotent. Pending reads of this end reject. */
  close(): void;
}
