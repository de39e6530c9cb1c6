/**
 * The native addon (native/, loaded by src/internal/native.ts): POSIX shared
 * memory as a SharedArrayBuffer, futex waits and wakes across processes, and
 * asynchronous waits served by a native waiter thread per JavaScript thread.
 *
 * Every wait is bounded; processes and threads synchronise through futexes,
 * IPC messages and exit events, never through sleeps. Every segment created
 * here is unlinked.
 *
 * Not tested, by design: that Atomics.notify does not wake a futex waiter (and
 * futexWake no Atomics.wait waiter). That is documented in native.ts; all the
 * waiters of one word use the same mechanism.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { native, nativeLoadError, nativePath, type AsyncWaitResult, type NativeApi } from '../src/internal/native.js';

const childScript = fileURLToPath(new URL('./fixtures/native-child.mjs', import.meta.url));
const workerScript = new URL('./fixtures/native-worker.mjs', import.meta.url);
const BOUND_MS = 20_000; // upper bound of any single step
const linux = process.platform === 'linux';

function api(): NativeApi {
  assert.ok(native, `the native addon did not load: ${nativeLoadError}`);
  return native;
}

// ---- segments ---------------------------------------------------------------

let segmentSeq = 0;
const segments = new Set<string>();

/** A fresh segment name, unlinked after the tests whatever happens. */
function segmentName(label: string): string {
  const name = `mp-ts-native-test-${process.pid}-${label}-${++segmentSeq}`;
  segments.add(name);
  return name;
}

function unlink(name: string): void {
  native?.shmUnlink(name);
  segments.delete(name);
}

after(() => {
  for (const name of segments) native?.shmUnlink(name);
});

// ---- bounded helpers -------------------------------------------------------------

