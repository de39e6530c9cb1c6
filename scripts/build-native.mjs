#!/usr/bin/env node
/**
 * Builds the native addon (native/binding.gyp) with node-gyp; run by the
 * package's "install" script, so on `npm install` of this repository and of
 * the published package alike.
 *
 * The addon is optional: without it the library falls back to slower paths
 * (see src/internal/native.ts). So this script ALWAYS exits 0: a failed build
 * prints one line and must never fail `npm install`. node-gyp's own output is
 * kept in native/build/build-native.log.
 *
 * node-gyp is taken, in order, from npm (`npm_config_node_gyp`, set for
 * lifecycle scripts, or next to npm's own CLI), else `npx node-gyp`.
 * Environment: MULTIPROCESSING_TS_SKIP_NATIVE=1 skips the build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const logFile = join(nativeDir, 'build', 'build-native.log');
const PREFIX = 'multiprocessing-ts:';

function fallback(reason) {
  console.log(`${PREFIX} native addon not built (${reason}); the library will use its slower fallback.`);
  process.exit(0);
}

/** The command that runs node-gyp: [executable, ...leading arguments]. */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  // npm's CLI lives in <npm>/bin/npm-cli.js, its bundled node-gyp in <npm>/node_modules/node-gyp.
  const npmCli = process.env.npm_execpath;
  if (npmCli) {
    const bundled = join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(bundled)) return [process.execPath, bundled];
  }
  return [process.platform === 'win32' ? 'npx.cmd' : 'npx', '--yes', 'node-gyp'];
}

function main() {
  const skip = process.env.MULTIPROCESSING_TS_SKIP_NATIVE;
  if (skip && skip !== '0') fallback('MULTIPROCESSING_TS_SKIP_NATIVE is set');
  if (process.platform !== 'linux') fallback(`it needs Linux futexes, this is ${process.platform}`);
  if (!existsSync(join(nativeDir, 'binding.gyp'))) fallback('native/binding.gyp is missing');

  const [command, ...lead] = nodeGyp();
  const args = [...lead, 'rebuild'];
  // Outside npm (a direct `node scripts/build-native.mjs`), point node-gyp at
  // the headers installed with this Node, if any, instead of downloading them.
  if (!process.env.npm_config_nodedir) {
    const prefix = resolve(dirname(process.execPath), '..');
    if (existsSync(join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
  }

  const run = spawnSync(command, args, {
    cwd: nativeDir,
    encoding: 'utf8',
    env: process.env,
    timeout: 10 * 60 * 1000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const log = `$ ${[command, ...args].join(' ')}\n${run.stdout ?? ''}${run.stderr ?? ''}${run.error ? `\n${run.error.stack}\n` : ''}`;
  try {
    mkdirSync(dirname(logFile), { recursive: true });
    writeFileSync(logFile, log);
  } catch {
    // the log is a convenience; never fail over it
  }
  if (run.error) fallback(`could not run node-gyp: ${run.error.message}`);
  if (run.status !== 0) fallback(`node-gyp failed with ${run.signal ?? `exit code ${run.status}`}, see ${logFile}`);
  if (!existsSync(join(nativeDir, 'build', 'Release', 'multiprocessing_native.node'))) fallback(`node-gyp produced no addon, see ${logFile}`);
  console.log(`${PREFIX} native addon built (native/build/Release/multiprocessing_native.node).`);
}

try {
  main();
} catch (e) {
  fallback(`unexpected error: ${e instanceof Error ? e.message : String(e)}`);
}
process.exit(0);
