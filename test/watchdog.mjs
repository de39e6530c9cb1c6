/**
 * Loaded into every test file's process by `npm test` (`--import ./test/watchdog.mjs`), so that
 * a test file that cannot end fails with a report instead of stalling the whole run.
 *
 * Two ways a file can fail to end, and what happens then:
 * - Something keeps its event loop alive after its last test (a worker, a child process, a
 *   socket or a timer nobody closed). LINGER_MS after the last test the file prints what is
 *   still open (`process.getActiveResourcesInfo()` and its descendant processes), kills its
 *   descendants and exits with code 1, so the run names the file as failed.
 * - Its main thread is stuck (a synchronous wait that never returns), or it is simply too slow:
 *   no timer of the main thread can fire then, so a small watchdog thread does the same report
 *   and kill once the file has run DEADLINE_MS, a little before the runner's own per-file limit
 *   (`--test-timeout` in package.json). The runner alone would send SIGTERM, which a stuck main
 *   thread cannot act on, and child processes left behind would hold the runner's output pipe
 *   open: the run would never end.
 *
 * The runner's own process, and the child processes the tests start, load this file too; it
 * does nothing there. Plain JavaScript, so
 * that the watchdog thread can load it without a TypeScript loader.
 */
import { after } from 'node:test';
import { Worker, isMainThread } from 'node:worker_threads';
import { readFileSync, writeSync } from 'node:fs';
import { processTable } from '../scripts/proc.mjs';

/** How long a file may stay alive after its last test. */
export const LINGER_MS = 20_000;
/** How long a file may run in all (the runner's `--test-timeout` in package.json is 240 s). */
export const DEADLINE_MS = 225_000;

/** Pids of every process below `root`. */
export function descendants(root) {
  const table = processTable();
  const out = [];
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.shift();
    for (const [pid, { ppid }] of table) {
      if (ppid === p) {
        out.push(pid);
        queue.push(pid);
      }
    }
  }
  return out;
}

function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 300);
  } catch {
    return '(gone)';
  }
}

/** Prints `why` and the descendant processes to stderr, then kills the descendants. */
export function reportAndKillTree(file, why) {
  const pids = descendants(process.pid);
  const lines = [`[watchdog] ${file}: ${why}`];
  lines.push(pids.length === 0 ? '[watchdog] no descendant process' : `[watchdog] ${pids.length} descendant process(es), killed now:`);
  for (const pid of pids) lines.push(`[watchdog]   ${pid} ${commandLine(pid)}`);
  writeSync(2, lines.join('\n') + '\n');
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Runs on the watchdog thread when the file has run `ms`: report, kill the descendants, then the file. */
export function onDeadline(file, ms) {
  reportAndKillTree(file, `still running after ${ms} ms (its main thread is stuck, or the file is too slow); killed`);
  process.kill(process.pid, 'SIGKILL');
}

// Only in a test file's own process: its child processes inherit the flag and the environment.
const isTestFile = isMainThread && process.env.NODE_TEST_CONTEXT !== undefined && /\.test\.[cm]?[jt]s$/.test(process.argv[1] ?? '');
if (isTestFile) {
  const done = new Int32Array(new SharedArrayBuffer(4));
  const watcher = new Worker(
    `
    const { workerData } = require('node:worker_threads');
    import(workerData.url).then((m) => {
      const done = new Int32Array(workerData.done);
      if (Atomics.wait(done, 0, 0, workerData.ms) === 'timed-out') m.onDeadline(workerData.file, workerData.ms);
    });
    `,
    { eval: true, workerData: { done: done.buffer, ms: DEADLINE_MS, url: import.meta.url, file: process.argv[1] }, execArgv: [], stdout: false, stderr: false },
  );
  watcher.unref();
  process.once('exit', () => {
    Atomics.store(done, 0, 1);
    Atomics.notify(done, 0);
  });

  // An unref'd timer fires only if something else holds the loop open.
  after(() => {
    setTimeout(() => {
      reportAndKillTree(process.argv[1], `still running ${LINGER_MS} ms after its last test; open: ${JSON.stringify(process.getActiveResourcesInfo())}`);
      process.exit(1);
    }, LINGER_MS).unref();
  });
}
