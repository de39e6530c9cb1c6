/**
 * Typed API check (compiled by `npm run typecheck`, part of `npm test`; never run).
 *
 * Each `check<Equal<A, B>>()` fails to compile unless A and B are the same type, and each
 * `// @ts-expect-error` line fails to compile unless the line below it is a type error: together
 * they show that the generics carry through the public API and that misuse does not compile.
 */
import {
  Pool,
  ThreadPool,
  AsyncResult,
  ResultIterator,
  Queue,
  JoinableQueue,
  SimpleQueue,
  Pipe,
  Connection,
  Value,
  SharedArray,
  RawValue,
  RawArray,
  Process,
  Lock,
  RLock,
  Condition,
  Barrier,
  fnRef,
  wait,
  type FunctionReference,
} from 'multiprocessing-ts';
import * as dummy from 'multiprocessing-ts/dummy';

/** True when `X` and `Y` are the same type (not merely assignable either way; `any` is only equal to `any`). */
type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
/** Compiles only when `T` is `true`. */
function check<T extends true>(): T | void {}
/** Compiles only when `T` is not `any`. */
type NotAny<T> = 0 extends 1 & T ? false : true;

declare function square(x: number): number;
declare function greet(name: string, times: number): string;
declare function fetchLen(url: string): Promise<number>;
declare function pair(a: number, b: string): [number, string];

interface Job {
  id: number;
  payload: string;
}

export async function poolTypes(pool: Pool): Promise<void> {
  // map / starmap: the function's result type, awaited, as an array.
  const squares = await pool.map(square, [1, 2, 3]);
  check<Equal<typeof squares, number[]>>();
  const lens = await pool.map(fetchLen, ['a', 'b']);
  check<Equal<typeof lens, number[]>>(); // a Promise result is awaited
  const fromAsyncIterable = await pool.map(square, (async function* () { yield 1; })());
  check<Equal<typeof fromAsyncIterable, number[]>>();
  const greetings = await pool.starmap(greet, [['a', 1], ['b', 2]]);
  check<Equal<typeof greetings, string[]>>();
  const pairs = await pool.starmapAsync(pair, [[1, 'x']]).get();
  check<Equal<typeof pairs, [number, string][]>>();

  // applyAsync: AsyncResult<T> with T the awaited result type; get/then give T.
  const r = pool.applyAsync(greet, ['x', 2]);
  check<Equal<typeof r, AsyncResult<string>>>();
  check<Equal<Awaited<ReturnType<typeof r.get>>, string>>();
  const awaited = await r;
  check<Equal<typeof awaited, string>>();
  const asyncR = pool.applyAsync(fetchLen, ['u'], { callback: (n) => check<Equal<typeof n, number>>() });
  check<Equal<typeof asyncR, AsyncResult<number>>>();
  const applied = await pool.apply(square, [2]);
  check<Equal<typeof applied, number>>();
  const mapped = pool.mapAsync(square, [1], undefined, { callback: (xs) => check<Equal<typeof xs, number[]>>() });
  check<Equal<typeof mapped, AsyncResult<number[]>>>();

  // imap / imapUnordered: ResultIterator<R>, iterated as R.
  const it = pool.imap(fetchLen, ['a']);
  check<Equal<typeof it, ResultIterator<number>>>();
  for await (const n of pool.imapUnordered(square, [1, 2])) check<Equal<typeof n, number>>();
  const step = await it.next(100);
  if (!step.done) check<Equal<typeof step.value, number>>();

  const anyResult = await pool.map(fnRef('./m.js', 'f'), [1, 2]);
  check<Equal<typeof anyResult, unknown[]>>(); // an untyped reference: unknown results, not any[]
  const typedRef = await pool.map(fnRef<typeof square>('./m.js', 'square'), [1]);
  check<Equal<typeof typedRef, number[]>>();

  // Misuse that must not compile:
  // @ts-expect-error items of the wrong type for the function
  await pool.map(square, ['1', '2']);
  // @ts-expect-error applyAsync arguments must match the parameters
  pool.applyAsync(greet, ['x', 'not a number']);
  // @ts-expect-error too few arguments
  pool.applyAsync(greet, ['x']);
  // @ts-expect-error starmap needs argument tuples
  await pool.starmap(greet, ['x', 'y']);
  // @ts-expect-error imap of a function of the wrong parameter type
  pool.imap(square, ['x']);
  // @ts-expect-error the result is a number, not a string
  const wrong: string = await pool.apply(square, [1]);
  void wrong;
  // @ts-expect-error the callback gets the result type
  pool.applyAsync(square, [1], { callback: (s: string) => void s });
  // @ts-expect-error chunksize is a number
  await pool.map(square, [1], '4');
  // @ts-expect-error a timeout is in milliseconds (a number)
  pool.applyAsync(square, [1], { timeout: '1s' });
  // @ts-expect-error unknown pool option
  new Pool({ workers: 2 });
  // @ts-expect-error ThreadPool has no context option
  new ThreadPool({ processes: 2, context: 'process' });
}

