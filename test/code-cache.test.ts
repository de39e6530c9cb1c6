/**
 * The workers' code cache (src/child/core-loader.ts): made by the first workers in a folder of
 * the user's own, used by later ones, made again when V8 refuses it, never read from or written
 * to a folder others may write to, and kept to the 16 newest caches. In every run, a worker's
 * own import of the library must give the very classes its revived objects have (one instance
 * of the core, compiled from the cache).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgram, programs, repoRoot } from './helpers.js';

const T = { timeout: 60_000 };
const prog = join(programs, 'code-cache.mjs');
const OUTPUT = 'thread 1,4,9 true\nprocess 1,4,9 true\n';

/** A folder for one test's cache (not made yet), and its removal. */
function scratch(): { folder: string; done(): void } {
  const root = mkdtempSync(join(tmpdir(), 'mpts-code-cache-'));
  return { folder: join(root, 'cache'), done: () => rmSync(root, { recursive: true, force: true }) };
}

async function run(env: NodeJS.ProcessEnv): Promise<void> {
  const r = await runProgram([prog], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, OUTPUT);
  assert.equal(r.stderr, '');
}

const cacheFiles = (folder: string) => readdirSync(folder).filter((f) => f.endsWith('.v8cache'));

describe('the workers’ code cache', () => {
  it('is made once, private to the user, and used as it is by later workers', T, async () => {
    const { folder, done } = scratch();
    try {
      await run({ MULTIPROCESSING_TS_CACHE_DIR: folder });
      assert.equal(statSync(folder).mode & 0o777, 0o700);
      const files = cacheFiles(folder);
      // Worker threads and child processes of one program share one cache.
      assert.deepEqual(files.length, 1, `cache files: ${files.join(', ')}`);
      const file = join(folder, files[0]!);
      const made = statSync(file);
      assert.equal(made.mode & 0o777, 0o600);
      assert.ok(made.size > 10_000, `cache of ${made.size} bytes`);
      await run({ MULTIPROCESSING_TS_CACHE_DIR: folder });
      // Accepted by V8 in every worker of the second program: not written again.
      const used = statSync(file);
      assert.deepEqual([used.ino, used.mtimeMs], [made.ino, made.mtimeMs]);
      assert.deepEqual(readdirSync(folder), files);
    } finally {
      done();
    }
  });

  it('a cache V8 refuses is made again, and the program runs as usual', T, async () => {
    const { folder, done } = scratch();
    try {
      await run({ MULTIPROCESSING_TS_CACHE_DIR: folder });
      const file = join(folder, cacheFiles(folder)[0]!);
      const garbage = Buffer.alloc(4096, 7);
      writeFileSync(file, garbage);
      await run({ MULTIPROCESSING_TS_CACHE_DIR: folder });
      const again = readFileSync(file);
      assert.ok(again.length > 10_000 && !again.equals(garbage), 'the refused cache was made again');
    } finally {
      done();
    }
  });

  it('a writer removes stale temporary files and keeps only the 16 newest caches', T, async () => {
    const { folder, done } = scratch();
    try {
      mkdirSync(folder, { mode: 0o700 });
      // 20 caches of other builds, a day old and older; a writer's leftover from two minutes ago,
      // and one of a writer at work now.
      const day = 24 * 3600;
      const now = Date.now() / 1000;
      for (let i = 0; i < 20; i++) {
        const f = join(folder, `core-${(0xa0000000 + i).toString(16)}.v8cache`);
        writeFileSync(f, 'old', { mode: 0o600 });
        utimesSync(f, now - day - i * 60, now - day - i * 60);
      }
      const stale = join(folder, 'core-deadbeef.v8cache.1-1.tmp');
      const busy = join(folder, 'core-deadbeef.v8cache.2-1.tmp');
      writeFileSync(stale, 'x');
      utimesSync(stale, now - 120, now - 120);
      writeFileSync(busy, 'x');
      await run({ MULTIPROCESSING_TS_CACHE_DIR: folder });
      const files = cacheFiles(folder).sort();
      assert.equal(files.length, 16, `cache files: ${files.join(', ')}`);
      // The cache just made is kept, with the 15 newest of the old ones (0..14); 15..19 are gone.
      const made = files.filter((f) => !f.startsWith('core-a00000'));
      assert.equal(made.length, 1, `new caches: ${made.join(', ')}`);
      for (let i = 0; i < 20; i++) {
        const name = `core-${(0xa0000000 + i).toString(16)}.v8cache`;
        assert.equal(files.includes(name), i < 15, `${name} ${i < 15 ? 'removed' : 'kept'}`);
      }
      assert.equal(existsSync(stale), false, 'a stale temporary file was left');
      assert.equal(existsSync(busy), true, 'the file of a writer at work was removed');
    } finally {
      done();
    }
  });

  it('is neither read nor written in a folder others may write to, nor when turned off', T, async () => {
    const { folder, done } = scratch();
    try {
      mkdirSync(folder, { mode: 0o700 });
      chmodSync(folder, 0o777);
      await run({ MULTIPROCESSING_TS_CACHE_DIR: folder });
      assert.deepEqual(readdirSync(folder), []);
      chmodSync(folder, 0o700);
      await run({ MULTIPROCESSING_TS_CACHE_DIR: folder, MULTIPROCESSING_TS_NO_CODE_CACHE: '1' });
      assert.deepEqual(readdirSync(folder), []);
    } finally {
      done();
    }
  });

  it('the core file is ASCII only, so workers read it as Latin-1 without decoding UTF-8', () => {
    const bytes = readFileSync(join(repoRoot, 'dist', 'core.cjs'));
    const at = bytes.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `dist/core.cjs has a byte above 0x7f at offset ${at} (scripts/core-exports.mjs escapes them)`);
  });
});
