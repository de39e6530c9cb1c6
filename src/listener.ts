/**
 * Connections over sockets (Python's `multiprocessing.connection.Listener`
 * and `Client`): a Unix socket or TCP, with optional `authkey`
 * challenge-response, speaking Python's wire format so that either end can
 * be a Python program.
 * @module
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AuthenticationError, ProcessError } from './errors.js';
import { Connection } from './connection.js';
import { validateSignal, validateTimeout } from './internal/validators.js';
import { SocketChannel, DEFAULT_MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE } from './internal/socket-channel.js';
import {
  answerChallenge as answerOn,
  deliverChallenge as deliverOn,
  CHALLENGE_FORMS,
  type AuthDigest,
  type ChallengeForm,
} from './internal/auth.js';
import { trace } from './logging.js';

export type { AuthDigest, ChallengeForm };

/**
 * Socket family (Python's names). `'AF_UNIX'`: a Unix socket path (a name
 * starting with `'\0'` is in Linux's abstract namespace); `'AF_INET'`: IPv4
 * TCP. `'AF_PIPE'` (Windows named pipes) is not supported.
 */
export type Family = 'AF_INET' | 'AF_UNIX' | 'AF_PIPE';

/** A TCP address: `[host, port]` (Python's `(host, port)` tuple). */
export type InetAddress = readonly [host: string, port: number];

/** An address: a Unix socket path, or `[host, port]`. */
export type Address = string | InetAddress;

/** Default time allowed for the authentication handshake: 20 s (Python's `CONNECTION_TIMEOUT`). */
export const DEFAULT_AUTH_TIMEOUT = 20_000;

/** Options shared by `Listener.create` and `Client`. */
export interface SocketConnectionOptions {
  /** Socket family; inferred from the address when omitted. */
  family?: Family;
  /**
   * Shared secret (Python's `authkey`, bytes). When set, each side proves to
   * the other that it holds the same key (HMAC challenge-response) before
   * the connection is handed out; a peer without it gets `AuthenticationError`.
   * With no key, anyone who can reach the address can connect.
   */
  authkey?: Uint8Array;
  /**
   * Form of the challenge this side sends (the peer's challenge is answered
   * in whatever form it has): a digest of Python 3.12+'s `{digest}` form
   * (default `'sha256'`, understood by Python 3.11 and 3.12+ peers alike), or
   * `'legacy'` for Python 3.11's exact form (20 bytes, HMAC-MD5).
   */
  digest?: ChallengeForm;
  /**
   * Milliseconds allowed for the authentication handshake (default 20 000);
   * a peer that does not finish in time is refused with `AuthenticationError`.
   * `Infinity` waits forever (as Python).
   */
  authTimeout?: number;
  /**
   * Largest message accepted from the peer, in bytes (default 1 GiB). A peer
   * announcing a longer message is disconnected; the pending receive rejects.
   */
  maxMessageSize?: number;
}

/** Options of `Listener.create`. */
export interface ListenerOptions extends SocketConnectionOptions {
  /**
   * Length of the kernel's queue of connections not yet taken by Node.js
   * (default: Node's, 511). Python's default is 1, which suits blocking
   * clients; Node.js connects without blocking, so a short queue would refuse
   * bursts of clients.
   */
  backlog?: number;
}

