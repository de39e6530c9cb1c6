/**
 * Seed 004, "进程的同步" (synchronising processes): twenty clients buy
 * train tickets from a JSON file. Each reads the file, thinks a while, and
 * writes the count back minus one.
 *
 * Without a lock (the seed's commented-out `task`), clients read the same
 * count and overwrite each other's writes: more clients are told they bought
 * a ticket than there were tickets. With a `Lock` around `buy` (the seed's
 * `lock_task`), the read-decide-write runs one client at a time and exactly
 * the available tickets are sold.
 *
 * The seed's store is `ticks.json` in the working directory; here it is a
 * file in a fresh temporary directory, passed to each client (a path made at
 * the top level would be made again in every child: see example 07). Both
 * rounds run, one after the other, each on a fresh file.
 *
 * (`EXAMPLES_MAX_CHILDREN` lowers the twenty clients for fast runs: see
 * _lib/count.ts.)
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lock, Process, isMain } from 'multiprocessing-ts';
import { random, sleep } from './_lib/time.js';
import { howMany } from './_lib/count.js';

interface Ticks {
  origin: string;
  dest: string;
  count: number;
}

const TICKETS = 3;
const CLIENTS = howMany(20); // EXAMPLES_MAX_CHILDREN lowers it for fast runs

function load(tf: string): Ticks {
  return JSON.parse(readFileSync(tf, 'utf8')) as Ticks;
}

// Python's json.dump(ticks, open(tf, 'w')) truncates the file first, so a client
// reading at that moment may see an empty file. Writing a new file and renaming
// it over the old one keeps every read whole; the race the example is about
// (two clients reading the same count) is unchanged.
function save(tf: string, ticks: Ticks): void {
  const tmp = `${tf}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, JSON.stringify(ticks));
  renameSync(tmp, tf);
}

export function info(tf: string): void {
  const ticks = load(tf);
  console.log(`ticks from ${ticks.origin} to ${ticks.dest} left ${ticks.count}`);
}

export async function buy(pname: string, tf: string): Promise<void> {
  const ticks = load(tf);
  await sleep(random());
  if (ticks.count > 0) {
    ticks.count -= 1;
    await sleep(random());
    save(tf, ticks);
    console.log(`${pname} buy one tick from ${ticks.origin} to ${ticks.dest}!`);
  } else {
    console.log('oh....no ticks :(');
  }
}

export async function task(pname: string, tf: string): Promise<void> {
  info(tf);
  await buy(pname, tf);
}

// With the lock
export async function lockTask(name: string, lock: Lock, tf: string): Promise<void> {
  info(tf);
  await lock.acquire();
  try {
    await buy(name, tf);
  } finally {
    lock.release();
  }
}

async function round(withLock: boolean, dir: string): Promise<void> {
  const tf = join(dir, withLock ? 'ticks-locked.json' : 'ticks.json');
  writeFileSync(tf, JSON.stringify({ origin: 'Beijing', dest: 'Shanghai', count: TICKETS }));
  console.log(`== ${withLock ? 'with a lock' : 'without a lock'}: ${TICKETS} tickets, ${CLIENTS} clients`);
  const lock = new Lock();
  const clients: Process[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const name = `client-${i + 1}`;
    const p = withLock
      ? new Process({ target: lockTask, name, args: [name, lock, tf] })
      : new Process({ target: task, name, args: [name, tf] });
    clients.push(p);
  }
  for (const p of clients) p.start();
  for (const p of clients) await p.join();
  console.log('all clients finished...');
  console.log(`${withLock ? 'with a lock' : 'without a lock'}: the file says ${load(tf).count} left`);
}

if (isMain()) {
  const dir = mkdtempSync(join(tmpdir(), 'mpts-tickets-'));
  try {
    await round(false, dir);
    await round(true, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
