/**
 * Seed 001, "多进程处理文件的demo" (processing files on several workers): walk
 * a directory tree, split the list of files into one slice per worker, and
 * hand each worker its slice with `applyAsync`. Each worker goes through its
 * slice under a progress bar; the main program prints the first result of
 * each slice.
 *
 * The seed walks `D:\project`; this walks this repository's `src/` (or the
 * directory given as the first argument). Python's `os.walk` becomes a small
 * recursive `readdirSync`.
 *
 * The seed's worker function is called `process`; in Node.js that name is
 * the global `process` object, so here it is `processSlice`.
 *
 * A worker's progress bar draws nothing (a worker's stderr is not the
 * terminal); the bar in a worker only counts. Count results in the main
 * program to show progress (see example 27).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AsyncResult, Pool, isMain, progress } from 'multiprocessing-ts';

/** The work on one file (the seed's placeholder: give its path back). */
export function processFile(filePath: string): string {
  return filePath;
}

export function processSlice(args: [string[], number, number]): string[] {
  const [fileList, start, end] = args;
  const result: string[] = [];
  for (const i of progress(Array.from({ length: end - start }, (_, k) => k))) {
    result.push(processFile(fileList[start + i]!));
  }
  return result;
}

/** os.walk(root), files only: the directory's files, then each subdirectory's. */
function walk(root: string): string[] {
  const out: string[] = [];
  const entries = readdirSync(root, { withFileTypes: true });
  for (const e of entries) if (e.isFile()) out.push(join(root, e.name));
  for (const e of entries) if (e.isDirectory()) out.push(...walk(join(root, e.name)));
  return out;
}

if (isMain()) {
  // the list of files to handle
  const root = process.argv[2] ?? fileURLToPath(new URL('../src', import.meta.url));
  const fileList = walk(root);

  const numProcesses = 2;
  const eachProcessFiles = Math.floor(fileList.length / numProcesses);
  const pool = new Pool(numProcesses);
  const asyncResult: AsyncResult<string[]>[] = [];
  for (let i = 0; i < numProcesses; i++) {
    const start = eachProcessFiles * i;
    const end = i < numProcesses - 1 ? eachProcessFiles * (i + 1) : fileList.length;
    asyncResult.push(pool.applyAsync(processSlice, [[fileList, start, end]]));
  }

  pool.close();
  await pool.join();
  // the results
  const all: string[] = [];
  for (const result of asyncResult) {
    const files = await result.get();
    console.log(files[0]);
    all.push(...files);
  }
  // Not in the seed: check that the slices covered every file once, in order.
  const same = all.length === fileList.length && all.every((f, i) => f === fileList[i]);
  console.log(`${fileList.length} files in ${numProcesses} slices; all handled, in order: ${same}`);
}