/** Options of `Client`. */
export interface ClientOptions extends SocketConnectionOptions {
  /** Aborts connecting and the handshake; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `Listener.accept`. */
export interface AcceptOptions {
  /** Rejects the call with the signal's reason when aborted; no connection is taken. */
  signal?: AbortSignal;
}

// ---- argument checks ------------------------------------------------------

function received(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `'${v}' (string)`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  return typeof v;
}

function checkAuthkey(authkey: unknown): Uint8Array | undefined {
  if (authkey === undefined || authkey === null) return undefined;
  if (!(authkey instanceof Uint8Array)) {
    throw new TypeError(`authkey should be a byte string: options.authkey must be a Uint8Array or Buffer; received ${received(authkey)}`);
  }
  return authkey;
}

function refusePipe(): never {
  throw new RangeError(
    `Family AF_PIPE is not recognized. (the family must be 'AF_UNIX' or 'AF_INET'${process.platform === 'win32' ? '; Windows named pipes are not supported' : ' on this platform'}; received 'AF_PIPE')`,
  );
}

function checkFamilyName(family: unknown): 'AF_INET' | 'AF_UNIX' | undefined {
  if (family === undefined || family === null) return undefined;
  if (family === 'AF_PIPE') refusePipe();
  if (family !== 'AF_INET' && family !== 'AF_UNIX') {
    throw new RangeError(`options.family must be 'AF_UNIX' or 'AF_INET'; received ${received(family)}`);
  }
  if (family === 'AF_UNIX' && process.platform === 'win32') {
    throw new RangeError("Family AF_UNIX is not recognized. (use 'AF_INET' on Windows)");
  }
  return family;
}

/** Python's `address_type`. */
function familyOf(address: unknown): Family {
  if (Array.isArray(address)) return 'AF_INET';
  if (typeof address === 'string') return address.startsWith('\\\\') ? 'AF_PIPE' : 'AF_UNIX';
  throw new TypeError(`address type of ${received(address)} unrecognized: an address is a Unix socket path (string) or a [host, port] array`);
}

function checkInet(address: unknown): [string, number] {
  if (!Array.isArray(address) || address.length !== 2 || typeof address[0] !== 'string') {
    throw new TypeError(`an AF_INET address must be a [host, port] array; received ${received(address)}`);
  }
  const port: unknown = address[1];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`the port of an AF_INET address must be an integer from 0 to 65535; received ${received(port)}`);
  }
  return [address[0], port];
}

function checkUnix(address: unknown): string {
  if (typeof address !== 'string' || address.length === 0) {
    throw new TypeError(`an AF_UNIX address must be a non-empty socket path (string); received ${received(address)}`);
  }
  return address;
}

interface Common {
  authkey: Uint8Array | undefined;
  digest: ChallengeForm;
  authTimeout: number;
  maxMessageSize: number;
}

function checkCommon(options: SocketConnectionOptions | undefined): Common {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError(`options must be an object; received ${received(options)}`);
  }
  const o = options ?? {};
  const authkey = checkAuthkey(o.authkey);
  const digest = o.digest ?? 'sha256';
  if (!CHALLENGE_FORMS.includes(digest)) {
    throw new RangeError(`options.digest must be one of ${CHALLENGE_FORMS.map((f) => `'${f}'`).join(', ')}; received ${received(digest)}`);
  }
  const t = validateTimeout(o.authTimeout, 'options.authTimeout');
  const authTimeout = o.authTimeout === undefined ? DEFAULT_AUTH_TIMEOUT : t === undefined ? Infinity : Math.max(0, t);
  const m = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > MAX_MESSAGE_SIZE) {
    throw new RangeError(`options.maxMessageSize must be an integer number of bytes from 0 to ${MAX_MESSAGE_SIZE}; received ${received(m)}`);
  }
  return { authkey, digest, authTimeout, maxMessageSize: m };
}

/** Resolves an AF_INET host to an IPv4 address, as Python's AF_INET sockets do. */
async function ipv4(host: string): Promise<string> {
  if (host === '') return '0.0.0.0';
  return (await lookup(host, { family: 4 })).address;
}

/** Runs `fn` with a signal that aborts after `ms` (with an AuthenticationError) or when `outer` aborts. */
async function withDeadline<T>(ms: number, outer: AbortSignal | undefined, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onOuter = () => ac.abort(outer!.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  const timer = Number.isFinite(ms)
    ? setTimeout(() => ac.abort(new AuthenticationError(`${what} did not complete in ${ms} ms (authTimeout): does the other side use an authkey too?`)), ms)
    : undefined;
  timer?.unref();
  try {
    return await fn(ac.signal);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

/** Handshake failures reach the caller as AuthenticationError, the underlying error as `cause`. */
function asAuthError(e: unknown, who: string): AuthenticationError {
  if (e instanceof AuthenticationError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new AuthenticationError(`authentication with ${who} failed: ${msg}`, { cause: e });
}

// ---- files of default Unix addresses ----------------------------------------

const live = new Set<Listener>();
let exitHook = false;

function cleanupAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const l of live) l.close();
  });
}

