/**
 * The manager's server: accepts authenticated connections (Listener with the
 * `authkey` challenge-response), keeps the managed objects with their
 * reference counts, and answers batches of requests.
 *
 * Robustness: each connection is served on its own (a slow, silent or
 * garbage-sending client only loses its own connection); frames are capped
 * (`maxMessageSize`); a malformed frame drops that connection; nothing from
 * the wire is evaluated or revived beyond plain data (see
 * protocol/manager.ts); only exposed methods of registered types can be
 * called. When a connection goes away, its waiting calls are cancelled, the
 * locks it holds are released, and its references are dropped.
 * @internal
 */
import { Listener, type Address } from '../listener.js';
import { Connection } from '../connection.js';
import type { SocketChannel } from './socket-channel.js';
import { AuthenticationError, ProcessError } from '../errors.js';
import { trace } from '../logging.js';
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
  ST_REMOTE,
  checkRequest,
  decodeFrame,
  encodeFrame,
  errorToWire,
  forEachProxyMarker,
  isProxyMarker,
  walkIn,
  walkOut,
  type ProxyMarker,
  type ProxyToMarker,
  type MarkerToProxy,
  type Request,
  type Response,
} from '../protocol/manager.js';
import { BUILTIN_TYPES, Cancelled, ManagedPool, withCaller, type Caller, type CallerConn, type Releasable } from './manager-types.js';
import { TIMED_OUT } from './channel.js';

/** A registered type, as the server knows it. */
export interface ServerType {
  typeid: string;
  /** Builds the referent (a class is constructed with `new`); null: a SyncManager built-in, or not creatable here. */
  callable: ((...args: unknown[]) => unknown) | null;
  /** Exposed method names; null: the built-in list, or the referent's public methods. */
  exposed: readonly string[] | null;
  /** Methods whose results come back as proxies of the given typeid. */
  methodToTypeid: Record<string, string> | null;
  /** Name of the proxy class clients use. */
  proxytype: string;
}

/** Options of a server. */
export interface ServerOptions {
  address: Address;
  authkey: Uint8Array;
  types: ServerType[];
  maxMessageSize: number;
  /** Milliseconds allowed for a client's authentication handshake. */
  authTimeout?: number;
  /** Turns proxy markers into proxies for referents of registered (user) types. */
  toProxy?: MarkerToProxy;
  /** Turns proxies in user referents' results into markers. */
  toMarker?: ProxyToMarker;
  /** Functions a managed Pool may run, by reference key (`kind:url#name`). */
  functions?: Map<string, (...args: unknown[]) => unknown>;
}

interface Rec {
  id: number;
  obj: object;
  typeid: string;
  exposed: Set<string>;
  exposedList: string[] | null;
  proxytype: string;
  methodToTypeid: Record<string, string> | null;
  builtin: boolean;
  refs: number;
}

interface ServerConn extends CallerConn {
  readonly channel: SocketChannel;
  readonly connection: Connection<unknown, unknown>;
  readonly refs: Map<number, number>;
  readonly waiting: Map<number, Array<() => void>>;
  outbox: Response[];
  flushing: boolean;
  closed: boolean;
}

