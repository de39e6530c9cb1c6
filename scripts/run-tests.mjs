#!/usr/bin/env node
/**
 * Runs the test files with Node's test runner, bounded in time as a whole.
 *
 *   node scripts/run-tests.mjs                 every test file (what `npm test` runs)
 *   node scripts/run-tests.mjs test/pool.*.ts  only these
 *
 * Each test file's own limits are in test/watchdog.mjs (loaded into every file) and in
 * `--test-timeout` below. This script adds one more: the runner and everything it started run in
 * a process group of their own, and if the whole run takes longer than RUN_LIMIT_MS, or a process
 * of that group outlives the runner, the group is killed and the run fails, saying so. A hang
 * then fails the run instead of stalling it.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUN_LIMIT_MS = 40 * 60_000;
const FILE_LIMIT_MS = 240_000;

const files = process.argv.slice(2);
if (files.length === 0) {
  for (const dir of ['test', 'test/unit']) {
    for (const f of readdirSync(join(ROOT, dir)).sort()) if (f.endsWith('.test.ts')) files.push(`${dir}/${f}`);
  }
}

const args = ['--import', 'tsx', '--import', './test/watchdog.mjs', '--test', `--test-timeout=${FILE_LIMIT_MS}`, ...files];
const runner = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', detached: true });

/** Kills every process of the runner's group; true if there was one to kill. */
function killGroup() {
  try {
    process.kill(-runner.pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

const limit = setTimeout(() => {
  console.error(`run-tests: the test run took more than ${RUN_LIMIT_MS / 60_000} minutes; killing it`);
  killGroup();
}, RUN_LIMIT_MS);

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killGroup();
    process.exit(1);
  });
}

/** True while some process of the runner's group is alive. */
function groupAlive() {
  try {
    process.kill(-runner.pid, 0);
    return true;
  } catch {
    return false;
  }
}

runner.on('exit', async (code, signal) => {
  clearTimeout(limit);
  // Child processes of the last test file may take a moment to see their parent gone.
  const until = Date.now() + 5_000;
  while (groupAlive() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  // Whatever is left in the group now outlived the runner: a leak of the tests or of the library.
  const leftover = groupAlive();
  if (leftover) {
    console.error('run-tests: processes of the test run outlived it by 5 s (killed now)');
    killGroup();
  }
  if (signal) console.error(`run-tests: the test runner ended by ${signal}`);
  process.exit(code === 0 && !leftover ? 0 : 1);
});