// ---- Listener -------------------------------------------------------------

const kCreate = Symbol('create');

type Arrival = { ok: true; channel: SocketChannel; peer: string | [string, number] } | { ok: false; error: AuthenticationError; peer: string | [string, number] };

interface Acceptor {
  resolve(a: Arrival): void;
  reject(e: unknown): void;
}

/** At most this many failed handshakes wait for `accept()` to report them; older ones are dropped. */
const MAX_QUEUED_FAILURES = 32;

/**
 * A bound, listening socket that accepts connections (Python's
 * `multiprocessing.connection.Listener`).
 *
 * Create one with `await Listener.create(address?, options?)`: binding a
 * socket is asynchronous in Node.js, and the factory hands out a listener
 * that is already bound (with its resolved `address`, e.g. the port picked
 * for `['127.0.0.1', 0]`), so no half-ready object exists, and a bind error
 * (such as an address in use) rejects the `create` call itself.
 *
 * With an `authkey`, every incoming connection runs the handshake as soon as
 * it arrives, several at a time; `accept()` hands out connections in the
 * order their handshakes finish, so a slow or silent peer never holds up the
 * others. A peer that fails makes one `accept()` reject with
 * `AuthenticationError` (as Python's `accept` raises); the listener stays
 * usable, and the next `accept()` takes the next peer.
 *
 * Liveness: an `accept()` in progress keeps the program alive; an idle
 * listener does not (a Python program that is not blocked in `accept` ends
 * too).
 *
 * @example
 * ```ts
 * const listener = await Listener.create(['127.0.0.1', 0], { authkey: Buffer.from('secret') });
 * const conn = await listener.accept();
 * console.log(await conn.recvBytes());
 * conn.close();
 * listener.close();
 * ```
 */
export class Listener {
  readonly #server: Server;
  readonly #address: Address;
  readonly #family: 'AF_INET' | 'AF_UNIX';
  readonly #common: Common;
  readonly #tempDir: string | null;
  #closed = false;
  #lastAccepted: string | [string, number] | null = null;
  #arrivals: Arrival[] = [];
  #failures = 0;
  #acceptors: Acceptor[] = [];
  readonly #handshakes = new Set<{ channel: SocketChannel; abort: AbortController }>();

  /** @internal use `Listener.create()`. */
  private constructor(key: typeof kCreate, server: Server, address: Address, family: 'AF_INET' | 'AF_UNIX', common: Common, tempDir: string | null) {
    if (key !== kCreate) throw new TypeError('Listener cannot be constructed with new: use await Listener.create(address?, options?)');
    this.#server = server;
    this.#address = address;
    this.#family = family;
    this.#common = common;
    this.#tempDir = tempDir;
    server.on('connection', (socket) => this.#arrive(socket));
    server.on('error', (e) => trace(`listener ${this.#describe()}: ${e.message}`));
    server.unref();
  }

  /**
   * Binds and listens (Python's `Listener(address, family, backlog, authkey)`).
   *
   * @param address - a Unix socket path (`'\0name'` for Linux's abstract
   *   namespace) or `[host, port]` (`['127.0.0.1', 0]` picks a free port).
   *   Omitted: a Unix socket in a fresh temporary directory, removed by
   *   `close()` or at exit.
   * @throws (rejects) the operating system's error (`code` `'EADDRINUSE'`,
   *   `'EACCES'`, ...) when the address cannot be bound; `TypeError` /
   *   `RangeError` for bad arguments (`'AF_PIPE'`: "Family AF_PIPE is not recognized.").
   */
  static async create(address?: Address | null, options?: ListenerOptions): Promise<Listener> {
    const common = checkCommon(options);
    const o = options ?? {};
    let family = checkFamilyName(o.family);
    if (address !== undefined && address !== null) {
      const inferred = familyOf(address);
      if (inferred === 'AF_PIPE') refusePipe();
      family ??= inferred;
    }
    family ??= process.platform === 'win32' ? 'AF_INET' : 'AF_UNIX';
    let backlog: number | undefined;
    if (o.backlog !== undefined) {
      if (typeof o.backlog !== 'number' || !Number.isInteger(o.backlog) || o.backlog < 0) {
        throw new RangeError(`options.backlog must be a non-negative integer; received ${received(o.backlog)}`);
      }
      backlog = o.backlog;
    }

    let tempDir: string | null = null;
    let listenOptions: { path: string } | { host: string; port: number };
    if (family === 'AF_UNIX') {
      let path: string;
      if (address === undefined || address === null) {
        tempDir = mkdtempSync(join(tmpdir(), 'mp-ts-'));
        path = join(tempDir, `listener-${randomBytes(6).toString('hex')}`);
      } else path = checkUnix(address);
      listenOptions = { path };
    } else {
      const [host, port] = address === undefined || address === null ? ['127.0.0.1', 0] : checkInet(address);
      listenOptions = { host: await ipv4(host), port };
    }

    const server = createServer({ allowHalfOpen: false, pauseOnConnect: false });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ ...listenOptions, backlog, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      server.close();
      if (tempDir !== null) rmSync(tempDir, { recursive: true, force: true });
      throw e;
    }
    let resolved: Address;
    if (family === 'AF_UNIX') resolved = (listenOptions as { path: string }).path;
    else {
      const a = server.address();
      if (a === null || typeof a === 'string') throw new ProcessError('the TCP listener has no address');
      resolved = [a.address, a.port];
    }
    const listener = new Listener(kCreate, server, resolved, family, common, tempDir);
    live.add(listener);
    cleanupAtExit();
    return listener;
  }

