/**
 * The children of one CPython-port test case: started daemonic, joined with
 * checks, killed in `finally` whatever happened (shared by the *-cpython suites).
 */
import assert from 'node:assert/strict';
import type { Context, Process, ProcessOptions } from 'multiprocessing-ts';

/** Bound of every join in these suites. */
export const JOIN_MS = 20_000;

type Target = (...args: never[]) => unknown;

/** The children of one test: started daemonic, joined with checks, killed in `finally`. */
export class Children {
  readonly procs: Process[] = [];
  constructor(private readonly ctx: Context) {}

  start(target: Target, args: unknown[], options: Partial<ProcessOptions> = {}): Process {
    const p = new this.ctx.Process({ target: target as ProcessOptions['target'], args, daemon: true, ...options });
    this.procs.push(p);
    p.start();
    return p;
  }

  /** Joins every child (bounded) and asserts that each ended with exitCode 0. */
  async joinAll(ms: number = JOIN_MS): Promise<void> {
    for (const p of this.procs) {
      assert.equal(await p.join(ms), undefined);
      assert.equal(p.isAlive(), false, `${p.name} still alive after join(${ms})`);
      assert.equal(p.exitCode, 0, `${p.name} ended with exitCode ${p.exitCode} (a check failed in the child: see stderr)`);
    }
  }

  /** Ends whatever is still running. */
  async reap(): Promise<void> {
    for (const p of this.procs) {
      let alive: boolean;
      try {
        alive = p.isAlive();
      } catch {
        continue;
      }
      if (alive) {
        p.kill();
        await p.join(JOIN_MS);
      }
    }
  }
}

export async function withChildren(ctx: Context, fn: (kids: Children) => Promise<void>): Promise<void> {
  const kids = new Children(ctx);
  try {
    await fn(kids);
  } finally {
    await kids.reap();
  }
}
