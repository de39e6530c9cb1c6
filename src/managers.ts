/**
 * Managers (Python's `multiprocessing.managers`): objects kept by a server
 * (in a worker of its own, or in any program), used from any worker through
 * proxies whose calls travel over a socket, authenticated with `authkey`.
 *
 * - `await Manager()`: a started {@link SyncManager} with `dict`, `list`,
 *   `Namespace`, `Value`, `Array`, `Queue`, `JoinableQueue`, `Lock`, `RLock`,
 *   `Semaphore`, `BoundedSemaphore`, `Condition`, `Event`, `Barrier` and `Pool`.
 * - {@link BaseManager}: register your own types; `start()` a server,
 *   `connect()` to one elsewhere, or serve in this program
 *   (`serveForever()`).
 *
 * Every proxy call is async. Values come back as copies; a proxy stored in a
 * managed container comes back as a proxy.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { ProcessError, RemoteError } from './errors.js';
import { Client, type Address } from './listener.js';
import { Connection, Pipe } from './connection.js';
import type { SocketChannel } from './internal/socket-channel.js';
import { TIMED_OUT } from './internal/channel.js';
import { REDUCE, registerHandleKind, type Reduced } from './reduction.js';
import { fnRef, lookupFunction } from './fnref.js';
import { entryUrl } from './backends/entry-url.js';
import { getContext, type Context, type StartMethodName } from './context.js';
import type { Process } from './process.js';
import { validateSignal, validateTimeout, type WaitOptions } from './internal/validators.js';
import {
  MARK,
  OP_CALL,
  OP_CANCEL,
  OP_CREATE,
  OP_DECREF,
  OP_INCREF,
  OP_INFO,
  OP_SHUTDOWN,
  ST_CANCELLED,
  ST_ERROR,
  ST_OK,
  checkResponse,
  decodeFrame,
  encodeFrame,
  needsWalk,
  walkIn,
  walkOut,
  type ProxyMarker,
  type Request,
} from './protocol/manager.js';
import { GETVALUE, ManagerServer, type ServerType } from './internal/manager-server.js';
import type { FnRefData } from './protocol/messages.js';
import type { managerServerMain } from './child/manager-server.js';

/** Default cap on one message to or from a manager: 256 MiB. */
export const DEFAULT_MANAGER_MAX_MESSAGE_SIZE = 256 * 2 ** 20;

function received(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `'${v}' (string)`;
  if (typeof v === 'number') return String(v);
  return typeof v;
}

function addressKey(a: Address): string {
  return typeof a === 'string' ? `unix:${a}` : `tcp:${a[0]}:${a[1]}`;
}

/** Key of a pooled connection: the address and the key it authenticated with. */
function connectionKey(link: Link): string {
  return `${addressKey(link.address)}#${createHash('sha256').update(link.authkey).digest('hex').slice(0, 32)}`;
}

function describeAddress(a: Address): string {
  return typeof a === 'string' ? JSON.stringify(a) : `${a[0]}:${a[1]}`;
}

// ---- client connections ------------------------------------------------------

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Where a proxy's server is and how to reach it. */
interface Link {
  readonly address: Address;
  readonly authkey: Uint8Array;
  readonly maxMessageSize: number;
  /** cache of the pool key */
  key?: string;
}

/**
 * One authenticated connection to a manager's server, shared by every proxy
 * of that server in this thread (as Python's per-thread connection). Calls
 * made in the same turn of the event loop go out in one frame, and answers
 * come back batched too, so many calls in flight cost few system calls.
 */
class ClientConn {
  readonly #channel: SocketChannel;
  readonly #connection: Connection<unknown, unknown>;
  readonly link: Link;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #outbox: Request[] = [];
  #scheduled = false;
  #reading = false;
  #broken: Error | null = null;
  readonly #key: string;

  constructor(connection: Connection<unknown, unknown>, link: Link, key: string) {
    this.#connection = connection;
    this.#channel = Connection._channel(connection) as SocketChannel;
    this.link = link;
    this.#key = key;
  }

  get broken(): boolean {
    return this.#broken !== null;
  }