  /** The bound address: the socket path, or `[host, port]` with the port picked when 0 was asked. */
  get address(): Address {
    return this.#address;
  }

  /** The socket family: `'AF_UNIX'` or `'AF_INET'`. */
  get family(): 'AF_INET' | 'AF_UNIX' {
    return this.#family;
  }

  /**
   * The peer of the connection last taken by `accept()` (Python's
   * `last_accepted`): `[host, port]` for TCP, `''` for a Unix socket (its
   * clients have no name); `null` before the first.
   */
  get lastAccepted(): string | [string, number] | null {
    return this.#lastAccepted;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #arrive(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const { authkey, maxMessageSize } = this.#common;
    // Until accept() hands it out, the connection does not keep the program alive.
    const channel = new SocketChannel(socket, { maxMessageSize, handshakeFrames: authkey ? 3 : 0, keepAliveWhileBusy: false });
    const peer = channel.peerAddress();
    if (authkey === undefined) {
      this.#deliver({ ok: true, channel, peer });
      return;
    }
    const abort = new AbortController();
    const entry = { channel, abort };
    this.#handshakes.add(entry);
    withDeadline(this.#common.authTimeout, abort.signal, 'the client\'s authentication handshake', async (signal) => {
      await deliverOn(channel, authkey, this.#common.digest, signal);
      await answerOn(channel, authkey, signal);
    }).then(
      () => {
        this.#handshakes.delete(entry);
        if (this.#closed) channel.close();
        else this.#deliver({ ok: true, channel, peer });
      },
      (e: unknown) => {
        this.#handshakes.delete(entry);
        channel.close();
        if (this.#closed) return;
        const error = asAuthError(e, `a client of ${this.#describe()}`);
        trace(`listener ${this.#describe()}: refused a client: ${error.message}`);
        this.#deliver({ ok: false, error, peer });
      },
    );
  }

  #describe(): string {
    return typeof this.#address === 'string' ? JSON.stringify(this.#address) : `${this.#address[0]}:${this.#address[1]}`;
  }

  #deliver(a: Arrival): void {
    const acceptor = this.#acceptors.shift();
    if (acceptor !== undefined) {
      this.#updateRef();
      acceptor.resolve(a);
      return;
    }
    if (!a.ok) {
      if (this.#failures >= MAX_QUEUED_FAILURES) {
        // forget the oldest report: a flood of bad peers must not grow the queue
        this.#arrivals.splice(this.#arrivals.findIndex((x) => !x.ok), 1);
        this.#failures--;
      }
      this.#failures++;
    }
    this.#arrivals.push(a);
  }

