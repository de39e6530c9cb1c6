/**
 * Behaviour suite of Process, run once per start method.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { realpathSync } from 'node:fs';
import {
  Process,
  ProcessError,
  getContext,
  activeChildren,
  currentProcess,
  parentProcess,
  cpuCount,
  isMain,
  fnRef,
  type StartMethod,
} from 'multiprocessing-ts';
import * as T from '../fixtures/targets.js';
import { tmpPath, awaitResult, readResult, eventually, childPids, threadCount, stopStandbys, pidAlive } from '../helpers.js';

const TEST_TIMEOUT = { timeout: 60_000 };

export function processSuite(method: StartMethod): void {
  const ctx = getContext(method);
  const P = ctx.Process;
  const started: Process[] = [];
  /** Starts and remembers a process, so every test leaves none behind. */
  const start = <X extends Process>(p: X): X => {
    started.push(p);
    p.start();
    return p;
  };
  let baselineThreads = 0;

  describe(`Process on the '${method}' start method`, () => {
    before(async () => {
      await readFile(new URL(import.meta.url)); // brings up libuv's pool before the thread baseline
      baselineThreads = threadCount();
    });

    after(async () => {
      for (const p of started) {
        try {
          if (p.isAlive()) p.kill();
          await p.join(10_000);
        } catch {
          /* closed */
        }
      }
      stopStandbys();
      // No child process and no worker thread may outlive the suite.
      await eventually(() => activeChildren().length === 0, 10_000, 'activeChildren() to be empty');
      await eventually(() => childPids().length === 0, 10_000, `no child processes (left: ${childPids().join(',')})`);
      await eventually(() => threadCount() <= baselineThreads, 10_000, `thread count back to ${baselineThreads} (now ${threadCount()})`);
    });

    it('runs an exported target with structured-cloned args and exits 0', TEST_TIMEOUT, async () => {
      const path = tmpPath();
      const when = new Date(1_700_000_000_000);
      const args = [new Map([['a', 1]]), new Set([1n, 2n]), when, /x+/g, new Uint8Array([1, 2, 3]), { nested: [1, { deep: 'yes' }] }];
      const p = start(new P({ target: T.echo, args: [path, ...args] }));
      assert.equal(p.exitCode, null);
      await p.join(30_000);
      assert.equal(p.exitCode, 0);
      assert.deepEqual(readResult(path), args);
    });

    it('keeps cycles in args', TEST_TIMEOUT, async () => {
      const path = tmpPath();
      const a: { self?: unknown; n: number } = { n: 1 };
      a.self = a;
      const p = start(new P({ target: T.echo, args: [path, a] }));
      await p.join(30_000);
      const [back] = readResult<[{ self: unknown; n: number }]>(path);
      assert.equal(back.n, 1);
      assert.equal(back.self, back);
    });

    it('exit codes: 1 when the target throws, 1 when it rejects, n after process.exit(n)', TEST_TIMEOUT, async () => {
      const a = start(new P({ target: T.throws, args: ['bad'] }));
      const b = start(new P({ target: T.rejects, args: ['worse'] }));
      const c = start(new P({ target: T.exitWith, args: [7] }));
      const d = start(new P({ target: T.exitWith, args: [0] }));
      await Promise.all([a.join(30_000), b.join(30_000), c.join(30_000), d.join(30_000)]);
      assert.deepEqual([a.exitCode, b.exitCode, c.exitCode, d.exitCode], [1, 1, 7, 0]);
    });

    it('terminate() gives -15 and kill() gives -9', TEST_TIMEOUT, async () => {
      const r1 = tmpPath();
      const r2 = tmpPath();
      const t = start(new P({ target: T.forever, args: [r1] }));
      const k = start(new P({ target: T.forever, args: [r2] }));
      await Promise.all([awaitResult(r1), awaitResult(r2)]);
      assert.equal(t.isAlive(), true);
      t.terminate();
      k.kill();
      await Promise.all([t.join(30_000), k.join(30_000)]);
      assert.equal(t.exitCode, -15);
      assert.equal(k.exitCode, -9);
      assert.equal(t.isAlive(), false);
      t.terminate(); // no-op once ended
      assert.equal(t.exitCode, -15);
    });

    it('join(ms) resolves on timeout with the child still alive; join(0) and join(-1) do not wait', TEST_TIMEOUT, async () => {
      const r = tmpPath();
      const p = start(new P({ target: T.forever, args: [r] }));
      await awaitResult(r);
      assert.equal(await p.join(50), undefined);
      assert.equal(await p.join(0), undefined);
      assert.equal(await p.join(-1), undefined);
      assert.equal(p.isAlive(), true);
      assert.equal(p.exitCode, null);
      p.terminate();
      await p.join(30_000);
      assert.equal(p.exitCode, -15);
    });

    it('join({ signal }) rejects with the reason and leaves the child running', TEST_TIMEOUT, async () => {
      const r = tmpPath();
      const p = start(new P({ target: T.forever, args: [r] }));
      await awaitResult(r);
      const ac = new AbortController();
      const waiting = p.join(undefined, { signal: ac.signal });
      ac.abort(new Error('stop waiting'));
      await assert.rejects(waiting, /stop waiting/);
      await assert.rejects(p.join(undefined, { signal: AbortSignal.abort(new Error('already')) }), /already/);
      assert.equal(p.isAlive(), true);
      p.kill();
      await p.join(30_000);
    });

    it('misuse throws ProcessError with what to do', TEST_TIMEOUT, async () => {
      const p = new P({ target: T.nothing });
      await assert.rejects(p.join(), (e: unknown) => e instanceof ProcessError && /call start\(\)/.test((e as Error).message));
      assert.throws(() => p.terminate(), ProcessError);
      assert.equal(p.isAlive(), false);
      start(p);
      assert.throws(() => p.start(), (e: unknown) => e instanceof ProcessError && /twice/.test((e as Error).message));
      assert.throws(() => {
        p.daemon = true;
      }, /before start/);
      await p.join(30_000);
      p.close();
      p.close(); // idempotent
      assert.throws(() => p.exitCode, /closed/);
      assert.throws(() => p.pid, /closed/);
      assert.throws(() => p.isAlive(), /closed/);
      await assert.rejects(p.join(), /closed/);
      assert.throws(() => p.start(), /closed/);
      assert.match(p.name, /^Process-\d+$/);
    });

    it('close() while running throws, and works after the child ended', TEST_TIMEOUT, async () => {
      const r = tmpPath();
      const p = start(new P({ target: T.forever, args: [r] }));
      await awaitResult(r);
      assert.throws(() => p.close(), (e: unknown) => e instanceof ProcessError && /still running/.test((e as Error).message));
      p.terminate();
      await p.join(30_000);
      p.close();
      assert.throws(() => p.exitCode, ProcessError);
    });

    it('rejects bad arguments with TypeError naming them', () => {
      assert.throws(() => new P({ target: 5 as unknown as () => void }), /target must be a function; received number/);
      assert.throws(() => new P({ args: 'x' as unknown as [] }), /args must be an array/);
      assert.throws(() => new P({ name: 3 as unknown as string }), /name must be a string/);
      assert.throws(() => new P({ daemon: 'yes' as unknown as boolean }), /daemon must be a boolean/);
      const p = new P({ target: T.nothing });
      assert.throws(() => {
        p.name = 1 as unknown as string;
      }, TypeError);
      assert.throws(() => {
        p.daemon = 1 as unknown as boolean;
      }, TypeError);
    });

    it('join rejects a timeout that is NaN or not a number', TEST_TIMEOUT, async () => {
      const p = start(new P({ target: T.nothing }));
      await assert.rejects(p.join(NaN), TypeError);
      await assert.rejects(p.join('10' as unknown as number), /ms must be a number/);
      await p.join(30_000);
    });

    it('refuses, at the call, functions a worker could not find, naming them and their file', () => {
      const closure = T.makeClosure();
      assert.throws(() => new P({ target: closure }), (e: unknown) => {
        assert.ok(e instanceof ProcessError);
        assert.match((e as Error).message, /closure/);
        assert.match((e as Error).message, /targets\.ts/);
        assert.match((e as Error).message, /export/);
        return true;
      });
      assert.throws(() => new P({ target: T.getNotExported() }), /'notExported'.*targets\.ts.*does not export it/s);
      assert.throws(() => new P({ target: T.methods.method }), /'method'.*export/s);
      const local = (x: number) => x * 2;
      assert.throws(() => new P({ target: local }), /'local'.*process\.ts.*export/s);
      assert.throws(() => new P({ target: T.add.bind(null, 1) }), /bound function/);
      assert.throws(() => new P({ target: Math.max }), /built-in/);
    });

    it('passes exported functions and registered classes inside args', TEST_TIMEOUT, async () => {
      const r1 = tmpPath();
      const r2 = tmpPath();
      const a = start(new P({ target: T.callWith, args: [r1, T.add] }));
      const b = start(new P({ target: T.usePoint, args: [r2, new T.Point(3, 4)] }));
      await Promise.all([a.join(30_000), b.join(30_000)]);
      assert.equal(a.exitCode, 0);
      assert.equal(readResult(r1), 5);
      assert.deepEqual(readResult(r2), { isPoint: true, norm: 5 });
    });

    it('rejects args that cannot cross, naming the path, and nothing is started', () => {
      const before = activeChildren().length;
      assert.throws(() => new P({ target: T.echo, args: ['x', { handler: Symbol('s') }] }).start(), /args\[1\]\.handler.*symbol/);
      assert.throws(
        () => new P({ target: T.echo, args: ['x', { deep: [1, T.makeClosure()] }] }).start(),
        /args\[1\]\.deep\[1\].*closure/s,
      );
      assert.throws(() => new P({ target: T.echo, args: ['x', Promise.resolve(1)] }).start(), /args\[1\].*Promise/);
      assert.equal(activeChildren().length, before);
    });

    it('accepts fnRef() wherever a function goes', TEST_TIMEOUT, async () => {
      const r = tmpPath();
      const url = new URL('../fixtures/targets.ts', import.meta.url);
      const mod = fnRef<typeof T>(url);
      const p = start(new P({ target: mod.echo, args: [r, 'via fnRef'] }));
      await p.join(30_000);
      assert.equal(p.exitCode, 0);
      assert.deepEqual(readResult(r), ['via fnRef']);
      const byName = fnRef<typeof T.echo>(url, 'echo');
      assert.throws(() => byName('x'), /cannot be called here/);
      assert.throws(() => fnRef('./relative.js', 'x'), /relative/);
      const missing = start(new P({ target: fnRef(url, 'noSuchExport') }));
      await missing.join(30_000);
      assert.equal(missing.exitCode, 1);
    });

    it('names: Process-N by default, the given name, nested Process-a:b', TEST_TIMEOUT, async () => {
      const a = new P({ target: T.nothing });
      const b = new P({ target: T.nothing });
      const na = Number(/^Process-(\d+)$/.exec(a.name)![1]);
      assert.equal(b.name, `Process-${na + 1}`);
      assert.equal(new P({ name: 'worker', target: T.nothing }).name, 'worker');
      const r = tmpPath();
      const g = tmpPath();
      const c = start(new P({ target: T.spawnGrandchild, args: [r, method, g] }));
      await c.join(30_000);
      assert.equal(c.exitCode, 0);
      const res = readResult<{ me: string; child: string; code: number }>(r);
      assert.equal(res.me, c.name);
      assert.equal(res.child, `${c.name}:1`);
      assert.equal(res.code, 0);
      assert.equal(readResult<{ name: string }>(g).name, `${c.name}:1`);
    });

    it('daemon is inherited: a daemonic child makes daemonic grandchildren', TEST_TIMEOUT, async () => {
      const r = tmpPath();
      const g = tmpPath();
      const c = new P({ target: T.spawnGrandchild, args: [r, method, g], daemon: true });
      assert.equal(c.daemon, true);
      start(c);
      await c.join(30_000);
      const res = readResult<{ myDaemon: boolean; childDaemon: boolean }>(r);
      assert.deepEqual([res.myDaemon, res.childDaemon], [true, true]);
    });

    it('currentProcess() and parentProcess() in the child; pid and ident', TEST_TIMEOUT, async () => {
      const r1 = tmpPath();
      const r2 = tmpPath();
      const a = start(new P({ target: T.whoAmI, args: [r1], name: 'alpha' }));
      const b = start(new P({ target: T.whoAmI, args: [r2] }));
      await Promise.all([a.join(30_000), b.join(30_000)]);
      const ra = readResult<{ name: string; pid: number; ident: number; alive: boolean; daemon: boolean; parent: { name: string; pid: number; alive: boolean } }>(r1);
      const rb = readResult<{ ident: number }>(r2);
      assert.equal(ra.name, 'alpha');
      assert.equal(ra.alive, true);
      assert.equal(ra.daemon, false);
      assert.deepEqual(ra.parent, { name: 'MainProcess', pid: process.pid, alive: true });
      assert.equal(ra.ident, a.ident);
      assert.notEqual(a.ident, b.ident);
      assert.equal(rb.ident, b.ident);
      if (method === 'process') {
        assert.equal(ra.pid, a.pid);
        assert.notEqual(a.pid, process.pid);
      } else {
        assert.equal(ra.pid, process.pid);
        assert.equal(a.pid, process.pid);
      }
    });

    it('in the main process: currentProcess() is MainProcess, parentProcess() is null, isMain() is true', () => {
      const me = currentProcess();
      assert.equal(me.name, 'MainProcess');
      assert.equal(me.daemon, false);
      assert.equal(me.exitCode, null);
      assert.equal(me.isAlive(), true);
      assert.equal(me.pid, process.pid);
      assert.equal(parentProcess(), null);
      assert.equal(isMain(), true);
      assert.ok(cpuCount() >= 1);
      assert.throws(() => me.start(), ProcessError);
    });

    it('activeChildren() lists running children only', TEST_TIMEOUT, async () => {
      const r = tmpPath();
      const p = start(new P({ target: T.forever, args: [r] }));
      await awaitResult(r);
      assert.ok(activeChildren().includes(p));
      p.terminate();
      await p.join(30_000);
      assert.ok(!activeChildren().includes(p));
    });

    it('a subclass runs run() (sync or async) on a copy of its fields', TEST_TIMEOUT, async () => {
      const Sub = method === 'thread' ? T.ThreadWorkerProc : T.ProcessWorkerProc;
      const p = new Sub();
      p.path = tmpPath();
      p.items = new Map([['k', 1]]);
      assert.match(p.name, new RegExp(`^${Sub.name}-\\d+$`));
      start(p);
      await p.join(30_000);
      assert.equal(p.exitCode, 0);
      const res = readResult<{ name: string; items: Map<string, number>; isInstance: boolean; daemon: boolean }>(p.path);
      assert.deepEqual(res, { name: p.name, items: new Map([['k', 1]]), isInstance: true, daemon: false });
    });

    it('a subclass whose run() throws exits with 1', TEST_TIMEOUT, async () => {
      const Sub = method === 'thread' ? T.ThreadFailingProc : T.ProcessFailingProc;
      const p = start(new Sub());
      await p.join(30_000);
      assert.equal(p.exitCode, 1);
    });

    it('a subclass that is not exported is refused at start() with a message naming it', () => {
      const p = T.makeHidden();
      assert.throws(() => p.start(), /'HiddenProc'.*targets\.ts.*export/s);
      assert.equal(p.isAlive(), false);
    });

    it('env, execArgv and resourceLimits reach the child', TEST_TIMEOUT, async () => {
      const r1 = tmpPath();
      const r2 = tmpPath();
      const a = start(
        new P({ target: T.whoAmI, args: [r1], env: { ...process.env, MP_TEST_VAR: 'from-env' }, execArgv: ['--no-warnings'] }),
      );
      const b = start(new P({ target: T.heapLimit, args: [r2], resourceLimits: { maxOldGenerationSizeMb: 64 } }));
      await Promise.all([a.join(30_000), b.join(30_000)]);
      const ra = readResult<{ env: string; execArgv: string[] }>(r1);
      assert.equal(ra.env, 'from-env');
      assert.ok(ra.execArgv.includes('--no-warnings'), `execArgv: ${ra.execArgv.join(' ')}`);
      const limit = readResult<number>(r2);
      assert.ok(limit < 200 * 1024 * 1024, `heap limit ${limit}`);
    });

    it('a child started after process.env changed sees the new environment (warm standby discarded)', TEST_TIMEOUT, async () => {
      const r1 = tmpPath();
      const first = start(new P({ target: T.whoAmI, args: [r1] }));
      await first.join(30_000);
      process.env.MP_TEST_VAR = 'changed';
      try {
        const r2 = tmpPath();
        const second = start(new P({ target: T.whoAmI, args: [r2] }));
        await second.join(30_000);
        assert.equal(readResult<{ env: string }>(r2).env, 'changed');
      } finally {
        delete process.env.MP_TEST_VAR;
      }
    });

    if (method === 'process') {
      it('cwd option sets the child working directory', TEST_TIMEOUT, async () => {
        const r = tmpPath();
        const dir = realpathSync(tmpdir());
        const p = start(new P({ target: T.whoAmI, args: [r], cwd: dir }));
        await p.join(30_000);
        assert.equal(readResult<{ cwd: string }>(r).cwd, dir);
      });

      it('a daemonic child process ends when its parent process is killed', TEST_TIMEOUT, async () => {
        // The parent here is a child of ours; the grandchild must notice it vanished.
        const r = tmpPath();
        const g = tmpPath();
        const parent = start(new P({ target: T.spawnDaemonThenWait, args: [r, g] }));
        const gpid = await awaitResult<number>(g);
        assert.ok(pidAlive(gpid));
        parent.kill();
        await parent.join(30_000);
        await eventually(() => !pidAlive(gpid), 15_000, `daemonic grandchild ${gpid} to exit`);
      });
    } else {
      it('cwd option is refused on threads with a message naming the process start method', () => {
        const p = new P({ target: T.nothing, cwd: '/' });
        assert.throws(() => p.start(), /'cwd' option is not supported on the 'thread' start method.*getContext\('process'\)/);
      });
    }
  });
}
