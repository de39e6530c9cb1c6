/** Shared helpers of the behaviour suites. */
import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize } from 'node:v8';
import { spawn } from 'node:child_process';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitForFile } from './fixtures/targets.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-ts-test-'));
let n = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh path for a child to write its result to. */
export function tmpPath(label = 'r'): string {
  return join(dir, `${label}-${process.pid}-${++n}`);
}

/** Reads what a child wrote with `report()`. */
export function readResult<T = unknown>(path: string): T {
  return deserialize(readFileSync(path)) as T;
}

/** Waits (bounded) for a child to write its result, then reads it. */
export async function awaitResult<T = unknown>(path: string, ms = 20_000): Promise<T> {
  await waitForFile(path, ms);
  // the writer may not have finished: retry a few times on a short read
  for (let i = 0; ; i++) {
    try {
      return readResult<T>(path);
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const programs = fileURLToPath(new URL('./fixtures/programs/', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a Node program (a fixture) to its end, bounded by `timeoutMs`.
 * `onStdout` sees output as it arrives (to act while the program runs).
 */
export function runProgram(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; onStdout?: (all: string, child: import('node:child_process').ChildProcess) => void; node?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.node ?? process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      options.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`program ${args.join(' ')} did not finish in ${options.timeoutMs ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
}

/** True while a process with this pid exists (and is not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** `p`, or a rejection naming `what` once `ms` have passed (a hang fails the test instead of stalling it). */
export async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` until true or the bound passes. */
export async function eventually(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Pids of this process's live child processes started by the library (tools such as tsx's esbuild service are not counted). */
export function childPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== process.pid || fields[0] === 'Z') continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('process-entry')) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Number of OS threads of this process. */
export function threadCount(): number {
  const m = /Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

/** Ends warm standby workers (they are meant to outlive tests; the leak check must not count them). */
export function stopStandbys(): void {
  const sp = (globalThis as unknown as Record<symbol, { standby: Record<string, { handle: { kill(): void } } | null> } | undefined>)[
    Symbol.for('multiprocessing-ts.spawner')
  ];
  if (!sp) return;
  for (const m of Object.keys(sp.standby)) {
    sp.standby[m]?.handle.kill();
    sp.standby[m] = null;
  }
}