  /** Sends one request; resolves with the decoded answer. */
  request(op: number, target: number | string, method: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    if (this.#broken) return Promise.reject(this.#broken);
    let walked: 0 | 1 = 0;
    let data = args;
    if (args.length > 0 && needsWalk(args)) {
      try {
        data = walkOut(args, 'args', (v) => proxyMarkerFor(v, this.link)) as unknown[];
      } catch (e) {
        return Promise.reject(e);
      }
      walked = 1;
    }
    const id = this.#next++;
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        p.onAbort = () => {
          // ask the server to give up; the answer says whether it did (it may have completed first)
          this.#queue([this.#next++, OP_CANCEL, id, '', 0, []]);
        };
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.#pending.set(id, p);
      this.#queue([id, op, target, method, walked, data]);
      this.#ensureReading();
    });
  }

  /** Sends a request whose answer nobody waits for (a reference given back). */
  notify(op: number, target: number): void {
    if (this.#broken) return;
    const id = this.#next++;
    this.#pending.set(id, { resolve: () => {}, reject: () => {}, signal: undefined, onAbort: undefined });
    this.#queue([id, op, target, '', 0, []]);
    this.#ensureReading();
  }

  #queue(r: Request): void {
    this.#outbox.push(r);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#outbox.length === 0 || this.#broken) return;
    const batch = this.#outbox;
    this.#outbox = [];
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(batch);
    } catch (e) {
      // a value V8 cannot serialize: fail these requests only
      for (const r of batch) this.#settle(r[0], () => new TypeError(`the arguments cannot be sent to a manager: ${(e as Error).message}`));
      return;
    }
    this.#channel.write([bytes]).catch((e: unknown) => this.#fail(e));
  }

  #settle(id: number, error: () => Error): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
    p.reject(error());
  }

  #ensureReading(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    try {
      while (this.#pending.size > 0) {
        const frame = await this.#channel.read(Infinity);
        if (frame === TIMED_OUT) continue;
        if (frame === null) throw brokenPipe(`the manager's server at ${describeAddress(this.link.address)} closed the connection`);
        const batch = decodeFrame(frame);
        for (const raw of batch) this.#answer(raw);
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#reading = false;
    }
  }

  #answer(raw: unknown): void {
    const [id, status, walked, value] = checkResponse(raw);
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
    try {
      switch (status) {
        case ST_OK:
          p.resolve(walked === 1 ? walkIn(value, (m) => proxyFromMarker(m, this.link)) : value);
          return;
        case ST_ERROR:
          p.reject(walkIn(value, (m) => proxyFromMarker(m, this.link)));
          return;
        case ST_CANCELLED:
          p.reject(p.signal?.reason ?? new ProcessError('the call was cancelled'));
          return;
        default:
          p.reject(new RemoteError(`the manager's server refused the request: ${typeof value === 'string' ? value : 'unknown reason'}`));
      }
    } catch (e) {
      p.reject(e);
    }
  }

  #fail(e: unknown): void {
    if (this.#broken) return;
    this.#broken = e instanceof Error ? e : new Error(String(e));
    if (pool().get(this.#key) === this) pool().delete(this.#key);
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) {
      if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
      p.reject(this.#broken);
    }
    this.#connection.close();
  }

  close(): void {
    this.#fail(brokenPipe('the connection to the manager was closed (the manager was shut down)'));
  }
}

function brokenPipe(message: string): ProcessError {
  const err = new ProcessError(message);
  Object.defineProperty(err, 'code', { value: 'EPIPE', enumerable: true, configurable: true, writable: true });
  return err;
}

const POOL = Symbol.for('multiprocessing-ts.managerConnections');
const OPENING = Symbol.for('multiprocessing-ts.managerConnectionsOpening');

function pool(): Map<string, ClientConn> {
  const g = globalThis as unknown as Record<symbol, Map<string, ClientConn> | undefined>;
  return (g[POOL] ??= new Map());
}

function opening(): Map<string, Promise<ClientConn>> {
  const g = globalThis as unknown as Record<symbol, Map<string, Promise<ClientConn>> | undefined>;
  return (g[OPENING] ??= new Map());
}

/** This thread's connection to the server at `link.address` (opened on first use). */
function connectionFor(link: Link): ClientConn | Promise<ClientConn> {
  const key = link.key ??= connectionKey(link);
  const c = pool().get(key);
  if (c && !c.broken) return c;
  let p = opening().get(key);
  if (!p) {
    p = (async () => {
      try {
        const connection = await Client(link.address as Address, { authkey: link.authkey, maxMessageSize: link.maxMessageSize });
        const conn = new ClientConn(connection, link, key);
        pool().set(key, conn);
        return conn;
      } finally {
        opening().delete(key);
      }
    })();
    opening().set(key, p);
  }
  return p;
}

/** Closes this thread's connection(s) to `address`, if open. */
function closeConnection(address: Address): void {
  const prefix = `${addressKey(address)}#`;
  for (const [k, c] of [...pool()]) if (k.startsWith(prefix)) c.close();
}

// ---- proxies ------------------------------------------------------------------

/** What `BaseManager.info()` reports about a running server. */
export interface ServerInfo {
  /** The server's process id (the owner's own pid when the server is a worker thread). */
  pid: number;
  /** Managed objects alive in the server now. */
  objects: number;
  /** The typeids the server can create. */
  typeids: string[];
}

/** What identifies a managed object: its typeid, the server's address and its id there. */
export interface Token {
  /** The registered type of the object (`'dict'`, `'Queue'`, or one given to `register()`). */
  readonly typeid: string;
  /** The address of the server that holds the object. */
  readonly address: Address;
  /** The object's id in that server. */
  readonly id: number;
}

const kInit = Symbol('proxy-init');

/**
 * What a proxy is built from (opaque): a manager makes it; a subclass of
 * {@link BaseProxy} only passes it on to `super`.
 */
export interface ProxyInit {
  /** @internal */
  [kInit]: true;
  /** The object the proxy stands for. */
  token: Token;
  /** @internal how to reach the server */
  link: Link;
  /** The methods the proxy may call (`null`: every public method of the object). */
  exposed: readonly string[] | null;
  /** @internal The server counted a reference for this thread's connection (else: take one on first use). */
  owned: boolean;
}

interface ProxyClass {
  new (init: ProxyInit): BaseProxy;
  readonly name: string;
}

const PROXY_TYPES = Symbol.for('multiprocessing-ts.managerProxyTypes');

function proxyTypes(): Map<string, ProxyClass> {
  const g = globalThis as unknown as Record<symbol, Map<string, ProxyClass> | undefined>;
  return (g[PROXY_TYPES] ??= new Map());
}

/**
 * Makes a proxy class known by its name, so that a proxy of it arriving in a
 * worker (or read back from a managed container) is rebuilt with that class.
 * `BaseManager.register` does it for the `proxytype` given; call it yourself
 * in a module the workers import when they receive proxies of your class
 * without importing your manager's module. Without it they get an
 * {@link AutoProxy}.
 */
export function registerProxyType<C extends abstract new (init: ProxyInit) => BaseProxy>(cls: C, name: string = cls.name): C {
  if (typeof cls !== 'function' || !(cls.prototype instanceof BaseProxy || (cls as unknown) === BaseProxy)) {
    throw new TypeError(`registerProxyType expects a subclass of BaseProxy; received ${received(cls)}`);
  }
  proxyTypes().set(name, cls as unknown as ProxyClass);
  return cls;
}

interface Held {
  conn: ClientConn;
  id: number;
}

// A proxy dropped by the program gives its reference back (unless it was sent elsewhere).
const dropped = new FinalizationRegistry<Held>((h) => {
  if (!h.conn.broken) h.conn.notify(OP_DECREF, h.id);
});

/**
 * Base class of every proxy (Python's `BaseProxy`): a handle on an object
 * kept by a manager's server. Calls go to the server over this thread's
 * connection to it and resolve with a copy of the result.
 *
 * Proxies can be passed to any worker (as `Process` arguments, through
 * queues, pipes and pools, or stored in other managed objects); they connect
 * to the server from there. A proxy sent to a local worker carries the
 * manager's `authkey` with it (this library's processes have no inherited
 * key as Python's do), so treat proxies as secrets when you log or store them.
 *
 * Subclass it to write a typed proxy for a registered type: call
 * `this._callMethod(name, args)` in its methods, and list them in a static
 * `exposed` array.
 */
export class BaseProxy {
  /** Method names this proxy type calls (Python's `_exposed_`); null: those the server reports. */
  static readonly exposed: readonly string[] | null = null;

  readonly #token: Token;
  readonly #link: Link;
  readonly #exposed: readonly string[] | null;
  #owned: boolean;
  #shared = false;
  #conn: ClientConn | null = null;

  /** @internal proxies are made by managers. */
  constructor(init: ProxyInit) {
    if (typeof init !== 'object' || init === null || init[kInit] !== true) {
      throw new TypeError('proxies cannot be constructed directly: they are made by a manager (manager.dict(), manager.create(typeid, ...))');
    }
    this.#token = init.token;
    this.#link = init.link;
    this.#exposed = init.exposed;
    this.#owned = init.owned;
    if (init.owned) this.#track();
  }

  #track(): void {
    const c = pool().get((this.#link.key ??= connectionKey(this.#link)));
    if (c && !c.broken) {
      this.#conn = c;
      dropped.register(this, { conn: c, id: this.#token.id }, this);
    }
  }

  /** The object's typeid, server address and id (Python's `_token`). */
  get _token(): Token {
    return this.#token;
  }

  /** The method names the server exposes for this object (null: the proxy type's list). */
  get _exposed(): readonly string[] | null {
    return this.#exposed;
  }

  /**
   * Calls `method` of the managed object with `args` and resolves with a
   * copy of the result (Python's `_callmethod`). Errors raised there reject
   * with their class when it is known here (built-in errors, this library's,
   * registered classes), else as `RemoteError`. A method that is not exposed
   * rejects with `RemoteError`.
   */
  _callMethod(method: string, args: readonly unknown[] = [], options?: WaitOptions): Promise<unknown> {
    let signal: AbortSignal | undefined;
    try {
      if (typeof method !== 'string') throw new TypeError(`method must be a string; received ${received(method)}`);
      if (!Array.isArray(args)) throw new TypeError(`args must be an array; received ${received(args)}`);
      signal = validateSignal(options);
      signal?.throwIfAborted();
    } catch (e) {
      return Promise.reject(e);
    }
    const conn = connectionFor(this.#link);
    if (conn instanceof Promise) return conn.then((c) => this.#send(c, method, args, signal));
    return this.#send(conn, method, args, signal);
  }

  #send(conn: ClientConn, method: string, args: readonly unknown[], signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#conn !== conn) {
      // a new connection (another worker, or a reconnect): take a reference on it first
      if (!this.#owned || this.#conn !== null) void conn.request(OP_INCREF, this.#token.id, '', []).catch(() => {});
      this.#owned = true;
      if (this.#conn !== null) dropped.unregister(this);
      this.#conn = conn;
      if (!this.#shared) dropped.register(this, { conn, id: this.#token.id }, this);
    }
    return conn.request(OP_CALL, this.#token.id, method, args as unknown[], signal);
  }

  /** A copy of the managed object (Python's `_getvalue`). */
  _getValue(): Promise<unknown> {
    return this._callMethod(GETVALUE);
  }

  /** `<DictProxy object, typeid 'dict' at 3>`. */
  toString(): string {
    return `<${this.constructor.name} object, typeid '${this.#token.typeid}' at ${this.#token.id}>`;
  }

  /** @internal marks this proxy as handed on: its reference stays with the connection. */
  _markShared(): void {
    if (this.#shared) return;
    this.#shared = true;
    dropped.unregister(this);
  }

  /** @internal the link (address, key) of this proxy. */
  _link(): Link {
    return this.#link;
  }

  /** @internal crossing to a worker: typeid, address, id, and the key to connect with. */
  [REDUCE](): Reduced {
    this._markShared();
    return {
      kind: 'ManagerProxy',
      state: {
        t: this.#token.typeid,
        a: this.#token.address,
        i: this.#token.id,
        x: this.#exposed,
        n: proxyClassName(this),
        k: this.#link.authkey,
        m: this.#link.maxMessageSize,
      },
    };
  }
}

function proxyClassName(p: BaseProxy): string {
  const ctor = (Object.getPrototypeOf(p) as { constructor: { name: string } }).constructor;
  for (const [name, cls] of proxyTypes()) if (cls === (ctor as unknown)) return name;
  return 'AutoProxy';
}

interface ReducedProxy {
  t: string;
  a: Address;
  i: number;
  x: string[] | null;
  n: string;
  k: Uint8Array;
  m: number;
}

registerHandleKind('ManagerProxy', (s) => {
  const r = s as ReducedProxy;
  const link: Link = { address: r.a, authkey: r.k, maxMessageSize: r.m };
  const marker: ProxyMarker = { [MARK]: 'p', i: r.i, t: r.t, x: r.x, n: r.n };
  // Kept alive by its sender's connection until this worker takes its own reference on first use.
  return proxyFromMarker(marker, link, true);
});

/** The marker of a proxy of the server at `link` (undefined: not a proxy); refuses proxies of other servers. */
function proxyMarkerFor(v: object, link: Link): ProxyMarker | undefined {
  if (!(v instanceof BaseProxy)) return undefined;
  const t = v._token;
  if (addressKey(t.address) !== addressKey(link.address)) {
    throw new TypeError(`a proxy of the manager at ${describeAddress(t.address)} cannot be sent to the manager at ${describeAddress(link.address)}: nested proxies must belong to the same manager`);
  }
  v._markShared();
  return { [MARK]: 'p', i: t.id, t: t.typeid, x: v._exposed ? [...v._exposed] : null, n: proxyClassName(v) };
}

/** Builds the proxy a marker names, in this worker. */
function proxyFromMarker(m: ProxyMarker, link: Link, notOwned = false): BaseProxy {
  const cls = proxyTypes().get(m.n);
  const init: ProxyInit = { [kInit]: true, token: { typeid: m.t, address: link.address, id: m.i }, link, exposed: m.x, owned: !notOwned };
  if (cls === undefined || cls === (AutoProxyBase as unknown)) return makeAutoProxy(init);
  return new cls(init);
}

// ---- typed proxies ------------------------------------------------------------------

/** Options of proxy calls that may wait. */
export interface ProxyAcquireOptions extends WaitOptions {
  /** false: do not wait (Python's `blocking=False`). @default true */
  block?: boolean;
  /** Milliseconds to wait at most; undefined: forever. */
  timeout?: number;
}

function blockOptions(options: ProxyAcquireOptions | undefined, what: string): { block?: boolean; timeout?: number } {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new TypeError(`${what} options must be an object; received ${received(options)}`);
  if (options.block !== undefined && typeof options.block !== 'boolean') throw new TypeError(`options.block must be a boolean; received ${received(options.block)}`);
  const timeout = validateTimeout(options.timeout, 'options.timeout');
  return { block: options.block, timeout };
}

/** Keys a managed dict accepts: values compared by value. */
export type DictKey = string | number | bigint | boolean | null | undefined;

/**
 * Proxy of a managed dict (Python's `DictProxy`); the server keeps a `Map`.
 * Python's `d[k] = v` is `await d.set(k, v)`, `d[k]` is `await d.getItem(k)`
 * (rejects with RangeError "KeyError" when missing) or `await d.get(k)`
 * (undefined when missing), `del d[k]` is `await d.delete(k)`, `k in d` is
 * `await d.has(k)`, `len(d)` is `await d.size()`.
 */
export class DictProxy<K extends DictKey = DictKey, V = unknown> extends BaseProxy {
  static override readonly exposed = ['get', 'set', 'delete', 'has', 'keys', 'values', 'items', 'update', 'size', 'pop', 'popitem', 'setdefault', 'clear', 'copy', 'getItem', 'toObject'];
  /** The value of `key`, or `dflt` (default undefined) when it is missing (Python's `d.get(k, default)`). */
  get(key: K): Promise<V | undefined>;
  get<D>(key: K, dflt: D): Promise<V | D>;
  get(key: K, ...dflt: unknown[]): Promise<unknown> {
    return this._callMethod('get', [key, ...dflt]);
  }
  /** The value of `key` (Python's `d[k]`). @throws RangeError `KeyError: 'k' ...` when missing. */
  getItem(key: K): Promise<V> {
    return this._callMethod('getItem', [key]) as Promise<V>;
  }
  /** Sets `key` (Python's `d[k] = v`). Resolves once the server has it. */
  set(key: K, value: V): Promise<void> {
    return this._callMethod('set', [key, value]) as Promise<void>;
  }
  /** Removes `key`; resolves true if it was there (Python's `del d[k]`, without the KeyError). */
  delete(key: K): Promise<boolean> {
    return this._callMethod('delete', [key]) as Promise<boolean>;
  }
  /** Python's `k in d`. */
  has(key: K): Promise<boolean> {
    return this._callMethod('has', [key]) as Promise<boolean>;
  }
  /** The keys, as an array (Python's manager returns a list too). */
  keys(): Promise<K[]> {
    return this._callMethod('keys') as Promise<K[]>;
  }
  /** The values, as an array. */
  values(): Promise<V[]> {
    return this._callMethod('values') as Promise<V[]>;
  }
  /** The `[key, value]` pairs, as an array. */
  items(): Promise<Array<[K, V]>> {
    return this._callMethod('items') as Promise<Array<[K, V]>>;
  }
  /** Adds every entry of a Map, a plain object or an array of pairs. */
  async update(other: Map<K, V> | Iterable<readonly [K, V]> | (K extends string ? Record<K, V> : never)): Promise<void> {
    const arg = other instanceof Map || Array.isArray(other) ? other : typeof (other as Iterable<unknown>)[Symbol.iterator] === 'function' ? [...(other as Iterable<readonly [K, V]>)] : other;
    await this._callMethod('update', [arg]);
  }
  /** Number of entries (Python's `len(d)`). */
  size(): Promise<number> {
    return this._callMethod('size') as Promise<number>;
  }
  /** Removes `key` and resolves with its value, or `dflt` when missing. @throws RangeError "KeyError" when missing and no default. */
  pop(key: K): Promise<V>;
  pop<D>(key: K, dflt: D): Promise<V | D>;
  pop(key: K, ...dflt: unknown[]): Promise<unknown> {
    return this._callMethod('pop', [key, ...dflt]);
  }
  /** Removes and resolves with the last-inserted pair. @throws RangeError "KeyError" when empty. */
  popitem(): Promise<[K, V]> {
    return this._callMethod('popitem') as Promise<[K, V]>;
  }
  /** The value of `key`; sets it to `dflt` first when missing. */
  setdefault(key: K, dflt: V): Promise<V> {
    return this._callMethod('setdefault', [key, dflt]) as Promise<V>;
  }
  /** Removes every entry. */
  clear(): Promise<void> {
    return this._callMethod('clear') as Promise<void>;
  }
  /** A copy of the whole dict, as a Map. */
  copy(): Promise<Map<K, V>> {
    return this._callMethod('copy') as Promise<Map<K, V>>;
  }
  /** A copy of the whole dict, as a plain object (keys as strings). */
  toObject(): Promise<Record<string, V>> {
    return this._callMethod('toObject') as Promise<Record<string, V>>;
  }
  /** A copy of the whole dict, as a Map (Python's `_getvalue()`). */
  override _getValue(): Promise<Map<K, V>> {
    return this.copy();
  }
}

/**
 * Proxy of a managed list (Python's `ListProxy`). Indexes may be negative
 * (from the end), as in Python: `l[i]` is `await l.get(i)`, `l[i] = v` is
 * `await l.set(i, v)`, `del l[i]` is `await l.delete(i)`, `l[a:b]` is
 * `await l.slice(a, b)`, `l[a:b] = xs` is `await l.setSlice(a, b, xs)`,
 * `len(l)` is `await l.length()`, `x in l` is `await l.has(x)`.
 * Out-of-range indexes reject with RangeError ("IndexError: ...").
 */
export class ListProxy<T = unknown> extends BaseProxy {
  static override readonly exposed = ['append', 'extend', 'get', 'set', 'delete', 'pop', 'insert', 'length', 'slice', 'setSlice', 'index', 'count', 'remove', 'reverse', 'sort', 'has', 'clear', 'copy'];
  /** Adds `value` at the end. */
  append(value: T): Promise<void> {
    return this._callMethod('append', [value]) as Promise<void>;
  }
  /** Adds every item of `values` at the end (Python's `extend` and `+=`). */
  extend(values: Iterable<T>): Promise<void> {
    return this._callMethod('extend', [Array.isArray(values) ? values : [...values]]) as Promise<void>;
  }
  /** The item at `index` (negative: from the end). */
  get(index: number): Promise<T> {
    return this._callMethod('get', [index]) as Promise<T>;
  }
  /** Replaces the item at `index`. */
  set(index: number, value: T): Promise<void> {
    return this._callMethod('set', [index, value]) as Promise<void>;
  }
  /** Removes the item at `index` (Python's `del l[i]`). */
  delete(index: number): Promise<void> {
    return this._callMethod('delete', [index]) as Promise<void>;
  }
  /** Removes and resolves with the item at `index` (default: the last). */
  pop(index?: number): Promise<T> {
    return this._callMethod('pop', index === undefined ? [] : [index]) as Promise<T>;
  }
  /** Inserts `value` before `index`. */
  insert(index: number, value: T): Promise<void> {
    return this._callMethod('insert', [index, value]) as Promise<void>;
  }
  /** Number of items (Python's `len(l)`). */
  length(): Promise<number> {
    return this._callMethod('length') as Promise<number>;
  }
  /** A copy of the items from `start` to before `end` (Python's `l[start:end]`). */
  slice(start?: number, end?: number): Promise<T[]> {
    return this._callMethod('slice', [start ?? null, end ?? null]) as Promise<T[]>;
  }
  /** Replaces the items from `start` to before `end` by `values` (Python's `l[start:end] = values`). */
  setSlice(start: number | undefined, end: number | undefined, values: Iterable<T>): Promise<void> {
    return this._callMethod('setSlice', [start ?? null, end ?? null, [...values]]) as Promise<void>;
  }
  /** Index of the first item equal to `value`. @throws RangeError "ValueError" when absent. */
  index(value: T, start?: number, end?: number): Promise<number> {
    return this._callMethod('index', [value, start ?? null, end ?? null]) as Promise<number>;
  }
  /** Number of items equal to `value` (plain data compared by value). */
  count(value: T): Promise<number> {
    return this._callMethod('count', [value]) as Promise<number>;
  }
  /** Python's `value in l`. */
  has(value: T): Promise<boolean> {
    return this._callMethod('has', [value]) as Promise<boolean>;
  }
  /** Removes the first item equal to `value`. @throws RangeError "ValueError" when absent. */
  remove(value: T): Promise<void> {
    return this._callMethod('remove', [value]) as Promise<void>;
  }
  /** Reverses the list in place. */
  reverse(): Promise<void> {
    return this._callMethod('reverse') as Promise<void>;
  }
  /**
   * Sorts in place: numbers, strings and arrays of them, in Python's order
   * (no key function: code does not cross to a manager).
   * @throws TypeError when items cannot be compared (a number and a string).
   */
  sort(options?: { reverse?: boolean }): Promise<void> {
    return this._callMethod('sort', [options ?? {}]) as Promise<void>;
  }
  /** Removes every item. */
  clear(): Promise<void> {
    return this._callMethod('clear') as Promise<void>;
  }
  /** A copy of the whole list (Python's `l[:]`). */
  copy(): Promise<T[]> {
    return this._callMethod('copy') as Promise<T[]>;
  }
  /** A copy of the whole list (Python's `_getvalue()`). */
  override _getValue(): Promise<T[]> {
    return this.copy();
  }
}

/**
 * Proxy of a managed Namespace (Python's `NamespaceProxy`): Python's `ns.x`
 * is `await ns.get('x')` (rejects with TypeError "AttributeError" when
 * missing), `ns.x = 1` is `await ns.set('x', 1)`, `del ns.x` is
 * `await ns.delete('x')`, `hasattr(ns, 'x')` is `await ns.has('x')`.
 */
export class NamespaceProxy<T extends Record<string, unknown> = Record<string, unknown>> extends BaseProxy {
  static override readonly exposed = ['get', 'set', 'delete', 'has', 'toObject'];
  /** The attribute `name`. @throws TypeError "AttributeError: 'Namespace' object has no attribute 'name'". */
  get<K extends keyof T & string>(name: K): Promise<T[K]> {
    return this._callMethod('get', [name]) as Promise<T[K]>;
  }
  /** Sets the attribute `name`. */
  set<K extends keyof T & string>(name: K, value: T[K]): Promise<void> {
    return this._callMethod('set', [name, value]) as Promise<void>;
  }
  /** Removes the attribute `name`. @throws TypeError "AttributeError" when missing. */
  delete(name: keyof T & string): Promise<void> {
    return this._callMethod('delete', [name]) as Promise<void>;
  }
  /** Whether the attribute exists (Python's `hasattr`). */
  has(name: string): Promise<boolean> {
    return this._callMethod('has', [name]) as Promise<boolean>;
  }
  /** A copy of every attribute, as a plain object. */
  toObject(): Promise<T> {
    return this._callMethod('toObject') as Promise<T>;
  }
  /** A copy of every attribute (Python's `_getvalue()`). */
  override _getValue(): Promise<T> {
    return this.toObject();
  }
}

/** Proxy of a managed Value (Python's `ValueProxy`): `v.value` is `await v.get()`, `v.value = x` is `await v.set(x)`. */
export class ValueProxy<T = unknown> extends BaseProxy {
  static override readonly exposed = ['get', 'set', 'typecode'];
  /** The value. */
  get(): Promise<T> {
    return this._callMethod('get') as Promise<T>;
  }
  /** Replaces the value. */
  set(value: T): Promise<void> {
    return this._callMethod('set', [value]) as Promise<void>;
  }
  /** The typecode given at creation (only stored, as in Python). */
  typecode(): Promise<string> {
    return this._callMethod('typecode') as Promise<string>;
  }
  /** The value (Python's `_getvalue()`). */
  override _getValue(): Promise<T> {
    return this.get();
  }
}

/** Proxy of a managed Array (Python's `ArrayProxy` over `array.array`): fixed element type. */
export class ArrayProxy<T extends number | bigint = number> extends BaseProxy {
  static override readonly exposed = ['length', 'get', 'set', 'slice', 'toArray', 'typecode'];
  /** Number of items. */
  length(): Promise<number> {
    return this._callMethod('length') as Promise<number>;
  }
  /** The item at `index` (negative: from the end). */
  get(index: number): Promise<T> {
    return this._callMethod('get', [index]) as Promise<T>;
  }
  /** Replaces the item at `index`. @throws TypeError when the value does not fit the typecode. */
  set(index: number, value: T): Promise<void> {
    return this._callMethod('set', [index, value]) as Promise<void>;
  }
  /** A copy of the items from `start` to before `end`. */
  slice(start?: number, end?: number): Promise<T[]> {
    return this._callMethod('slice', [start ?? null, end ?? null]) as Promise<T[]>;
  }
  /** A copy of every item. */
  toArray(): Promise<T[]> {
    return this._callMethod('toArray') as Promise<T[]>;
  }
  /** A copy of every item (Python's `_getvalue()`). */
  override _getValue(): Promise<T[]> {
    return this.toArray();
  }
}

/** Options of a queue proxy's `put`/`get`. */
export type ProxyQueueOptions = ProxyAcquireOptions;

/** Proxy of a managed Queue (Python's `queue.Queue` behind the manager). */
export class QueueProxy<T = unknown> extends BaseProxy {
  static override readonly exposed = ['put', 'get', 'putNowait', 'getNowait', 'qsize', 'empty', 'full'];
  /** Puts `item`, waiting for room when the queue is full. @throws Full (rejects) when no room in time, or at once with `block: false`. */
  put(item: T, options?: ProxyQueueOptions): Promise<void> {
    return this._callMethod('put', [item, blockOptions(options, 'put')], options) as Promise<void>;
  }
  /** Takes the next item, waiting for one. @throws Empty (rejects) when none arrived in time, or at once with `block: false`. */
  get(options?: ProxyQueueOptions): Promise<T> {
    return this._callMethod('get', [blockOptions(options, 'get')], options) as Promise<T>;
  }
  /** `put(item, { block: false })`. */
  putNowait(item: T): Promise<void> {
    return this._callMethod('putNowait', [item]) as Promise<void>;
  }
  /** `get({ block: false })`. */
  getNowait(): Promise<T> {
    return this._callMethod('getNowait') as Promise<T>;
  }
  /** Number of items. */
  qsize(): Promise<number> {
    return this._callMethod('qsize') as Promise<number>;
  }
  /** Whether the queue is empty. */
  empty(): Promise<boolean> {
    return this._callMethod('empty') as Promise<boolean>;
  }
  /** Whether the queue is full. */
  full(): Promise<boolean> {
    return this._callMethod('full') as Promise<boolean>;
  }
}

/** Proxy of a managed JoinableQueue: a queue with `taskDone` and `join`. */
export class JoinableQueueProxy<T = unknown> extends QueueProxy<T> {
  static override readonly exposed = [...QueueProxy.exposed, 'taskDone', 'join'];
  /** Marks one item taken with `get` as processed. @throws ProcessError "task_done() called too many times". */
  taskDone(): Promise<void> {
    return this._callMethod('taskDone') as Promise<void>;
  }
  /** Waits until every item put has been marked done. */
  join(options?: WaitOptions): Promise<void> {
    return this._callMethod('join', [], options) as Promise<void>;
  }
}

/**
 * Proxy of a managed Lock or RLock (Python's `AcquirerProxy`). A client that
 * disconnects (or dies) while holding it releases it.
 */
export class AcquirerProxy extends BaseProxy {
  static override readonly exposed: readonly string[] = ['acquire', 'release', 'locked'];
  /** Acquires; resolves true once held, false when `block: false` or the timeout passed first. */
  acquire(options?: ProxyAcquireOptions): Promise<boolean> {
    return this._callMethod('acquire', [blockOptions(options, 'acquire')], options) as Promise<boolean>;
  }
  /**
   * Releases. @throws ProcessError (rejects) "release unlocked lock" (Lock) or
   * "cannot release un-acquired lock" (RLock held by someone else).
   */
  release(): Promise<void> {
    return this._callMethod('release') as Promise<void>;
  }
  /** Whether the lock is held by anyone (Lock and RLock; Python 3.14's `locked()`). */
  locked(): Promise<boolean> {
    return this._callMethod('locked') as Promise<boolean>;
  }
  /** Runs `fn` holding the lock (Python's `with`), releasing it even if `fn` throws. */
  async with<R>(fn: () => R | Promise<R>): Promise<R> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}

/** Proxy of a managed Semaphore or BoundedSemaphore. */
export class SemaphoreProxy extends AcquirerProxy {
  static override readonly exposed = ['acquire', 'release', 'getValue'];
  /** The current counter. */
  getValue(): Promise<number> {
    return this._callMethod('getValue') as Promise<number>;
  }
}

/** Proxy of a managed Condition (Python's `ConditionProxy`). */
export class ConditionProxy extends AcquirerProxy {
  static override readonly exposed = ['acquire', 'release', 'wait', 'notify', 'notifyAll'];
  /** Releases the lock, waits for a notify (or `ms`), re-acquires; resolves false on timeout. */
  wait(ms?: number, options?: WaitOptions): Promise<boolean> {
    const t = validateTimeout(ms, 'ms');
    return this._callMethod('wait', [t ?? null], options) as Promise<boolean>;
  }
  /** Wakes up to `n` waiters (default 1). @throws ProcessError when the caller does not hold the lock. */
  notify(n = 1): Promise<void> {
    return this._callMethod('notify', [n]) as Promise<void>;
  }
  /** Wakes every waiter. */
  notifyAll(): Promise<void> {
    return this._callMethod('notifyAll') as Promise<void>;
  }
  /**
   * Waits until `predicate()` is truthy (Python's `wait_for`; the predicate
   * runs here, between waits), at most `ms`. Resolves with its last value.
   */
  async waitFor<R>(predicate: () => R | Promise<R>, ms?: number, options?: WaitOptions): Promise<R> {
    const t = validateTimeout(ms, 'ms');
    const deadline = t === undefined ? undefined : Date.now() + t;
    let result = await predicate();
    while (!result) {
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && left <= 0) break;
      await this.wait(left, options);
      result = await predicate();
    }
    return result;
  }
}

/** Proxy of a managed Event (Python's `EventProxy`). */
export class EventProxy extends BaseProxy {
  static override readonly exposed = ['isSet', 'set', 'clear', 'wait'];
  /** Whether the flag is set. */
  isSet(): Promise<boolean> {
    return this._callMethod('isSet') as Promise<boolean>;
  }
  /** Sets the flag, waking every waiter. */
  set(): Promise<void> {
    return this._callMethod('set') as Promise<void>;
  }
  /** Clears the flag. */
  clear(): Promise<void> {
    return this._callMethod('clear') as Promise<void>;
  }
  /** Waits until the flag is set (or `ms` passed); resolves with the flag. */
  wait(ms?: number, options?: WaitOptions): Promise<boolean> {
    const t = validateTimeout(ms, 'ms');
    return this._callMethod('wait', [t ?? null], options) as Promise<boolean>;
  }
}

/** Proxy of a managed Barrier (Python's `BarrierProxy`; no `action`). */
export class BarrierProxy extends BaseProxy {
  static override readonly exposed = ['wait', 'abort', 'reset', 'parties', 'nWaiting', 'broken'];
  /** Waits for every party; resolves with this caller's arrival index. @throws BrokenBarrierError. */
  wait(ms?: number, options?: WaitOptions): Promise<number> {
    const t = validateTimeout(ms, 'ms');
    return this._callMethod('wait', t === undefined ? [] : [t], options) as Promise<number>;
  }
  /** Breaks the barrier: waiters reject with BrokenBarrierError. */
  abort(): Promise<void> {
    return this._callMethod('abort') as Promise<void>;
  }
  /** Back to the initial state; current waiters reject with BrokenBarrierError. */
  reset(): Promise<void> {
    return this._callMethod('reset') as Promise<void>;
  }
  /** Number of parties. */
  parties(): Promise<number> {
    return this._callMethod('parties') as Promise<number>;
  }
  /** Number of parties waiting now. */
  nWaiting(): Promise<number> {
    return this._callMethod('nWaiting') as Promise<number>;
  }
  /** Whether the barrier is broken. */
  broken(): Promise<boolean> {
    return this._callMethod('broken') as Promise<boolean>;
  }
}

/**
 * Proxy of a managed Pool (Python's `PoolProxy`): tasks run in workers of
 * the manager's server. Functions are sent by reference and must be listed
 * in the manager's `poolFunctions` option (else the call rejects); the
 * `Async` forms of Python are these same calls without `await`.
 */
export class PoolProxy extends BaseProxy {
  static override readonly exposed = ['apply', 'map', 'starmap', 'close', 'terminate', 'join'];
  /** Runs `fn(...args)` in a worker of the server's pool. */
  apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A): Promise<Awaited<R>> {
    return this._callMethod('apply', [lookupFunction(fn), args ?? []]) as Promise<Awaited<R>>;
  }
  /** `fn` over every item, in order. */
  map<A, R>(fn: (item: A) => R, items: Iterable<A>, chunksize?: number): Promise<Awaited<R>[]> {
    return this._callMethod('map', [lookupFunction(fn), [...items], chunksize ?? null]) as Promise<Awaited<R>[]>;
  }
  /** `fn(...args)` for every argument array, in order. */
  starmap<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A>, chunksize?: number): Promise<Awaited<R>[]> {
    return this._callMethod('starmap', [lookupFunction(fn), [...items], chunksize ?? null]) as Promise<Awaited<R>[]>;
  }
  /** No more tasks; workers end when the queued ones are done. */
  close(): Promise<void> {
    return this._callMethod('close') as Promise<void>;
  }
  /** Ends the workers now. */
  terminate(): Promise<void> {
    return this._callMethod('terminate') as Promise<void>;
  }
  /** Waits for the workers to end (after close or terminate). */
  join(): Promise<void> {
    return this._callMethod('join') as Promise<void>;
  }
  /** `await using` support: terminates (as Python's `with` on a pool). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }
}

/** The async form of every method of `T` (what an {@link AutoProxy} offers). */
export type Remote<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? (K extends `_${string}` ? never : K) : never]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** A proxy whose methods are the exposed methods of the referent (Python's `AutoProxy`). */
export type AutoProxy<T = unknown> = BaseProxy & Remote<T>;

class AutoProxyBase extends BaseProxy {}

function makeAutoProxy(init: ProxyInit): BaseProxy {
  const base = new AutoProxyBase(init);
  const exposed = new Set(init.exposed ?? []);
  const methods = new Map<string, (...a: unknown[]) => Promise<unknown>>();
  return new Proxy(base, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && !(prop in target) && exposed.has(prop)) {
        let m = methods.get(prop);
        if (!m) {
          m = (...args: unknown[]) => target._callMethod(prop, args);
          methods.set(prop, m);
        }
        return m;
      }
      const v = Reflect.get(target, prop, target) as unknown;
      void receiver;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
    has(target, prop) {
      return (typeof prop === 'string' && exposed.has(prop)) || prop in target;
    },
  });
}

for (const [name, cls] of Object.entries({
  BaseProxy,
  AutoProxy: AutoProxyBase,
  DictProxy,
  ListProxy,
  NamespaceProxy,
  ValueProxy,
  ArrayProxy,
  QueueProxy,
  JoinableQueueProxy,
  AcquirerProxy,
  SemaphoreProxy,
  ConditionProxy,
  EventProxy,
  BarrierProxy,
  PoolProxy,
})) {
  proxyTypes().set(name, cls as unknown as ProxyClass);
}

// ---- managers --------------------------------------------------------------------

/** A function or class that makes the managed object in the server (Python's `callable`). */
export type ManagedFactory = ((...args: never[]) => unknown) | (abstract new (...args: never[]) => unknown);

/** A proxy class for `register`: a subclass of BaseProxy. */
export type ProxyType = abstract new (init: ProxyInit) => BaseProxy;

/** Options of `register`. */
export interface RegisterOptions {
  /** Class of the proxies (a BaseProxy subclass); default: an {@link AutoProxy}. */
  proxytype?: ProxyType;
  /** Method names clients may call; default: the proxy type's static `exposed`, else the referent's public methods. */
  exposed?: readonly string[];
  /** Methods whose results stay in the server and come back as proxies of another typeid. */
  methodToTypeid?: Record<string, string>;
  /** Add a method named `typeid` to the manager that creates the object (Python's `create_method`). @default true */
  createMethod?: boolean;
}

interface TypeEntry {
  callable: ManagedFactory | null;
  proxytype: ProxyType | null;
  exposed: readonly string[] | null;
  methodToTypeid: Record<string, string> | null;
}

/** Options of a manager. */
export interface ManagerOptions {
  /**
   * Address of the server: `[host, port]` or a Unix socket path. Default for
   * `start()`: `['127.0.0.1', 0]` (loopback, a free port). Bind to another
   * interface (`['0.0.0.0', 50000]`) only to reach it from other machines,
   * and then with a strong `authkey`.
   */
  address?: Address;
  /**
   * Shared secret: every connection proves it holds it (HMAC
   * challenge-response, Python's protocol) before any object is touched.
   * Default for `start()`: 32 random bytes (see `authkey`); required for
   * `connect()` and `serveForever()`.
   */
  authkey?: Uint8Array;
  /** Start method (or context) of the server's worker for `start()`; default: the default context's. */
  context?: StartMethodName | Context;
  /** Milliseconds `shutdown()` waits for the server before terminating it (Python's `shutdown_timeout`). @default 1000 */
  shutdownTimeout?: number;
  /** Largest message accepted either way, in bytes. @default 256 MiB */
  maxMessageSize?: number;
  /**
   * Functions a managed `Pool` may run (top-level exports, as Pool tasks).
   * A client names a function by reference; the server runs it only if it
   * is listed here by the manager's owner: no client can make the server
   * load code. Used by `start()` and `getServer()`.
   */
  poolFunctions?: ReadonlyArray<(...args: never[]) => unknown>;
}

/** Options of `start()`. */
export interface StartOptions {
  /** Runs first in the server's worker (an exported function, as a Process target). */
  initializer?: (...args: never[]) => unknown;
  /** Arguments of `initializer`. */
  initargs?: unknown[];
}

const INITIAL = 0;
const STARTED = 1;
const SHUTDOWN = 2;

const registries = new WeakMap<object, Map<string, TypeEntry>>();

function classRegistry(ctor: object): Map<string, TypeEntry> {
  let own = registries.get(ctor);
  if (own) return own;
  const parent = Object.getPrototypeOf(ctor) as object | null;
  own = new Map(parent && parent !== Function.prototype ? classRegistry(parent) : []);
  registries.set(ctor, own);
  return own;
}

function checkRegister(typeid: unknown, callable: unknown, options: unknown): TypeEntry & { createMethod: boolean } {
  if (typeof typeid !== 'string' || typeid.length === 0) throw new TypeError(`typeid must be a non-empty string; received ${received(typeid)}`);
  if (callable !== undefined && callable !== null && typeof callable !== 'function') throw new TypeError(`callable must be a function or class (or null on a client that only connects); received ${received(callable)}`);
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError(`options must be an object; received ${received(options)}`);
  const o = (options ?? {}) as RegisterOptions;
  if (o.proxytype !== undefined && !(typeof o.proxytype === 'function' && o.proxytype.prototype instanceof BaseProxy)) {
    throw new TypeError(`options.proxytype must be a subclass of BaseProxy; received ${received(o.proxytype)}`);
  }
  if (o.exposed !== undefined && (!Array.isArray(o.exposed) || !o.exposed.every((s) => typeof s === 'string'))) throw new TypeError('options.exposed must be an array of method names');
  const fromProxy = o.proxytype ? ((o.proxytype as unknown as { exposed?: readonly string[] | null }).exposed ?? null) : null;
  if (o.proxytype) registerProxyType(o.proxytype as unknown as new (init: ProxyInit) => BaseProxy);
  return {
    callable: (callable as ManagedFactory | undefined) ?? null,
    proxytype: o.proxytype ?? null,
    exposed: o.exposed ?? fromProxy,
    methodToTypeid: o.methodToTypeid ?? null,
    createMethod: o.createMethod !== false,
  };
}

let managerSeq = 0;

/**
 * The server side that runs in this program (Python's `Server`, from
 * `manager.getServer()`): call `serveForever()`.
 */
export class Server {
  readonly #server: ManagerServer;
  /** @internal */
  constructor(server: ManagerServer) {
    this.#server = server;
  }
  /** The bound address (`[host, port]` with the port picked when 0 was asked). */
  get address(): Address {
    return this.#server.address;
  }
  /** Serves clients until one asks for a shutdown, or `stop()`. */
  serveForever(): Promise<void> {
    return this.#server.serveForever();
  }
  /** Stops serving: closes the listening socket and every client connection. */
  stop(): void {
    this.#server.stop();
  }
}

/**
 * A manager (Python's `BaseManager`): a server that keeps objects, and the
 * client that makes and reaches them through proxies.
 *
 * - `await m.start()` runs the server in a worker of its own (a daemonic
 *   Process of the chosen start method, ended with its owner, even if the
 *   owner is killed); `await m.shutdown()` stops it.
 * - `await m.connect()` reaches a server started elsewhere (another program,
 *   another machine) at `address` with `authkey`.
 * - `await m.serveForever()` (or `(await m.getServer()).serveForever()`)
 *   serves in this program.
 *
 * Register types with the static `register` (inherited by subclasses, as
 * Python's per-class registry) or the instance's `register` (this manager
 * only). Create objects with `await m.create(typeid, ...args)` or with the
 * method `register` adds under the typeid's name.
 *
 * @example
 * ```ts
 * export class Counter { n = 0; inc(by = 1) { return (this.n += by); } }
 * class MyManager extends BaseManager {}
 * MyManager.register('Counter', Counter);
 * await using m = new MyManager();
 * await m.start();
 * const c = await m.create<AutoProxy<Counter>>('Counter');
 * await c.inc(2); // 2
 * ```
 */
export class BaseManager {
  #state = INITIAL;
  #address: Address | null;
  readonly #authkey: Uint8Array;
  readonly #authkeyGiven: boolean;
  readonly #ctx: Context;
  readonly #shutdownTimeout: number;
  readonly #maxMessageSize: number;
  #registry: Map<string, TypeEntry> | null = null;
  #process: Process | null = null;
  #server: ManagerServer | null = null;
  #connected = false;
  readonly #poolFunctions: ReadonlyArray<(...args: never[]) => unknown>;

  constructor(options: ManagerOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object; received ${received(options)}`);
    const { address, authkey, context, shutdownTimeout, maxMessageSize } = options;
    if (authkey !== undefined && authkey !== null && !(authkey instanceof Uint8Array)) throw new TypeError(`authkey should be a byte string: options.authkey must be a Uint8Array or Buffer; received ${received(authkey)}`);
    if (address !== undefined && address !== null && typeof address !== 'string' && !Array.isArray(address)) throw new TypeError(`options.address must be [host, port] or a socket path; received ${received(address)}`);
    this.#address = address ?? null;
    this.#authkeyGiven = authkey !== undefined && authkey !== null;
    this.#authkey = authkey ?? randomBytes(32);
    this.#ctx = typeof context === 'object' && context !== null ? context : getContext(context);
    const st = validateTimeout(shutdownTimeout, 'options.shutdownTimeout');
    this.#shutdownTimeout = shutdownTimeout === undefined ? 1000 : st === undefined ? Infinity : Math.max(0, st);
    const m = maxMessageSize ?? DEFAULT_MANAGER_MAX_MESSAGE_SIZE;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1024) throw new RangeError(`options.maxMessageSize must be an integer number of bytes, at least 1024; received ${received(m)}`);
    this.#maxMessageSize = m;
    const pf = options.poolFunctions ?? [];
    if (!Array.isArray(pf) || !pf.every((f) => typeof f === 'function')) throw new TypeError('options.poolFunctions must be an array of functions');
    this.#poolFunctions = pf;
  }

  /**
   * Registers a type on this class and its subclasses (Python's classmethod
   * `register`). `callable` makes the object in the server: a class (called
   * with `new`) or a function; it must be a top-level export (it crosses to
   * the server's worker by reference). Pass `null` on a client that only
   * `connect()`s. Unless `createMethod: false`, the manager gains a method
   * named `typeid` that creates one and resolves with its proxy.
   */
  static register(typeid: string, callable?: ManagedFactory | null, options?: RegisterOptions): void {
    const e = checkRegister(typeid, callable, options);
    classRegistry(this).set(typeid, e);
    if (e.createMethod) defineCreateMethod(this.prototype, typeid);
  }

  /** Registers a type on this manager only (before `start()`); see the static `register`. */
  register(typeid: string, callable?: ManagedFactory | null, options?: RegisterOptions): void {
    if (this.#state !== INITIAL) throw new ProcessError('register() must come before start(): the server already has its types');
    const e = checkRegister(typeid, callable, options);
    this.#types().set(typeid, e);
    if (e.createMethod && !(typeid in this)) {
      Object.defineProperty(this, typeid, { value: (...args: unknown[]) => this.create(typeid, ...args), configurable: true, writable: true });
    }
  }

  #types(): Map<string, TypeEntry> {
    return (this.#registry ??= new Map(classRegistry(this.constructor)));
  }

  /** The server's address (null before `start()` when none was given). */
  get address(): Address | null {
    return this.#address;
  }

  /**
   * The key clients must prove they hold. Given in the options, or made at
   * random for this manager: pass it to remote clients yourself. Proxies
   * sent to local workers carry it.
   */
  get authkey(): Uint8Array {
    return this.#authkey;
  }

  /** The server's Process after `start()` (Python's `_process`), else null. */
  get process(): Process | null {
    return this.#process;
  }

  #serverTypes(): ServerType[] {
    const out: ServerType[] = [];
    for (const [typeid, e] of this.#types()) {
      out.push({
        typeid,
        callable: (e.callable as ((...a: unknown[]) => unknown) | null) ?? null,
        exposed: e.exposed ? [...e.exposed] : null,
        methodToTypeid: e.methodToTypeid,
        proxytype: e.proxytype ? ((e.proxytype as { name: string }).name || 'AutoProxy') : builtinProxyName(typeid, e),
      });
    }
    return out;
  }

  #checkStartable(): void {
    if (this.#state === STARTED) throw new ProcessError('Already started server');
    if (this.#state === SHUTDOWN) throw new ProcessError('Manager has shut down');
  }

  /**
   * Starts the server in a worker of its own (a daemonic Process of the
   * manager's start method) and waits until it listens.
   * @throws ProcessError "Already started server", "Manager has shut down",
   *   "Unable to start server: ..." (the worker failed: a callable that is not
   *   exported, an address in use, ...); TypeError "initializer must be a callable".
   */
  async start(options: StartOptions = {}): Promise<void> {
    this.#checkStartable();
    if (typeof options !== 'object' || options === null) throw new TypeError(`initializer must be a callable: start() takes { initializer, initargs }; received ${received(options)}`);
    const { initializer, initargs } = options;
    if (initializer !== undefined && initializer !== null && typeof initializer !== 'function') throw new TypeError(`initializer must be a callable; received ${received(initializer)}`);
    if (initargs !== undefined && !Array.isArray(initargs)) throw new TypeError(`initargs must be an array; received ${received(initargs)}`);
    const spec: ServerSpec = {
      address: this.#address ?? ['127.0.0.1', 0],
      authkey: this.#authkey,
      maxMessageSize: this.#maxMessageSize,
      types: this.#serverTypes(),
      initializer: (initializer as ((...a: unknown[]) => unknown) | undefined) ?? null,
      initargs: initargs ?? [],
      functions: this.#poolFunctions as ReadonlyArray<(...a: unknown[]) => unknown> as Array<(...a: unknown[]) => unknown>,
      functionKeys: this.#poolFunctions.map((f) => functionKey(lookupFunction(f))),
    };
    this.#state = STARTED;
    const [reader, writer] = Pipe<never, StartReport>(false);
    const proc = new this.#ctx.Process({
      target: fnRef<typeof managerServerMain>(entryUrl('manager-server'), 'managerServerMain') as unknown as (...a: unknown[]) => unknown,
      args: [writer, spec],
      name: `${this.constructor.name}-${++managerSeq}`,
      daemon: true,
    });
    try {
      proc.start();
    } catch (e) {
      this.#state = INITIAL;
      reader.close();
      writer.close();
      throw new ProcessError(`Unable to start server: ${(e as Error).message}`, { cause: e });
    }
    writer.close();
    this.#process = proc;
    const ac = new AbortController();
    let report: StartReport;
    try {
      report = await Promise.race([
        reader.recv({ signal: ac.signal }),
        proc._whenExited().then((): StartReport => ({ ok: false, message: `the server's worker ended (exit code ${String(proc.exitCode)}) before it listened` })),
      ]);
    } catch (e) {
      report = { ok: false, message: (e as Error).message };
    } finally {
      ac.abort();
      reader.close();
    }
    if (!report.ok) {
      this.#state = SHUTDOWN;
      if (proc.isAlive()) proc.kill();
      throw new ProcessError(`Unable to start server: ${report.message}`);
    }
    this.#address = report.address;
  }

  /**
   * Binds the server in this program and returns it (Python's `get_server()`);
   * call `serveForever()` on it. Needs an `authkey` in the options.
   */
  async getServer(): Promise<Server> {
    this.#checkStartable();
    if (!this.#authkeyGiven) throw new TypeError('a server in this program needs options.authkey (the key its clients will use)');
    this.#state = STARTED;
    try {
      this.#server = await ManagerServer.create({
        address: this.#address ?? ['127.0.0.1', 0],
        authkey: this.#authkey,
        maxMessageSize: this.#maxMessageSize,
        types: this.#serverTypes(),
        toProxy: serverSideProxy(this.#authkey, this.#maxMessageSize, () => this.#server!.address),
        toMarker: serverSideMarker(() => this.#server!.address),
        functions: functionTable(this.#poolFunctions as ReadonlyArray<(...a: unknown[]) => unknown>),
      });
    } catch (e) {
      this.#state = INITIAL;
      throw e;
    }
    this.#address = this.#server.address;
    return new Server(this.#server);
  }

  /** `(await getServer()).serveForever()`: serves in this program until a client asks for a shutdown. */
  async serveForever(): Promise<void> {
    const s = await this.getServer();
    await s.serveForever();
  }

  /**
   * Connects to a server at `address` with `authkey` (started by another
   * program, possibly on another machine).
   * @throws AuthenticationError when the keys differ; the OS error (ECONNREFUSED, ...) when nothing listens there.
   */
  async connect(): Promise<void> {
    if (this.#address === null) throw new TypeError('address type of None unrecognized: connect() needs options.address');
    if (!this.#authkeyGiven) throw new TypeError('connect() needs options.authkey: the key the server was started with');
    const conn = await connectionFor(this.#link());
    await conn.request(OP_INFO, 0, '', []);
    this.#connected = true;
  }

  #link(): Link {
    if (this.#address === null) throw new ProcessError('the manager has no address yet: call start() or connect() first');
    return { address: this.#address, authkey: this.#authkey, maxMessageSize: this.#maxMessageSize };
  }

  #checkUsable(): void {
    if (this.#state === SHUTDOWN) throw new ProcessError('Manager has shut down');
    if (this.#state !== STARTED && !this.#connected) throw new ProcessError('the manager is not started: call start() or connect() first');
  }

  /**
   * Creates an object of `typeid` in the server and resolves with its proxy
   * (what the method named `typeid` does).
   * @throws RemoteError when the server has no such typeid.
   */
  async create<P extends BaseProxy = AutoProxy>(typeid: string, ...args: unknown[]): Promise<P> {
    if (typeof typeid !== 'string') throw new TypeError(`typeid must be a string; received ${received(typeid)}`);
    this.#checkUsable();
    const link = this.#link();
    let conn = connectionFor(link);
    if (conn instanceof Promise) conn = await conn;
    const p = await conn.request(OP_CREATE, typeid, '', args);
    if (!(p instanceof BaseProxy)) throw new RemoteError(`the server did not return a proxy for typeid '${typeid}'`);
    return p as P;
  }

  /** Server facts: its pid, the number of live objects, its typeids. */
  async info(): Promise<ServerInfo> {
    this.#checkUsable();
    let conn = connectionFor(this.#link());
    if (conn instanceof Promise) conn = await conn;
    return (await conn.request(OP_INFO, 0, '', [])) as { pid: number; objects: number; typeids: string[] };
  }

  /**
   * Stops the server started by `start()` (asks it, waits `shutdownTimeout`,
   * then terminates and kills its worker), or stops the server of
   * `getServer()`, or, on a client that only connected, closes this thread's
   * connection. Idempotent. Proxies fail afterwards.
   */
  async shutdown(): Promise<void> {
    if (this.#state === SHUTDOWN) return;
    const wasStarted = this.#state === STARTED;
    this.#state = SHUTDOWN;
    const address = this.#address;
    if (this.#server) {
      this.#server.stop();
      if (address) closeConnection(address);
      return;
    }
    if (!wasStarted || address === null) {
      if (address !== null) closeConnection(address);
      return;
    }
    try {
      let conn = connectionFor(this.#link());
      if (conn instanceof Promise) conn = await conn;
      await Promise.race([conn.request(OP_SHUTDOWN, 0, '', []), new Promise((r) => setTimeout(r, this.#shutdownTimeout).unref())]);
    } catch {
      // the server is gone already
    }
    closeConnection(address);
    const proc = this.#process;
    if (proc) {
      await proc.join(this.#shutdownTimeout);
      if (proc.isAlive()) {
        proc.terminate();
        await proc.join(this.#shutdownTimeout);
        if (proc.isAlive()) {
          proc.kill();
          await proc.join(5000);
        }
      }
    }
  }

  /** Waits for the server's worker to end (Python's `join`). */
  async join(ms?: number): Promise<void> {
    if (this.#process) await this.#process.join(ms);
  }

  /** `await using` support: shuts down. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}

function builtinProxyName(typeid: string, e: TypeEntry): string {
  void e;
  return SYNC_PROXIES[typeid] ?? 'AutoProxy';
}

const SYNC_PROXIES: Record<string, string> = {
  dict: 'DictProxy',
  list: 'ListProxy',
  Namespace: 'NamespaceProxy',
  Value: 'ValueProxy',
  Array: 'ArrayProxy',
  Queue: 'QueueProxy',
  JoinableQueue: 'JoinableQueueProxy',
  Lock: 'AcquirerProxy',
  RLock: 'AcquirerProxy',
  Semaphore: 'SemaphoreProxy',
  BoundedSemaphore: 'SemaphoreProxy',
  Condition: 'ConditionProxy',
  Event: 'EventProxy',
  Barrier: 'BarrierProxy',
  Pool: 'PoolProxy',
};

function defineCreateMethod(proto: object, typeid: string): void {
  if (Object.hasOwn(proto, typeid)) return;
  Object.defineProperty(proto, typeid, {
    value: function (this: BaseManager, ...args: unknown[]) {
      return this.create(typeid, ...args);
    },
    configurable: true,
    writable: true,
  });
}

/** What the server's worker reports once it listens (or fails to). */
export type StartReport = { ok: true; address: Address } | { ok: false; message: string };

/** What the server's worker is started with. @internal */
export interface ServerSpec {
  address: Address;
  authkey: Uint8Array;
  maxMessageSize: number;
  types: ServerType[];
  initializer: ((...a: unknown[]) => unknown) | null;
  initargs: unknown[];
  functions: Array<(...a: unknown[]) => unknown>;
  /** The reference key of each function, as the owner named it. */
  functionKeys: string[];
}

/** The allow-list of a managed Pool, keyed as references are. */
function functionTable(fns: ReadonlyArray<(...a: unknown[]) => unknown>, keys?: readonly string[]): Map<string, (...a: unknown[]) => unknown> {
  const out = new Map<string, (...a: unknown[]) => unknown>();
  fns.forEach((f, i) => out.set(keys?.[i] ?? functionKey(lookupFunction(f)), f));
  return out;
}

/** In a server: markers of its own objects become proxies connected to itself (for user referents). @internal */
export function serverSideProxy(authkey: Uint8Array, maxMessageSize: number, address: () => Address): (m: ProxyMarker) => unknown {
  return (m) => proxyFromMarker(m, { address: address(), authkey, maxMessageSize }, true);
}

/** In a server: proxies in user referents' results become markers. @internal */
export function serverSideMarker(address: () => Address): (v: object) => ProxyMarker | undefined {
  return (v) => {
    if (!(v instanceof BaseProxy)) return undefined;
    return proxyMarkerFor(v, { address: address(), authkey: new Uint8Array(0), maxMessageSize: 0 });
  };
}

/** Builds a ServerType list for a server started in this program from a spec. @internal */
export async function runServer(spec: ServerSpec, report: (r: StartReport) => Promise<void>): Promise<void> {
  let server: ManagerServer;
  try {
    if (spec.initializer) await spec.initializer(...spec.initargs);
    let addr: Address = spec.address;
    server = await ManagerServer.create({
      address: spec.address,
      authkey: spec.authkey,
      maxMessageSize: spec.maxMessageSize,
      types: spec.types,
      toProxy: serverSideProxy(spec.authkey, spec.maxMessageSize, () => addr),
      toMarker: serverSideMarker(() => addr),
      functions: functionTable(spec.functions, spec.functionKeys),
    });
    addr = server.address;
  } catch (e) {
    await report({ ok: false, message: (e as Error)?.message ?? String(e) });
    return;
  }
  await report({ ok: true, address: server.address });
  await server.serveForever();
}

/** A function reference's data, for the Pool proxy's allow-list. @internal */
export function functionKey(ref: FnRefData): string {
  return `${ref.kind}:${ref.url}#${ref.name}`;
}

/**
 * Python's `SyncManager`: a manager with the standard shared types. Get a
 * started one with `await Manager()`.
 */
export class SyncManager extends BaseManager {
  /** A managed dict (a Map in the server) from a Map, a plain object or `[key, value]` pairs. */
  dict<K extends DictKey = string, V = unknown>(init?: Map<K, V> | Iterable<readonly [K, V]> | Record<string, V>): Promise<DictProxy<K, V>> {
    const arg = init === undefined || init instanceof Map || Array.isArray(init) ? init : typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function' ? [...(init as Iterable<readonly [K, V]>)] : init;
    return this.create<DictProxy<K, V>>('dict', ...(arg === undefined ? [] : [arg]));
  }
  /** A managed list from the items of `init`. */
  list<T = unknown>(init?: Iterable<T>): Promise<ListProxy<T>> {
    return this.create<ListProxy<T>>('list', ...(init === undefined ? [] : [Array.isArray(init) ? init : [...init]]));
  }
  /** A managed Namespace with the attributes of `init`. */
  Namespace<T extends Record<string, unknown> = Record<string, unknown>>(init?: Partial<T>): Promise<NamespaceProxy<T>> {
    return this.create<NamespaceProxy<T>>('Namespace', ...(init === undefined ? [] : [init]));
  }
  /** A managed value; the typecode is only stored (as Python's manager Value). */
  Value<T = unknown>(typecode: string, value: T): Promise<ValueProxy<T>> {
    return this.create<ValueProxy<T>>('Value', typecode, value);
  }
  /** A managed fixed-type array (Python's `array.array`): `'i'`, `'d'`, `'q'` (bigint), ... */
  Array<T extends number | bigint = number>(typecode: string, init: readonly T[] | number): Promise<ArrayProxy<T>> {
    return this.create<ArrayProxy<T>>('Array', typecode, init);
  }
  /** A managed queue; `maxsize` 0 or less: unbounded. */
  Queue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.create<QueueProxy<T>>('Queue', maxsize);
  }
  /** A managed joinable queue. */
  JoinableQueue<T = unknown>(maxsize = 0): Promise<JoinableQueueProxy<T>> {
    return this.create<JoinableQueueProxy<T>>('JoinableQueue', maxsize);
  }
  /** A managed Lock (Python's `threading.Lock`: anyone may release it). */
  Lock(): Promise<AcquirerProxy> {
    return this.create<AcquirerProxy>('Lock');
  }
  /** A managed RLock (owned by the acquiring thread's connection). */
  RLock(): Promise<AcquirerProxy> {
    return this.create<AcquirerProxy>('RLock');
  }
  /** A managed Semaphore. */
  Semaphore(value = 1): Promise<SemaphoreProxy> {
    return this.create<SemaphoreProxy>('Semaphore', value);
  }
  /** A managed BoundedSemaphore. */
  BoundedSemaphore(value = 1): Promise<SemaphoreProxy> {
    return this.create<SemaphoreProxy>('BoundedSemaphore', value);
  }
  /** A managed Condition, over `lock` (a Lock or RLock proxy of this manager) or a new RLock. */
  Condition(lock?: AcquirerProxy): Promise<ConditionProxy> {
    return this.create<ConditionProxy>('Condition', ...(lock === undefined ? [] : [lock]));
  }
  /** A managed Event. */
  Event(): Promise<EventProxy> {
    return this.create<EventProxy>('Event');
  }
  /** A managed Barrier for `parties` (no action: code does not cross to a manager). */
  Barrier(parties: number, options: { timeout?: number } = {}): Promise<BarrierProxy> {
    const t = validateTimeout(options.timeout, 'options.timeout');
    return this.create<BarrierProxy>('Barrier', parties, t === undefined ? {} : { timeout: t });
  }
  /**
   * A managed Pool: `processes` workers of the server (default: the number
   * of CPUs). It runs only the functions listed in the `poolFunctions` option.
   */
  Pool(processes?: number): Promise<PoolProxy> {
    return this.create<PoolProxy>('Pool', ...(processes === undefined ? [] : [processes]));
  }
}

for (const typeid of Object.keys(SYNC_PROXIES)) {
  classRegistry(SyncManager).set(typeid, { callable: null, proxytype: null, exposed: null, methodToTypeid: null });
}

/**
 * Starts a {@link SyncManager} (its server in a worker of its own) and
 * resolves with it (Python's `multiprocessing.Manager()`). Shut it down with
 * `await manager.shutdown()` or `await using`; it also ends with the program.
 *
 * @example
 * ```ts
 * await using manager = await Manager();
 * const d = await manager.dict<string, number>();
 * await d.set('a', 1);
 * console.log(await d.get('a')); // 1
 * ```
 */
export async function Manager(options?: ManagerOptions): Promise<SyncManager> {
  const m = new SyncManager(options);
  await m.start();
  return m;
}
