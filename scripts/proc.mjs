/**
 * The processes of this machine as /proc shows them (Linux; an empty table elsewhere), for the
 * scripts and test tools that look for processes left behind.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Every process: pid -> { state, ppid, pgrp }, from /proc/<pid>/stat. */
export function processTable() {
  const out = new Map();
  let names = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so read after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), { state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]) });
    } catch {
      // ended meanwhile
    }
  }
  return out;
}