export async function queueTypes(): Promise<void> {
  const q = new Queue<Job>(10);
  await q.put({ id: 1, payload: 'x' });
  q.putNowait({ id: 2, payload: 'y' });
  const job = await q.get({ timeout: 10 });
  check<Equal<typeof job, Job>>();
  check<Equal<ReturnType<typeof q.getNowait>, Job>>();
  check<Equal<ReturnType<typeof q.getSync>, Job>>();
  for await (const j of q) check<Equal<typeof j, Job>>();
  for await (const j of q.iter({ sentinel: undefined })) check<Equal<typeof j, Job>>();
  const jq = new JoinableQueue<number>();
  check<Equal<Awaited<ReturnType<typeof jq.get>>, number>>();
  const sq = new SimpleQueue<string>();
  check<Equal<Awaited<ReturnType<typeof sq.get>>, string>>();
  const untyped = new Queue();
  check<Equal<Awaited<ReturnType<typeof untyped.get>>, unknown>>(); // unknown, never any

  // @ts-expect-error an item of the wrong type
  await q.put('not a job');
  // @ts-expect-error missing field
  q.putNowait({ id: 3 });
  // @ts-expect-error the item is a Job, not a string
  const s: string = await q.get();
  void s;
  // @ts-expect-error block is a boolean
  await q.get({ block: 'no' });
  // @ts-expect-error Sync forms take no signal
  q.getSync({ signal: AbortSignal.timeout(1) });
  // @ts-expect-error JoinableQueue<number> takes numbers
  await jq.put('1');
}

export async function pipeTypes(): Promise<void> {
  // Pipe<S, R>(): the first end sends R and receives S, the second sends S and receives R.
  const [parent, child] = Pipe<string, number>();
  check<Equal<typeof parent, Connection<number, string>>>();
  check<Equal<typeof child, Connection<string, number>>>();
  await child.send('hello');
  const got = await parent.recv();
  check<Equal<typeof got, string>>();
  await parent.send(42);
  check<Equal<Awaited<ReturnType<typeof child.recv>>, number>>();
  check<Equal<ReturnType<typeof child.recvSync>, number>>();
  const [a, b] = Pipe<Job>();
  await a.send({ id: 1, payload: '' });
  check<Equal<Awaited<ReturnType<typeof b.recv>>, Job>>();
  const ready = await wait([parent, a], 10);
  check<Equal<typeof ready, (Connection<number, string> | Connection<Job, Job>)[]>>();
  const bytes = await b.recvBytes();
  check<Equal<typeof bytes, Uint8Array>>();

  // @ts-expect-error the first end sends numbers
  await parent.send('text');
  // @ts-expect-error the second end receives numbers
  const wrong: string = await child.recv();
  void wrong;
  // @ts-expect-error duplex is a boolean
  Pipe('yes');
  // @ts-expect-error sendBytes takes bytes
  await a.sendBytes('abc');
  // @ts-expect-error a Connection is made by Pipe(), Client() or Listener.accept()
  new Connection();
}

export function valueTypes(): void {
  const i = new Value('i', 0);
  check<Equal<typeof i, Value<'i'>>>();
  check<Equal<typeof i.value, number>>();
  const q = new Value('q', 0n);
  check<Equal<typeof q.value, bigint>>();
  const l = new Value('L');
  check<Equal<typeof l.value, bigint>>();
  const c = new Value('c', 'x');
  check<Equal<typeof c.value, string>>();
  const d = new RawValue('d', 1.5);
  check<Equal<typeof d.value, number>>();
  const arr = new SharedArray('h', [1, 2]);
  check<Equal<ReturnType<typeof arr.get>, number>>();
  check<Equal<typeof arr.view, Int16Array>>();
  const big = new RawArray('Q', 4);
  check<Equal<ReturnType<typeof big.toArray>, bigint[]>>();
  check<Equal<typeof big.view, BigUint64Array>>();
  const chars = new SharedArray('c', 'abc');
  check<Equal<typeof chars.value, string>>();
  check<Equal<typeof chars.raw, Uint8Array>>();
  i.value += 1;
  q.value += 1n;

  // @ts-expect-error 'q' holds bigint
  new Value('q', 1);
  // @ts-expect-error 'i' holds number
  new Value('i', 1n);
  // @ts-expect-error not a typecode
  new Value('x', 0);
  // @ts-expect-error 'd' holds number
  i.value = 'one';
  // @ts-expect-error 'Q' arrays hold bigint
  big.set(0, 1);
  // @ts-expect-error a 'd' array is made from numbers
  new SharedArray('d', ['a']);
  // @ts-expect-error lock is a boolean or a Lock/RLock
  new Value('i', 0, { lock: 'yes' });
}