  #take<S, R>(a: Arrival): Connection<S, R> {
    this.#lastAccepted = a.peer;
    if (!a.ok) throw a.error;
    a.channel.setKeepAliveWhileBusy(true);
    return Connection._over<S, R>(a.channel);
  }

  #updateRef(): void {
    if (this.#acceptors.length > 0 && !this.#closed) this.#server.ref();
    else this.#server.unref();
  }

  /**
   * Waits for the next connection (Python's `accept`). With an `authkey`,
   * resolves once that peer has passed the handshake both ways.
   * @throws AuthenticationError (rejects) when the next peer failed the
   *   handshake (wrong key, no key, garbage, or no answer within
   *   `authTimeout`); the listener stays usable.
   * @throws ProcessError `'listener is closed'` after `close()`, also for an
   *   `accept()` waiting when `close()` is called.
   */
  async accept<S = unknown, R = S>(options?: AcceptOptions): Promise<Connection<S, R>> {
    const signal = validateSignal(options);
    if (this.#closed) throw new ProcessError('listener is closed: accept() was called after close()');
    signal?.throwIfAborted();
    const ready = this.#arrivals.shift();
    if (ready !== undefined) {
      if (!ready.ok) this.#failures--;
      return this.#take<S, R>(ready);
    }
    const arrival = await new Promise<Arrival>((resolve, reject) => {
      const acceptor: Acceptor = {
        resolve: (a) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(a);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.#acceptors.indexOf(acceptor);
        if (i >= 0) this.#acceptors.splice(i, 1);
        this.#updateRef();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#acceptors.push(acceptor);
      this.#updateRef();
    });
    return this.#take<S, R>(arrival);
  }

  /**
   * Stops listening (idempotent). Connections already accepted stay open;
   * connections not yet accepted are closed; a waiting `accept()` rejects.
   * A Unix socket file is removed (and the temporary directory of a default
   * address); an abstract name needs no removal.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    live.delete(this);
    this.#server.close();
    this.#server.unref();
    for (const h of this.#handshakes) {
      h.abort.abort(new ProcessError('listener is closed'));
      h.channel.close();
    }
    this.#handshakes.clear();
    for (const a of this.#arrivals) if (a.ok) a.channel.close();
    this.#arrivals = [];
    this.#failures = 0;
    const acceptors = this.#acceptors;
    this.#acceptors = [];
    for (const a of acceptors) a.reject(new ProcessError('listener is closed: close() was called while accept() waited'));
    // The socket file goes with the server: libuv unlinks it inside server.close(),
    // before closing the descriptor (unlinking it again here could remove a
    // socket that another process has just bound at the same path).
    if (this.#tempDir !== null) rmSync(this.#tempDir, { recursive: true, force: true });
  }

  /** `using` support: closes. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using` support: closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

// ---- Client ---------------------------------------------------------------

function connectSocket(options: { path: string } | { host: string; port: number }, signal: AbortSignal | undefined): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = 'path' in options ? connect({ path: options.path, allowHalfOpen: false }) : connect({ host: options.host, port: options.port, family: 4, allowHalfOpen: false });
    const done = () => {
      socket.off('error', onError);
      socket.off('connect', onConnect);
      signal?.removeEventListener('abort', onAbort);
    };
    const onConnect = () => {
      done();
      resolve(socket);
    };
    const onError = (e: Error) => {
      done();
      socket.destroy();
      reject(e);
    };
    const onAbort = () => {
      done();
      socket.destroy();
      reject(signal!.reason);
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Connects to a `Listener` (ours or Python's) and resolves to the
 * connection (Python's `multiprocessing.connection.Client`). With an
 * `authkey`, first answers the listener's challenge, then challenges it.
 *
 * @param address - the listener's address: a Unix socket path or `[host, port]`.
 * @throws (rejects) the operating system's error when nothing listens there
 *   (`code` `'ECONNREFUSED'`, `'ENOENT'`); `AuthenticationError` when the
 *   handshake fails (wrong key, a listener without a key, `authTimeout`
 *   passed); `TypeError` / `RangeError` for bad arguments.
 * @example
 * ```ts
 * const conn = await Client(['127.0.0.1', 6000], { authkey: Buffer.from('secret') });
 * await conn.sendBytes(Buffer.from('hello'));
 * conn.close();
 * ```
 */
export async function Client<S = unknown, R = S>(address: Address, options?: ClientOptions): Promise<Connection<S, R>> {
  const common = checkCommon(options);
  const signal = validateSignal(options);
  const familyOption = checkFamilyName(options?.family);
  const family = familyOption ?? familyOf(address);
  if (family === 'AF_PIPE') refusePipe();
  signal?.throwIfAborted();
  let target: { path: string } | { host: string; port: number };
  if (family === 'AF_UNIX') target = { path: checkUnix(address) };
  else {
    const [host, port] = checkInet(address);
    target = { host: host === '' ? '127.0.0.1' : host, port };
  }
  const socket = await connectSocket(target, signal);
  const channel = new SocketChannel(socket, { maxMessageSize: common.maxMessageSize, handshakeFrames: common.authkey ? 3 : 0 });
  const { authkey } = common;
  if (authkey !== undefined) {
    try {
      await withDeadline(common.authTimeout, signal, 'the authentication handshake with the listener', async (s) => {
        await answerOn(channel, authkey, s);
        await deliverOn(channel, authkey, common.digest, s);
      });
    } catch (e) {
      channel.close();
      if (signal?.aborted && e === signal.reason) throw e;
      throw asAuthError(e, `the listener at ${typeof address === 'string' ? JSON.stringify(address) : `${address[0]}:${address[1]}`}`);
    }
  }
  return Connection._over<S, R>(channel);
}

// ---- handshake on any connection --------------------------------------------

/** Options of `deliverChallenge` / `answerChallenge`. */
export interface ChallengeOptions {
  /** Form of the challenge sent (`deliverChallenge` only); default `'sha256'`. */
  digest?: ChallengeForm;
  /** Aborts the handshake; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

function connectionChannel(connection: unknown): ReturnType<typeof Connection._channel> {
  if (!(connection instanceof Connection)) throw new TypeError(`connection must be a Connection; received ${received(connection)}`);
  if (connection.closed) throw new ProcessError('handle is closed: this Connection was closed');
  return Connection._channel(connection);
}

function checkKeyBytes(authkey: unknown): Uint8Array {
  if (!(authkey instanceof Uint8Array)) throw new TypeError(`authkey must be bytes (a Uint8Array or Buffer); received ${received(authkey)}`);
  return authkey;
}

/**
 * Challenges the other end of `connection` to prove that it holds `authkey`
 * (Python's `deliver_challenge`); the other end calls `answerChallenge`.
 * `Listener` and `Client` do this themselves when given an `authkey`.
 * @throws AuthenticationError (rejects) when the answer is wrong.
 */
export async function deliverChallenge(connection: Connection<unknown, unknown>, authkey: Uint8Array, options?: ChallengeOptions): Promise<void> {
  const channel = connectionChannel(connection);
  const key = checkKeyBytes(authkey);
  const form = options?.digest ?? 'sha256';
  if (!CHALLENGE_FORMS.includes(form)) throw new RangeError(`options.digest must be one of ${CHALLENGE_FORMS.join(', ')}; received ${received(form)}`);
  const signal = validateSignal(options);
  signal?.throwIfAborted();
  await deliverOn(channel, key, form, signal);
}

/**
 * Answers the challenge sent by `deliverChallenge` at the other end of
 * `connection` (Python's `answer_challenge`).
 * @throws AuthenticationError (rejects) when the other end refuses the answer.
 */
export async function answerChallenge(connection: Connection<unknown, unknown>, authkey: Uint8Array, options?: Pick<ChallengeOptions, 'signal'>): Promise<void> {
  const channel = connectionChannel(connection);
  const key = checkKeyBytes(authkey);
  const signal = validateSignal(options);
  signal?.throwIfAborted();
  await answerOn(channel, key, signal);
}
