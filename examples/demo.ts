/**
 * Demo: count the primes below a limit, split across one child per CPU, on
 * both start methods, and compare with doing it in one thread.
 *
 *   npm run demo            (limit 6,000,000)
 *   DEMO_LIMIT=200000 npm run demo
 *
 * Threads share a SharedArrayBuffer for their results; OS processes print
 * their own part (a child's output reaches the terminal complete and in order).
 */
import { Process, getContext, isMain, cpuCount, currentProcess } from 'multiprocessing-ts';

/** Counts the primes in [from, to). Exported: children import it from this file. */
export function countPrimes(from: number, to: number): number {
  let count = 0;
  for (let n = Math.max(2, from); n < to; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** Thread child: writes its count into the shared results array. */
export function countInto(results: Int32Array, slot: number, from: number, to: number): void {
  Atomics.store(results, slot, countPrimes(from, to));
}

/** Process child: prints its count. */
export function countAndPrint(from: number, to: number): void {
  const n = countPrimes(from, to);
  console.log(`  ${currentProcess().name} (pid ${process.pid}): ${n} primes in [${from}, ${to})`);
}

/** Splits [0, limit) into `parts` ranges of about equal work (later numbers cost more). */
function ranges(limit: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  let prev = 0;
  for (let i = 1; i <= parts; i++) {
    const end = i === parts ? limit : Math.round(limit * Math.pow(i / parts, 2 / 3));
    out.push([prev, end]);
    prev = end;
  }
  return out;
}

if (isMain()) {
  const limit = Number(process.env.DEMO_LIMIT ?? 6_000_000);
  const workers = cpuCount();
  console.log(`Counting primes below ${limit.toLocaleString('en')} on ${workers} CPU(s)\n`);

  let t = performance.now();
  const serial = countPrimes(0, limit);
  const serialMs = performance.now() - t;
  console.log(`serial, one thread:      ${serial} primes in ${serialMs.toFixed(0)} ms`);

  // Worker threads: results come back through shared memory.
  t = performance.now();
  const results = new Int32Array(new SharedArrayBuffer(4 * workers));
  const threads = ranges(limit, workers).map(
    ([from, to], slot) => new (getContext('thread').Process)({ target: countInto, args: [results, slot, from, to] }),
  );
  threads.forEach((p) => p.start());
  for (const p of threads) await p.join();
  const threadTotal = results.reduce((a, b) => a + b, 0);
  const threadMs = performance.now() - t;
  console.log(
    `${workers} worker threads:        ${threadTotal} primes in ${threadMs.toFixed(0)} ms (x${(serialMs / threadMs).toFixed(2)})`,
  );

  // OS processes: each child prints its part.
  t = performance.now();
  const procs: Process[] = ranges(limit, workers).map(
    ([from, to]) => new (getContext('process').Process)({ target: countAndPrint, args: [from, to] }),
  );
  console.log(`${workers} OS processes:`);
  procs.forEach((p) => p.start());
  for (const p of procs) await p.join();
  const procMs = performance.now() - t;
  console.log(
    `  exit codes ${procs.map((p) => p.exitCode).join(', ')}; ${procMs.toFixed(0)} ms (x${(serialMs / procMs).toFixed(2)}, includes starting ${workers} Node.js processes)`,
  );
  if (threadTotal !== serial) {
    console.error(`mismatch: ${threadTotal} != ${serial}`);
    process.exitCode = 1;
  }
}