function isClass(fn: unknown): boolean {
  return typeof fn === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

/** Public methods of an object: functions on its prototype chain whose names do not start with `_`. */
function publicMethods(obj: object): string[] {
  const out = new Set<string>();
  for (let p: object | null = obj; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const k of Object.getOwnPropertyNames(p)) {
      if (k === 'constructor' || k.startsWith('_')) continue;
      const d = Object.getOwnPropertyDescriptor(p, k);
      if (d && typeof d.value === 'function') out.add(k);
    }
  }
  return [...out];
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** A manager's server. */
export class ManagerServer {
  readonly #listener: Listener;
  readonly #types = new Map<string, ServerType>();
  readonly #objects = new Map<number, Rec>();
  readonly #conns = new Set<ServerConn>();
  readonly #options: ServerOptions;
  #nextObject = 1;
  #nextConn = 1;
  #sawWalked = false;
  #stopped = false;
  #stop!: () => void;
  readonly #done: Promise<void>;
  readonly #collected: FinalizationRegistry<number>;

  private constructor(listener: Listener, options: ServerOptions) {
    this.#listener = listener;
    this.#options = options;
    for (const t of options.types) this.#types.set(t.typeid, t);
    this.#done = new Promise<void>((resolve) => (this.#stop = resolve));
    // A reference stored inside a managed container holds its object until the container lets it go.
    this.#collected = new FinalizationRegistry<number>((id) => this.#decref(id, 1));
  }

  /** Binds the listening socket. */
  static async create(options: ServerOptions): Promise<ManagerServer> {
    const listener = await Listener.create(options.address, {
      authkey: options.authkey,
      maxMessageSize: options.maxMessageSize,
      authTimeout: options.authTimeout ?? 10_000,
    });
    return new ManagerServer(listener, options);
  }

  /** The bound address (`[host, port]` with the port picked, or a socket path). */
  get address(): Address {
    return this.#listener.address;
  }

  /** Number of live managed objects. */
  get objectCount(): number {
    return this.#objects.size;
  }

  /** Accepts and serves clients until `shutdown` (a client's request or {@link stop}). */
  async serveForever(): Promise<void> {
    void this.#acceptLoop();
    await this.#done;
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopped) {
      let c: Connection<unknown, unknown>;
      try {
        c = await this.#listener.accept();
      } catch (e) {
        if (this.#stopped) return;
        if (e instanceof AuthenticationError) {
          trace(`manager server: refused a client: ${e.message}`);
          continue;
        }
        trace(`manager server: accept failed: ${(e as Error).message}`);
        continue;
      }
      this.#serve(c);
    }
  }

  /** Stops: no more clients; open connections are closed, their waiting calls cancelled. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#listener.close();
    for (const c of [...this.#conns]) this.#closeConn(c);
    for (const rec of this.#objects.values()) if (rec.obj instanceof ManagedPool) rec.obj.dispose();
    this.#objects.clear();
    this.#stop();
  }

  #serve(connection: Connection<unknown, unknown>): void {
    // the Connection's channel: frames in Python's framing, limits applied
    const channel = Connection._channel(connection) as SocketChannel;
    const conn: ServerConn = {
      id: this.#nextConn++,
      channel,
      connection,
      held: new Set<Releasable>(),
      refs: new Map(),
      waiting: new Map(),
      outbox: [],
      flushing: false,
      closed: false,
    };
    this.#conns.add(conn);
    void this.#readLoop(conn);
  }

  async #readLoop(conn: ServerConn): Promise<void> {
    try {
      for (;;) {
        const frame = await conn.channel.read(Infinity);
        if (frame === null || frame === TIMED_OUT) break;
        let batch: unknown[];
        try {
          batch = decodeFrame(frame);
        } catch (e) {
          trace(`manager server: dropped client ${conn.id}: ${(e as Error).message}`);
          break;
        }
        let bad = false;
        for (const raw of batch) {
          let req: Request;
          try {
            req = checkRequest(raw);
          } catch (e) {
            trace(`manager server: dropped client ${conn.id}: ${(e as Error).message}`);
            bad = true;
            break;
          }
          this.#handle(conn, req);
          if (conn.closed) return;
        }
        if (bad) break;
        // answer this batch before reading the next: a client that does not read its answers is held back
        await this.#flush(conn);
      }
    } catch (e) {
      trace(`manager server: client ${conn.id}: ${(e as Error).message}`);
    }
    this.#closeConn(conn);
  }

  #closeConn(conn: ServerConn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#conns.delete(conn);
    conn.channel.close();
    // cancel its waiting calls, give back its locks, drop its references
    for (const cancels of conn.waiting.values()) for (const f of cancels) f();
    conn.waiting.clear();
    for (const h of [...conn.held]) h.releaseAllOf(conn);
    conn.held.clear();
    for (const [id, n] of conn.refs) this.#decref(id, n);
    conn.refs.clear();
  }

  #respond(conn: ServerConn, r: Response): void {
    if (conn.closed) return;
    conn.outbox.push(r);
    if (!conn.flushing) {
      conn.flushing = true;
      queueMicrotask(() => void this.#flush(conn));
    }
  }

  async #flush(conn: ServerConn): Promise<void> {
    conn.flushing = false;
    if (conn.closed || conn.outbox.length === 0) return;
    const batch = conn.outbox;
    conn.outbox = [];
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(batch);
    } catch (e) {
      // a value that V8 cannot serialize (should not happen: values come from the wire)
      bytes = encodeFrame(batch.map((r) => [r[0], ST_REMOTE, 0, `the answer could not be encoded: ${(e as Error).message}`]));
    }
    try {
      await conn.channel.write([bytes]);
    } catch {
      this.#closeConn(conn);
    }
  }

  // ---- references -------------------------------------------------------

  #incref(conn: ServerConn, id: number): void {
    const rec = this.#objects.get(id);
    if (rec === undefined) return;
    rec.refs++;
    conn.refs.set(id, (conn.refs.get(id) ?? 0) + 1);
  }

  #decref(id: number, n: number): void {
    const rec = this.#objects.get(id);
    if (rec === undefined) return;
    rec.refs -= n;
    if (rec.refs <= 0) {
      this.#objects.delete(id);
      if (rec.obj instanceof ManagedPool) rec.obj.dispose();
    }
  }

  #marker(rec: Rec): ProxyMarker {
    return { [MARK]: 'p', i: rec.id, t: rec.typeid, x: rec.exposedList, n: rec.proxytype };
  }

  /** Replaces client-made reference markers in arguments by the server's own, each holding a reference. */
  #adoptMarkers(args: unknown[]): void {
    forEachProxyMarker(args, (m, replace) => {
      const rec = this.#objects.get(m.i);
      if (rec === undefined) throw new ProcessError(`a proxy in the arguments refers to object ${m.i}, which this manager does not hold (released, or of another manager)`);
      const own = this.#marker(rec);
      rec.refs++;
      this.#collected.register(own, rec.id);
      replace(own);
    });
  }

  /** The answer value: references inside it hold one more reference each, for the receiving connection. */
  #outgoing(conn: ServerConn, value: unknown): [0 | 1, unknown] {
    if (!this.#sawWalked || typeof value !== 'object' || value === null) return [0, value];
    forEachProxyMarker(value, (m) => this.#incref(conn, m.i));
    if (isProxyMarker(value)) this.#incref(conn, value.i);
    return [1, value];
  }

  /** Resolves a reference marker (e.g. the lock of a Condition) to its object. */
  #resolve = (ref: unknown): unknown => {
    if (!isProxyMarker(ref)) throw new TypeError('expected a proxy of this manager');
    const rec = this.#objects.get(ref.i);
    if (rec === undefined) throw new ProcessError(`object ${ref.i} is not held by this manager`);
    return rec.obj;
  };

  // ---- requests ------------------------------------------------------------

  #handle(conn: ServerConn, req: Request): void {
    const [id, op, target, method, walked, args] = req;
    try {
      switch (op) {
        case OP_CALL: {
          if (typeof target !== 'number') throw new RemoteRefusal('bad request: the target of a call is an object id');
          const rec = this.#objects.get(target);
          if (rec === undefined) throw new RemoteRefusal(`no object with id ${target} in this manager: it was released (every proxy of it was dropped) or belongs to a manager that has restarted`);
          if (method === GETVALUE) {
            // Python's `_getvalue()`: a copy of the referent itself, whatever is exposed
            this.#settle(conn, id, () => (rec.builtin ? (rec.obj as { valueOf(): unknown }).valueOf() : rec.obj), (v) => this.#outgoing(conn, this.#resultOut(v, rec.builtin)));
            return;
          }
          if (!rec.exposed.has(method)) throw new RemoteRefusal(`method '${method}' of typeid '${rec.typeid}' is not exposed`);
          this.#run(conn, id, rec, method, walked, args);
          return;
        }
        case OP_CREATE: {
          if (typeof target !== 'string') throw new RemoteRefusal('bad request: the target of a create is a typeid');
          this.#create(conn, id, target, walked, args);
          return;
        }
        case OP_INCREF: {
          if (typeof target !== 'number' || !this.#objects.has(target)) throw new RemoteRefusal(`no object with id ${String(target)} in this manager: it was released before this proxy reached it`);
          this.#incref(conn, target);
          this.#respond(conn, [id, ST_OK, 0, null]);
          return;
        }
        case OP_DECREF: {
          if (typeof target === 'number') {
            const n = conn.refs.get(target) ?? 0;
            if (n > 0) {
              if (n === 1) conn.refs.delete(target);
              else conn.refs.set(target, n - 1);
              this.#decref(target, 1);
            }
          }
          this.#respond(conn, [id, ST_OK, 0, null]);
          return;
        }
        case OP_CANCEL: {
          const cancels = typeof target === 'number' ? conn.waiting.get(target) : undefined;
          if (cancels) for (const f of cancels) f();
          this.#respond(conn, [id, ST_OK, 0, null]);
          return;
        }
        case OP_INFO: {
          this.#respond(conn, [id, ST_OK, 0, { pid: process.pid, objects: this.#objects.size, typeids: [...this.#types.keys()] }]);
          return;
        }
        case OP_SHUTDOWN: {
          this.#respond(conn, [id, ST_OK, 0, null]);
          void this.#flush(conn).finally(() => setImmediate(() => this.stop()));
          return;
        }
        default:
          throw new RemoteRefusal(`bad request: unknown operation ${op}`);
      }
    } catch (e) {
      this.#fail(conn, id, e);
    }
  }

  #fail(conn: ServerConn, id: number, e: unknown): void {
    if (e instanceof RemoteRefusal) this.#respond(conn, [id, ST_REMOTE, 0, e.message]);
    else if (e instanceof Cancelled) this.#respond(conn, [id, ST_CANCELLED, 0, null]);
    else {
      this.#respond(conn, [id, ST_ERROR, 1, errorToWire(e, this.#options.toMarker ?? (() => undefined))]);
    }
  }

  #caller(conn: ServerConn, id: number): Caller {
    return new CallContext(conn, id, this.#resolve, this.#allowedFunction);
  }

  #allowedFunction = (ref: unknown): ((...args: unknown[]) => unknown) => {
    const r = ref as { url?: unknown; name?: unknown; kind?: unknown } | null;
    if (typeof r !== 'object' || r === null || typeof r.url !== 'string' || typeof r.name !== 'string' || typeof r.kind !== 'string') {
      throw new TypeError('a function reference was expected');
    }
    const fn = this.#options.functions?.get(`${r.kind}:${r.url}#${r.name}`);
    if (fn === undefined) {
      throw new ProcessError(`the function '${r.name}' of ${r.url} is not allowed to run in this manager: list it in the manager's poolFunctions option (code named by a client is never loaded)`);
    }
    return fn;
  };

  /** Arguments as the referent takes them: wire form for built-ins, revived for user types. */
  #args(walked: 0 | 1, args: unknown[], builtin: boolean): unknown[] {
    if (walked === 0) return args;
    this.#sawWalked = true;
    if (builtin) {
      this.#adoptMarkers(args);
      return args;
    }
    const toProxy = this.#options.toProxy;
    if (toProxy === undefined) throw new RemoteRefusal('this server cannot take proxies as arguments of registered types');
    return walkIn(args, toProxy) as unknown[];
  }

  /** A user referent's result, in wire form. */
  #resultOut(value: unknown, builtin: boolean): unknown {
    if (builtin || value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
    this.#sawWalked = true;
    return walkOut(value, 'the result', this.#options.toMarker ?? (() => undefined));
  }

  #settle(conn: ServerConn, id: number, produce: () => unknown, after: (v: unknown) => [0 | 1, unknown]): void {
    const c = this.#caller(conn, id);
    let out: unknown;
    try {
      out = withCaller(c, produce);
    } catch (e) {
      conn.waiting.delete(id);
      this.#fail(conn, id, e);
      return;
    }
    const finish = (v: unknown) => {
      conn.waiting.delete(id);
      if (conn.closed) return;
      let w: 0 | 1;
      let data: unknown;
      try {
        [w, data] = after(v);
      } catch (e) {
        this.#fail(conn, id, e);
        return;
      }
      this.#respond(conn, [id, ST_OK, w, data]);
    };
    if (isThenable(out)) {
      Promise.resolve(out).then(finish, (e: unknown) => {
        conn.waiting.delete(id);
        this.#fail(conn, id, e);
      });
    } else {
      conn.waiting.delete(id);
      finish(out);
    }
  }

  #run(conn: ServerConn, id: number, rec: Rec, method: string, walked: 0 | 1, rawArgs: unknown[]): void {
    const args = this.#args(walked, rawArgs, rec.builtin);
    const fn = (rec.obj as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw new RemoteRefusal(`'${method}' of typeid '${rec.typeid}' is not a method`);
    const toTypeid = rec.methodToTypeid?.[method];
    this.#settle(
      conn,
      id,
      () => (fn as (...a: unknown[]) => unknown).apply(rec.obj, args),
      (v) => {
        if (toTypeid !== undefined) {
          if (typeof v !== 'object' || v === null) throw new TypeError(`method '${method}' must return an object to be managed as '${toTypeid}'`);
          return [1, this.#register(conn, toTypeid, v)];
        }
        return this.#outgoing(conn, this.#resultOut(v, rec.builtin));
      },
    );
  }

  #create(conn: ServerConn, id: number, typeid: string, walked: 0 | 1, rawArgs: unknown[]): void {
    const t = this.#types.get(typeid);
    if (t === undefined) throw new RemoteRefusal(`unknown typeid '${typeid}': this manager's server has no such type registered`);
    const builtin = t.callable === null;
    const b = builtin ? (Object.hasOwn(BUILTIN_TYPES, typeid) ? BUILTIN_TYPES[typeid] : undefined) : undefined;
    if (builtin && b === undefined) throw new RemoteRefusal(`typeid '${typeid}' cannot be created on this server: it was registered without a callable`);
    const args = this.#args(walked, rawArgs, b !== undefined && b.plain !== false);
    this.#settle(
      conn,
      id,
      () => {
        if (b !== undefined) return b.make(...args);
        const c = t.callable!;
        return isClass(c) ? new (c as unknown as new (...a: unknown[]) => unknown)(...args) : c(...args);
      },
      (obj) => {
        if (typeof obj !== 'object' || obj === null) throw new TypeError(`the callable of typeid '${typeid}' must make an object; it returned ${obj === null ? 'null' : typeof obj}`);
        return [1, this.#register(conn, typeid, obj)];
      },
    );
  }

  /** Adds an object; the asking connection holds the first reference. Returns its marker. */
  #register(conn: ServerConn, typeid: string, obj: object): ProxyMarker {
    const t = this.#types.get(typeid);
    const b = Object.hasOwn(BUILTIN_TYPES, typeid) && t?.callable === null ? BUILTIN_TYPES[typeid] : undefined;
    const exposedList = t?.exposed ? [...t.exposed] : b ? null : publicMethods(obj);
    const rec: Rec = {
      id: this.#nextObject++,
      obj,
      typeid,
      exposed: new Set(exposedList ?? b?.exposed ?? []),
      exposedList: b && !t?.exposed ? null : exposedList,
      proxytype: t?.proxytype ?? b?.proxy ?? 'AutoProxy',
      methodToTypeid: t?.methodToTypeid ?? null,
      builtin: b !== undefined && b.plain !== false,
      refs: 0,
    };
    this.#objects.set(rec.id, rec);
    this.#incref(conn, rec.id);
    return this.#marker(rec);
  }
}

/** The caller of one request (what the referents see through `caller()`). */
class CallContext implements Caller {
  constructor(
    readonly conn: ServerConn,
    readonly id: number,
    readonly resolve: (ref: unknown) => unknown,
    readonly allowedFunction: (ref: unknown) => (...args: unknown[]) => unknown,
  ) {}
  onCancel(fn: () => void): void {
    let list = this.conn.waiting.get(this.id);
    if (list === undefined) this.conn.waiting.set(this.id, (list = []));
    list.push(fn);
  }
}

/** The method name of Python's `_getvalue()` (not a valid exposed name: it cannot clash). */
export const GETVALUE = '#getvalue';

/** A request the server refuses (reaches the client as RemoteError). */
class RemoteRefusal extends Error {}
