/**
 * Whole programs, run as a user would run them: output of children, the
 * liveness rules, signals, TypeScript under tsx, CommonJS, logging.
 * Each case runs on both start methods.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runProgram, programs, tmpPath, pidAlive, eventually, repoRoot } from './helpers.js';

const T = { timeout: 60_000 };
const tsxCli = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));
const prog = (name: string) => join(programs, name);

for (const method of ['thread', 'process'] as const) {
  describe(`programs on the '${method}' start method`, () => {
    it('a child’s output is complete and in order', T, async () => {
      const r = await runProgram([prog('output.mjs'), method, 'lines']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 2001);
      for (let i = 0; i < 2000; i++) assert.equal(lines[i], `line ${i}`);
      assert.equal(lines[2000], 'exit 0');
      assert.match(r.stderr, /stderr line/);
    });

    it('a child that throws: its output survives, the error is printed as Python does, exit code 1', T, async () => {
      const r = await runProgram([prog('output.mjs'), method, 'throw']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^before throw\nexit 1\n$/);
      assert.match(r.stderr, /Process Process-1:\nError: kaboom\n\s+at throwAfterWriting/);
    });

    it('a child terminated after writing: the output is there, exit code -15', T, async () => {
      const r = await runProgram([prog('output.mjs'), method, 'terminate', tmpPath('marker')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'line before terminate\nexit -15\n');
    });

    it('a child’s output is not lost while the parent blocks and then exits at once', T, async () => {
      const r = await runProgram([prog('output.mjs'), method, 'blocked', tmpPath('marker')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'from child while parent blocked\n');
    });

    it('a non-daemonic child keeps the program alive until it finishes', T, async () => {
      const r = await runProgram([prog('lifetime.mjs'), method, 'nondaemon']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'main done\nchild done\n');
    });

    it('a daemonic child never keeps the program alive, and ends with it', T, async () => {
      const marker = tmpPath('marker');
      const r = await runProgram([prog('lifetime.mjs'), method, 'daemon', marker], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^main done/);
      if (method === 'process' && existsSync(marker)) {
        const pid = Number(readFileSync(marker, 'utf8'));
        await eventually(() => !pidAlive(pid), 10_000, `daemonic child ${pid} to end with its parent`);
      }
    });

    it('a pending join keeps the program alive even for a daemonic child (no early exit 13)', T, async () => {
      const r = await runProgram([prog('lifetime.mjs'), method, 'pending-join']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'daemon finished\njoined 0\n');
    });

    it('a pool with pending work keeps the program alive; an idle one never does; a stuck aborted task only for its grace period', T, async () => {
      const pending = await runProgram([prog('pool-lifetime.mjs'), method, 'pending'], { timeoutMs: 30_000 });
      assert.equal(pending.code, 0, pending.stderr);
      assert.equal(pending.stdout, 'submitted\nresult 42\n');
      const idle = await runProgram([prog('pool-lifetime.mjs'), method, 'idle'], { timeoutMs: 30_000 });
      assert.equal(idle.code, 0, idle.stderr);
      assert.equal(idle.stdout, 'mapped 1,4,9\n');
      // The task spins for 60 s; its 100 ms timeout and 200 ms grace end it long before.
      const stuck = await runProgram([prog('pool-lifetime.mjs'), method, 'stuck'], { timeoutMs: 30_000 });
      assert.equal(stuck.code, 0, stuck.stderr);
      assert.equal(stuck.stdout, 'submitted\nfailed TimeoutError\n');
    });

    /**
     * Runs lifetime.mjs in `mode`; once the program's child has written its marker (it runs),
     * sends `signal` to the program. Returns the child's pid.
     */
    async function signalOnceRunning(mode: string, signal: NodeJS.Signals): Promise<number> {
      const marker = tmpPath('marker');
      let sent = false;
      let poll: NodeJS.Timeout | undefined;
      const r = await runProgram([prog('lifetime.mjs'), method, mode, marker], {
        onStdout: (out, child) => {
          if (poll || !out.includes('ready')) return;
          poll = setInterval(() => {
            if (!existsSync(marker)) return;
            clearInterval(poll);
            sent = true;
            child.kill(signal);
          }, 5);
        },
        timeoutMs: 30_000,
      });
      clearInterval(poll);
      assert.ok(sent, `the program never got ready: ${r.stdout} ${r.stderr}`);
      assert.equal(r.signal, signal);
      return Number(readFileSync(marker, 'utf8'));
    }

    it('a daemonic child busy computing ends when its parent is killed (SIGKILL: no exit hook runs)', T, async () => {
      const pid = await signalOnceRunning('daemon-busy', 'SIGKILL');
      try {
        await eventually(() => !pidAlive(pid), 10_000, `daemonic child ${pid}, spinning, to end with its killed parent`);
      } finally {
        if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
      }
    });

    it('SIGTERM to the parent reaches its children', T, async () => {
      const pid = await signalOnceRunning('sigterm', 'SIGTERM');
      await eventually(() => !pidAlive(pid), 10_000, `child ${pid} to end`);
    });

    it('forgetting the isMain() guard fails the child clearly instead of starting processes forever', T, async () => {
      const r = await runProgram([prog('unguarded.mjs'), method], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'exit 1\n');
      assert.match(r.stderr, /isMain\(\)/);
    });

    it('logToStderr() and NODE_DEBUG=multiprocessing report lifecycle events', T, async () => {
      const info = await runProgram([prog('logging.mjs'), method, 'info']);
      assert.equal(info.stdout, 'exit 0\n');
      assert.match(info.stderr, /\[INFO\/MainProcess\] process Process-1 started/);
      assert.match(info.stderr, /\[INFO\/Process-1\] child process calling self\.run\(\)/);
      assert.match(info.stderr, /\[INFO\/MainProcess\] process Process-1 .* exited with exitcode 0/);
      const quiet = await runProgram([prog('logging.mjs'), method, 'none']);
      assert.equal(quiet.stderr, '');
      const debug = await runProgram([prog('logging.mjs'), method, 'none'], { env: { NODE_DEBUG: 'multiprocessing' } });
      assert.match(debug.stderr, /\[DEBUG\/MainProcess\]/);
      assert.match(debug.stderr, /\[INFO\/MainProcess\] process Process-1 started/);
      // NODE_DEBUG is read as Node reads it: comma-separated names, any case, `*` for any run.
      const listed = await runProgram([prog('logging.mjs'), method, 'none'], { env: { NODE_DEBUG: 'net,MULTI*' } });
      assert.match(listed.stderr, /\[DEBUG\/MainProcess\]/);
      const others = await runProgram([prog('logging.mjs'), method, 'none'], { env: { NODE_DEBUG: 'multi,processing,multiprocessing-x' } });
      assert.doesNotMatch(others.stderr, /\[DEBUG\//);
    });
  });
}