async function bounded<T>(promise: Promise<T>, what: string, ms = BOUND_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function waitAsync(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): Promise<AsyncWaitResult> {
  return new Promise((resolve) => api().waitAsync(sab, byteOffset, expected, timeoutMs, resolve));
}

interface Child {
  process: ChildProcess;
  /** The next IPC message from the child (bounded). */
  next(): Promise<unknown>;
  /** Resolves with the exit code (bounded). */
  exit(): Promise<number | null>;
}

/** Forks test/fixtures/native-child.mjs in `mode`, with an IPC channel. */
function forkChild(mode: string, ...args: string[]): Child {
  const child = fork(childScript, [mode, ...args], {
    env: { ...process.env, MP_NATIVE_ADDON: nativePath ?? '' },
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const queue: unknown[] = [];
  const takers: ((message: unknown) => void)[] = [];
  child.on('message', (message) => {
    const take = takers.shift();
    if (take) take(message);
    else queue.push(message);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    process: child,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : bounded(new Promise((resolve) => takers.push(resolve)), `message from child ${mode}`)),
    exit: () => bounded(exited, `exit of child ${mode}`),
  };
}

/** Kills a child that a failed test left behind. */
function reap(child: Child): void {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
}

/** Runs native-child.mjs in `mode` as a plain program; it must end by itself. */
async function runChild(mode: string, options: { args?: string[]; env?: NodeJS.ProcessEnv; execArgv?: string[] } = {}) {
  const child = spawn(process.execPath, [...(options.execArgv ?? []), childScript, mode, ...(options.args ?? [])], {
    env: { ...process.env, NODE_OPTIONS: '', MP_NATIVE_ADDON: nativePath ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    const [code, signal] = (await bounded(once(child, 'close'), `program native-child ${mode} (it should end by itself)`)) as [number | null, string | null];
    return { code, signal, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

// ---- tests ----------------------------------------------------------------------

test('the addon loads with the expected interface', { skip: !linux && 'Linux only' }, () => {
  const m = api();
  assert.equal(nativeLoadError, null);
  assert.equal(m.abiVersion, 1);
  const stats = m.stats();
  assert.equal(typeof stats.mappings, 'number');
  assert.equal(typeof stats.futexWaitv, 'boolean');
  assert.equal(stats.pendingWaits, 0);
});

test('shmCreate, shmOpen and shmUnlink', { skip: !linux && 'Linux only' }, () => {
  const m = api();
  const name = segmentName('basic');
  try {
    const a = m.shmCreate(name, 10_000);
    assert.ok(a instanceof SharedArrayBuffer);
    assert.equal(a.byteLength, 10_000);
    assert.ok(new Uint8Array(a).every((b) => b === 0), 'a new segment is zero-filled');

    // The same segment, with or without the leading slash.
    const b = m.shmOpen(`/${name}`);
    assert.equal(b.byteLength, 10_000);
    new Int32Array(a)[7] = 123456;
    assert.equal(new Int32Array(b)[7], 123456);
    new Uint8Array(b)[9_999] = 9;
    assert.equal(new Uint8Array(a)[9_999], 9);

    assert.throws(
      () => m.shmCreate(name, 16),
      (e: NodeJS.ErrnoException) => e.code === 'EEXIST' && e.message.includes(`/${name}`) && e.syscall === 'shm_open',
    );
    assert.throws(() => m.shmCreate(segmentName('bad'), 0), RangeError);
    assert.throws(() => m.shmCreate(segmentName('bad'), 1.5), RangeError);
    assert.throws(() => m.shmCreate(segmentName('bad'), -4), RangeError);
    assert.throws(() => m.shmCreate('', 16), TypeError);
    assert.throws(() => m.shmCreate(42 as unknown as string, 16), TypeError);

    assert.equal(m.shmUnlink(name), true);
    assert.equal(m.shmUnlink(name), false, 'a second unlink finds nothing');
    assert.throws(
      () => m.shmOpen(name),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.message.includes(`/${name}`),
    );
    // The mappings outlive the name.
    assert.equal(new Int32Array(b)[7], 123456);
  } finally {
    unlink(name);
  }
});

test('the mapping is shared with a child process', { skip: !linux && 'Linux only' }, async () => {
  const m = api();
  const name = segmentName('shared');
  const child = forkChild('shared', name);
  try {
    const i32 = new Int32Array(m.shmCreate(name, 4096));
    Atomics.store(i32, 0, 0x1234);
    // The child may open the segment only after it exists: it is forked first, but
    // shmOpen happens after its start-up, long after shmCreate above returned.
    assert.deepEqual(await child.next(), { seen: 0x1234, byteLength: 4096 });
    assert.equal(await child.exit(), 0);
    assert.equal(Atomics.load(i32, 1), 0x5678, "the child's write is visible here");
  } finally {
    reap(child);
    unlink(name);
  }
});

test('2 processes x 2,000,000 Atomics.add give exactly 4,000,000', { skip: !linux && 'Linux only' }, async () => {
  const m = api();
  const name = segmentName('add');
  const N = 2_000_000;
  let child: Child | undefined;
  try {
    const sab = m.shmCreate(name, 4096);
    const i32 = new Int32Array(sab);
    child = forkChild('add', name, String(N));
    assert.equal(await child.next(), 'ready');
    // Start both at once: the child waits on word 1.
    Atomics.store(i32, 1, 1);
    m.futexWake(sab, 4, 1);
    for (let i = 0; i < N; i++) Atomics.add(i32, 0, 1);
    assert.equal(await child.next(), 'done');
    assert.equal(await child.exit(), 0);
    assert.equal(Atomics.load(i32, 0), 2 * N);
  } finally {
    if (child) reap(child);
    unlink(name);
  }
});

test('futexWait: 1 on a value mismatch, 2 on timeout, argument checks', { skip: !linux && 'Linux only' }, () => {
  const m = api();
  const sab = new SharedArrayBuffer(16);
  const i32 = new Int32Array(sab);
  Atomics.store(i32, 1, 5);
  assert.equal(m.futexWait(sab, 4, 6, 1000), 1);
  assert.equal(m.futexWait(sab, 4, 5 - 2 ** 32, 0), 2, 'expected is taken as an int32 (5 - 2^32 is 5)');
  const t0 = performance.now();
  assert.equal(m.futexWait(sab, 4, 5, 20), 2);
  const waited = performance.now() - t0;
  assert.ok(waited >= 19 && waited < 5_000, `timed out after ${waited} ms`);
  assert.equal(m.futexWake(sab, 4, 1), 0, 'nobody waits');
  assert.equal(m.futexWake(sab, 4, Infinity), 0);

  assert.throws(() => m.futexWait(sab, 2, 0, 0), RangeError);
  assert.throws(() => m.futexWait(sab, 16, 0, 0), RangeError);
  assert.throws(() => m.futexWait(sab, -4, 0, 0), RangeError);
  assert.throws(() => m.futexWake(sab, 13, 1), RangeError);
  assert.throws(() => m.futexWait(new ArrayBuffer(16) as unknown as SharedArrayBuffer, 0, 0, 0), TypeError);
  assert.throws(() => m.waitAsync(sab, 0, 0, 0, null as unknown as () => void), TypeError);
});

test('futex ping-pong between two processes: 10,000 round trips', { skip: !linux && 'Linux only' }, async (t) => {
  const m = api();
  const name = segmentName('pingpong');
  const N = 10_000;
  let child: Child | undefined;
  try {
    const sab = m.shmCreate(name, 4096);
    const i32 = new Int32Array(sab);
    child = forkChild('pong', name, String(N));
    assert.equal(await child.next(), 'ready');
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      Atomics.store(i32, 0, 2 * i + 1);
      m.futexWake(sab, 0, 1);
      for (;;) {
        const seen = Atomics.load(i32, 0);
        if (seen === 2 * i + 2) break;
        assert.equal(seen, 2 * i + 1, `round ${i}: the alternation broke`);
        assert.notEqual(m.futexWait(sab, 0, seen, 10_000), 2, `round ${i}: no answer within 10 s`);
      }
    }
    const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
    t.diagnostic(`futex ping-pong across processes: ${us.toFixed(2)} µs per round trip`);
    assert.equal(await child.next(), 'done');
    assert.equal(await child.exit(), 0);
  } finally {
    if (child) reap(child);
    unlink(name);
  }
});

test("waitAsync is woken by another process's futexWake, 50 distinct words at once", { skip: !linux && 'Linux only' }, async () => {
  const m = api();
  const name = segmentName('wake');
  let child: Child | undefined;
  try {
    const sab = m.shmCreate(name, 4096);
    child = forkChild('wake', name);
    assert.equal(await child.next(), 'ready');

    // futexWake counts an asynchronous waiter only once the waiter thread sleeps on its word,
    // which may be a moment after waitAsync returned: the count is 0 or 1, and the wait
    // completes either way (a word that changed after waitAsync counts as a wake).
    const isWoken = (msg: unknown) => typeof msg === 'object' && msg !== null && 'woken' in msg && (msg.woken === 0 || msg.woken === 1);
    const pendingBefore = m.stats().pendingWaits;
    const one = waitAsync(sab, 0, 0, BOUND_MS);
    child.process.send({ index: 0, value: 1 });
    assert.ok(isWoken(await child.next()));
    assert.equal(await bounded(one, 'the woken waitAsync'), 0);

    const words = Array.from({ length: 50 }, (_, i) => 1 + i);
    const waits = words.map((w) => waitAsync(sab, 4 * w, 0, BOUND_MS));
    assert.equal(m.stats().pendingWaits, pendingBefore + 50);
    let counted = 0;
    for (const index of words) {
      child.process.send({ index, value: 1 });
      const reply = await child.next();
      assert.ok(isWoken(reply), `word ${index}: ${JSON.stringify(reply)}`);
      counted += (reply as { woken: number }).woken;
    }
    assert.deepEqual(await bounded(Promise.all(waits), 'the 50 waits'), words.map(() => 0));
    assert.ok(counted > 0, 'most wakes found their waiter asleep in the kernel');
    assert.equal(m.stats().pendingWaits, pendingBefore);
    child.process.send('exit');
    assert.equal(await child.exit(), 0);
  } finally {
    if (child) reap(child);
    unlink(name);
  }
});

test('waitAsync ping-pong with another process', { skip: !linux && 'Linux only' }, async (t) => {
  const m = api();
  const name = segmentName('asyncpong');
  const N = 5_000;
  let child: Child | undefined;
  try {
    const sab = m.shmCreate(name, 4096);
    const i32 = new Int32Array(sab);
    child = forkChild('pong', name, String(N));
    assert.equal(await child.next(), 'ready');
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      Atomics.store(i32, 0, 2 * i + 1);
      m.futexWake(sab, 0, 1);
      for (;;) {
        const seen = Atomics.load(i32, 0);
        if (seen === 2 * i + 2) break;
        assert.equal(seen, 2 * i + 1, `round ${i}: the alternation broke`);
        assert.notEqual(await waitAsync(sab, 0, seen, 10_000), 2, `round ${i}: no answer within 10 s`);
      }
    }
    const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
    t.diagnostic(`waitAsync ping-pong across processes: ${us.toFixed(2)} µs per round trip`);
    assert.equal(await child.next(), 'done');
    assert.equal(await child.exit(), 0);
  } finally {
    if (child) reap(child);
    unlink(name);
  }
});

test('waitAsync: timeout, mismatch, cancellation, never synchronous', { skip: !linux && 'Linux only' }, async () => {
  const m = api();
  const sab = new SharedArrayBuffer(16);

  const t0 = performance.now();
  assert.equal(await bounded(waitAsync(sab, 0, 0, 20), 'a 20 ms wait'), 2);
  const waited = performance.now() - t0;
  assert.ok(waited >= 19, `timed out after ${waited} ms`);

  let returned = false;
  const mismatch = new Promise<[AsyncWaitResult, boolean]>((resolve) => {
    m.waitAsync(sab, 0, 1, -1, (r) => resolve([r, returned]));
    returned = true;
  });
  assert.deepEqual(await bounded(mismatch, 'a mismatched wait'), [1, true], 'reported later, through the loop');

  let id = 0;
  const cancelled = new Promise<AsyncWaitResult>((resolve) => {
    id = m.waitAsync(sab, 4, 0, -1, resolve);
  });
  assert.equal(typeof id, 'number');
  assert.equal(m.cancelWait(id), true);
  assert.equal(m.cancelWait(id), false, 'a second cancel finds nothing pending');
  assert.equal(await bounded(cancelled, 'a cancelled wait'), 3);
  assert.equal(m.cancelWait(id), false);
  assert.equal(m.cancelWait(123456789), false, 'unknown id');

  // A wait that has completed but whose callback has not run yet cannot be cancelled: a
  // mismatch is decided inside waitAsync, the callback runs later with 1.
  const decided = new Promise<AsyncWaitResult>((resolve) => {
    id = m.waitAsync(sab, 8, 1, -1, resolve);
  });
  assert.equal(m.cancelWait(id), false);
  assert.equal(await bounded(decided, 'a decided wait'), 1);

  // A wake racing a cancel: whichever wins, the callback agrees with cancelWait's answer.
  const raced = new Promise<AsyncWaitResult>((resolve) => {
    id = m.waitAsync(sab, 8, 0, -1, resolve);
  });
  Atomics.store(new Int32Array(sab), 2, 1);
  m.futexWake(sab, 8, 1);
  const cancelledIt = m.cancelWait(id);
  assert.equal(await bounded(raced, 'a woken wait'), cancelledIt ? 3 : 0);
});

test('over 127 pending waits spread over several waiter threads', { skip: !linux && 'Linux only' }, async () => {
  const m = api();
  const N = 300;
  const sab = new SharedArrayBuffer(4 * N);
  const i32 = new Int32Array(sab);
  const pendingBefore = m.stats().pendingWaits;
  const waits = Array.from({ length: N }, (_, i) => waitAsync(sab, 4 * i, 0, BOUND_MS));
  const stats = m.stats();
  assert.equal(stats.pendingWaits, pendingBefore + N);
  if (stats.futexWaitv) assert.ok(stats.waiterThreads >= 3, `${stats.waiterThreads} waiter threads for ${N} waits`);
  for (let i = 0; i < N; i++) Atomics.store(i32, i, 1);
  for (let i = 0; i < N; i++) m.futexWake(sab, 4 * i, 1);
  assert.ok((await bounded(Promise.all(waits), `${N} waits`)).every((r) => r === 0));
  assert.equal(m.stats().pendingWaits, pendingBefore);
});

test('several waits on one word all complete', { skip: !linux && 'Linux only' }, async () => {
  const m = api();
  const sab = new SharedArrayBuffer(8);
  const waits = Array.from({ length: 20 }, () => waitAsync(sab, 0, 0, BOUND_MS));
  Atomics.store(new Int32Array(sab), 0, 1);
  m.futexWake(sab, 0, Infinity);
  assert.deepEqual(await bounded(Promise.all(waits), '20 waits on one word'), waits.map(() => 0));
});

test('the callback runs in the async context of the waitAsync call', { skip: !linux && 'Linux only' }, async () => {
  const m = api();
  const als = new AsyncLocalStorage<string>();
  const sab = new SharedArrayBuffer(8);
  const seen = await bounded(
    new Promise<string | undefined>((resolve) => als.run('ctx-1', () => m.waitAsync(sab, 0, 0, 5, () => resolve(als.getStore())))),
    'a wait in an async context',
  );
  assert.equal(seen, 'ctx-1');
});

test('a pending waitAsync keeps the process alive; an idle or cancelled one does not', { skip: !linux && 'Linux only' }, async () => {
  const alive = await runChild('timeout-alive');
  assert.equal(alive.code, 0, alive.stderr);
  const ms = Number(/result 2 after (\d+)/.exec(alive.stdout)?.[1]);
  assert.ok(ms >= 99, `the process stayed alive for its 100 ms wait (${alive.stdout.trim()})`);

  const cancelled = await runChild('cancel-exit');
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.match(cancelled.stdout, /cancelled true/);
  assert.match(cancelled.stdout, /result 3 pending 0/);
});

test('a throwing callback is an uncaught exception; the other callbacks still run', { skip: !linux && 'Linux only' }, async () => {
  const r = await runChild('throw');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /caught boom/);
  assert.match(r.stdout, /second 1/);
  assert.match(r.stdout, /uncaught 1/);
});

test('without futex_waitv (one thread per wait) waitAsync behaves the same', { skip: !linux && 'Linux only' }, async () => {
  const r = await runChild('fallback', { env: { MULTIPROCESSING_TS_NO_FUTEX_WAITV: '1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    futexWaitv: false,
    notEqual: 1,
    timedOut: 2,
    threadsWhilePending: 1,
    woken: 0,
    cancel: true,
    cancelled: 3,
    many: true,
  });
});

test('the mapping is released when the last copy, in any thread, is collected', { skip: !linux && 'Linux only' }, async () => {
  const name = segmentName('gc');
  try {
    const r = await runChild('gc', { args: [name], execArgv: ['--expose-gc'] });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, number>;
    assert.equal(out.created, 1, 'mapped once');
    assert.equal(out.stats, 1);
    assert.equal(out.whileWorkerHoldsIt, 1, "the worker's copy keeps it mapped");
    assert.equal(out.afterWorkerExit, 0, 'unmapped once no copy is left');
    assert.equal(out.statsAfter, 0);
  } finally {
    unlink(name);
  }
});

test('buffers made by a worker outlive its end (the addon is never unloaded)', { skip: !linux && 'Linux only' }, async () => {
  const name = segmentName('unload');
  try {
    const r = await runChild('unload', { args: [name], execArgv: ['--expose-gc'] });
    assert.equal(r.signal, null, `the program crashed: ${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { whileKept: 3, afterRelease: 0 });
  } finally {
    for (let i = 0; i < 3; i++) {
      native?.shmUnlink(`${name}-${i}`);
      native?.shmUnlink(`${name}-${i}-shared`);
    }
    unlink(name);
  }
});

test('a worker thread has its own waiter and ends by itself once its wait is done', { skip: !linux && 'Linux only' }, async () => {
  const m = api();
  const sab = new SharedArrayBuffer(8);
  const worker = new Worker(workerScript, { workerData: { path: nativePath, sab, mode: 'async-wake' } });
  try {
    const messages: unknown[] = [];
    worker.on('message', (msg) => messages.push(msg));
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    // Wake the worker's wait once it is in place.
    await bounded(once(worker, 'message'), 'the worker to start waiting');
    Atomics.store(new Int32Array(sab), 0, 1);
    m.futexWake(sab, 0, 1);
    assert.equal(await bounded(exited, 'the worker to end by itself'), 0);
    const result = messages.find((msg): msg is { result: number; stats: { pendingWaits: number } } => typeof msg === 'object' && msg !== null && 'result' in msg);
    assert.equal(result?.result, 0);
    assert.equal(result?.stats.pendingWaits, 0);
  } finally {
    await worker.terminate();
  }
});

for (const mode of ['async-block', 'sync-block'] as const) {
  test(`a worker blocked in ${mode === 'async-block' ? 'waitAsync' : 'futexWait'} is terminated cleanly`, { skip: !linux && 'Linux only' }, async (t) => {
    const m = api();
    const sab = new SharedArrayBuffer(8);
    const threadsBefore = threadCount();
    const worker = new Worker(workerScript, { workerData: { path: nativePath, sab, mode } });
    const errors: unknown[] = [];
    worker.on('error', (e) => errors.push(e));
    await bounded(once(worker, 'message'), 'the worker to start waiting');
    if (mode === 'sync-block') {
      // Make sure it is asleep in the kernel: a wake finds it (it then waits again).
      const deadline = performance.now() + BOUND_MS;
      while (m.futexWake(sab, 0, 1) === 0) {
        assert.ok(performance.now() < deadline, 'the worker never blocked');
        await tick();
      }
    }
    const t0 = performance.now();
    await bounded(worker.terminate(), 'worker.terminate()', 5_000);
    t.diagnostic(`terminate() of a worker blocked in ${mode}: ${(performance.now() - t0).toFixed(1)} ms`);
    assert.deepEqual(errors, []);
    // The worker's thread and its native waiter thread are gone.
    assert.ok(threadCount() <= threadsBefore, `threads: ${threadsBefore} before, ${threadCount()} after`);
    // This thread's own waits still work.
    assert.equal(await bounded(waitAsync(sab, 0, 1, -1), 'a wait after the termination'), 1);
  });
}