export function processTypes(): void {
  new Process({ target: greet, args: ['x', 1] });
  new Process({ target: fnRef<typeof greet>('./m.js', 'greet'), args: ['y', 2] });
  const ref = fnRef<typeof greet>('./m.js', 'greet');
  check<Equal<typeof ref, FunctionReference<typeof greet>>>();
  // An untyped reference accepts any arguments and gives `unknown`, never `any`.
  const untyped = fnRef('./m.js', 'f');
  check<NotAny<ReturnType<typeof untyped>>>();
  check<Equal<ReturnType<typeof untyped>, unknown>>();
  // A module reference is typed from the module, and lists its functions only.
  const mod = fnRef<{ greet: typeof greet; square: typeof square; version: string }>('./m.js');
  check<Equal<typeof mod.square, FunctionReference<typeof square>>>();
  new Process({ target: mod.greet, args: ['z', 3] });
  // @ts-expect-error not a function of the module
  void mod.version;
  // @ts-expect-error a typed reference checks its arguments too
  new Process({ target: mod.greet, args: [1, 2] });
  // @ts-expect-error args must match the target's parameters
  new Process({ target: greet, args: ['x', 'y'] });
  // @ts-expect-error args is an array
  new Process({ target: square, args: 3 });
  const cond = new Condition(new Lock());
  void cond;
  // @ts-expect-error a Condition takes a Lock or RLock
  new Condition(new Barrier(2));
  void new RLock();
}

export async function dummyTypes(): Promise<void> {
  // The dummy Pool runs closures, with the same generics as the real one.
  const pool = new dummy.Pool(4);
  const base = 10;
  const plus = await pool.map((x: number) => x + base, [1, 2]);
  check<Equal<typeof plus, number[]>>();
  const lens = await pool.map(async (s: string) => s.length, ['a']);
  check<Equal<typeof lens, number[]>>();
  const r = pool.applyAsync(async (a: number, b: string) => `${a}${b}`, [1, 'x']);
  check<Equal<typeof r, AsyncResult<string>>>();
  check<Equal<typeof r, dummy.AsyncResult<string>>>();
  const it = pool.imapUnordered((x: number) => [x], [1]);
  check<Equal<typeof it, ResultIterator<number[]>>>();
  const sm = await pool.starmap((a: number, b: number) => a * b, [[1, 2]]);
  check<Equal<typeof sm, number[]>>();
  check<Equal<dummy.ThreadPool, dummy.Pool>>();

  const q = new dummy.Queue<Job>();
  check<Equal<Awaited<ReturnType<typeof q.get>>, Job>>();
  check<Equal<ReturnType<typeof q.getSync>, Job>>();
  const [end1, end2] = dummy.Pipe<string, number>();
  check<Equal<typeof end1, dummy.Connection<number, string>>>();
  check<Equal<Awaited<ReturnType<typeof end2.recv>>, number>>();
  const v = new dummy.Value('Q', 1n);
  check<Equal<typeof v.value, bigint>>();
  const a = new dummy.Array('f', [1.5]);
  check<Equal<typeof a.view, Float32Array>>();
  const p = new dummy.Process({ target: (n: number) => n * 2, args: [2] });
  check<NotAny<typeof p>>();
  check<Equal<ReturnType<typeof dummy.currentProcess>, dummy.Process | null>>();

  const m = await dummy.Manager();
  check<Equal<typeof m.Queue, typeof dummy.Queue>>();
  const dict = m.dict<string, number>();
  check<Equal<typeof dict, Map<string, number>>>();
  const list = m.list([1, 2]);
  check<Equal<typeof list, number[]>>();
  const ns = m.Namespace({ x: 1 });
  check<Equal<typeof ns.x, number>>();
  const lock = new m.Lock();
  check<Equal<Awaited<ReturnType<typeof lock.acquire>>, boolean>>();
  const n = await lock.with(() => 5);
  check<Equal<typeof n, number>>();

  // @ts-expect-error items of the wrong type for the closure
  await pool.map((x: number) => x, ['a']);
  // @ts-expect-error the dummy Pool takes no maxTasksPerChild
  new dummy.Pool({ processes: 2, maxTasksPerChild: 3 });
  // @ts-expect-error args must match the target
  new dummy.Process({ target: (n: number) => n, args: ['x'] });
  // @ts-expect-error a dummy Queue<Job> takes jobs
  q.putNowait(1);
  // @ts-expect-error 'Q' holds bigint
  new dummy.Value('Q', 1);
  // @ts-expect-error the dummy Condition takes a dummy Lock or RLock
  new dummy.Condition(new Lock());
  // @ts-expect-error the first end sends numbers
  end1.sendSync('x');
}