describe('shared memory that killed programs left behind', () => {
  it('goes at the next program, even a segment killed before it was set up', { ...T, skip: process.platform !== 'linux' && 'Linux only' }, async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const tag = `${Date.now().toString(16)}`;
    const never = `/dev/shm/mpts-${dead}-1-0-${tag}a`; // created, never sized
    const unset = `/dev/shm/mpts-${dead}-2-0-${tag}b`; // sized, header never written
    const live = `/dev/shm/mpts-${process.pid}-3-0-${tag}c`; // its maker is alive: may be in the making
    writeFileSync(never, '');
    writeFileSync(unset, Buffer.alloc(8192));
    writeFileSync(live, '');
    try {
      const code = `
        const { Queue } = await import('multiprocessing-ts');
        const q = new Queue();
        q.put(7);
        console.log(await q.get());`;
      const r = await runProgram(['--input-type=module', '-e', code]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '7\n');
      assert.deepEqual([existsSync(never), existsSync(unset), existsSync(live)], [false, false, true]);
    } finally {
      for (const f of [never, unset, live]) rmSync(f, { force: true });
    }
  });
});

describe('module formats', () => {
  it('a program run with node -e: its children run their entry, not the -e code again', T, async () => {
    // Before 2026-11-24 a child process got the parent's `-e <code>` flags, ran the program
    // again instead of its task, and started children of its own without end.
    const tasks = new URL('./fixtures/programs/cjs-esm-tasks.mjs', import.meta.url).href;
    const code = `
      const { Pool } = await import('multiprocessing-ts');
      const { square } = await import(${JSON.stringify(tasks)});
      for (const method of ['thread', 'process']) {
        const pool = new Pool({ processes: 2, context: method });
        console.log(method, (await pool.map(square, [1, 2, 3])).join(','));
        pool.close();
        await pool.join();
      }`;
    const r = await runProgram(['--input-type=module', '-e', code]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'thread 1,4,9\nprocess 1,4,9\n');
  });

  it('a TypeScript entry run with tsx: function targets and a subclass, on both start methods', T, async () => {
    const r = await runProgram([tsxCli, prog('ts-main.ts')], { timeoutMs: 45_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'ts child Process-1 thread 42',
        'exit thread 0',
        'ts child Process-2 process 42',
        'exit process 0',
        'ts subclass 100',
        'exit subclass 0',
        '',
      ].join('\n'),
    );
  });

  it('a CommonJS entry (require, module.exports) on both start methods', T, async () => {
    const r = await runProgram([prog('cjs-main.cjs')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'cjs child 21\nexit thread 0\ncjs child 21\nexit process 0\n');
  });

  it('a CommonJS program runs the functions of an ES module in a pool, with a Lock as argument, on both start methods', T, async () => {
    const r = await runProgram([prog('cjs-pool-esm.cjs')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'thread 1,4,9 42\nprocess 1,4,9 42\n');
  });

  it('workers with no module hooks load ES modules with require() where they can: one instance, top-level await, a module that throws, a blocking get', T, async () => {
    const r = await runProgram([prog('esm-loading.mjs')]);
    assert.equal(r.code, 0, r.stderr);
    // 42: the module's own import() in the worker gives the same function (true), run once (1);
    // 2: top-level await; the failing module's error twice, the module run once (1); 60: the
    // function of a module not loaded yet, taken with getSync.
    const line = (m: string) => `${m}: 42 true 1 | 2 | Error: throws.mjs fails at load | Error: throws.mjs fails at load | 1 | 60 | exit 0`;
    assert.equal(r.stdout, `${line('thread')}\n${line('process')}\n`);
  });

  it('pools terminated while their threads link a large ES module graph with require() never take the program down', { timeout: 90_000 }, async () => {
    const folder = tmpPath('graph');
    try {
      const r = await runProgram([prog('terminate-loading.mjs'), folder, '120'], { timeoutMs: 80_000 });
      assert.equal(r.signal, null, `ended by ${r.signal}: ${r.stderr.slice(0, 400)}`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'pools 120\n');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('the demo (npm run demo) runs in its fast mode and agrees with the serial count', T, async () => {
    const r = await runProgram([tsxCli, join(repoRoot, 'examples', 'demo.ts')], { env: { DEMO_LIMIT: '20000' }, timeoutMs: 45_000 });
    assert.equal(r.code, 0, r.stderr);
    // 2,262 primes below 20,000
    assert.match(r.stdout, /serial, one thread: +2262 primes/);
    assert.match(r.stdout, /worker threads: +2262 primes/);
    assert.match(r.stdout, /exit codes 0(, 0)*;/);
  });
});
