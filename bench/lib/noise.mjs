// How busy the rest of the machine was while a row ran: CPU time of every process outside
// this benchmark's own process tree (Linux /proc; reaped children count through their
// parent's cutime/cstime), as a share of the machine's capacity over the row's wall time.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const TICK_HZ = 100; // USER_HZ: 100 on every Linux that Node supports
const CPUS = os.availableParallelism();

function snapshot() {
  const procs = new Map(); // pid -> { ppid, ticks }
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text;
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // f[1] ppid, f[11] utime, f[12] stime, f[13] cutime, f[14] cstime
    procs.set(Number(name), { ppid: Number(f[1]), ticks: +f[11] + +f[12] + +f[13] + +f[14] });
  }
  const ours = new Set([process.pid]);
  const inTree = (pid) => {
    const seen = [];
    for (let p = pid; p > 1 && procs.has(p); p = procs.get(p).ppid) {
      if (ours.has(p)) {
        for (const s of seen) ours.add(s);
        return true;
      }
      seen.push(p);
    }
    return false;
  };
  let others = 0;
  for (const [pid, { ticks }] of procs) if (!inTree(pid)) others += ticks;
  return others;
}

/** Start watching; the returned function gives the others' share of the CPUs (0..1), or null. */
export function watchOthers() {
  let a;
  try {
    a = snapshot();
  } catch {
    return () => null;
  }
  const t0 = process.hrtime.bigint();
  return () => {
    try {
      const ticks = snapshot() - a;
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      return Math.max(0, Math.min(1, ticks / TICK_HZ / (secs * CPUS)));
    } catch {
      return null;
    }
  };
}
