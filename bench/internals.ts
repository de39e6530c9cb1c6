// Library internals, measured in this process (run under tsx, reading src/):
//   - function lookup: the first one in a process (inspector session + script list) and each
//     later new function (cached afterwards);
//   - serialization: encode() on the fast path (plain data: a scan, no copy) against the
//     forced walk (copies), beside structuredClone of the same value (what the transport then
//     does in both cases).
// Prints '@@row {json}' lines for bench/run.mjs.
import { lookupFunction } from '../src/fnref.js';
import { encode } from '../src/reduction.js';
import * as many from './fixtures/many-fns.mjs';

const out = (obj: object) => process.stdout.write(`@@row ${JSON.stringify(obj)}\n`);
const now = () => Number(process.hrtime.bigint()) / 1e3; // µs
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const P = JSON.parse(process.argv[2] ?? '{}') as { reps?: number; quick?: boolean };
const reps = P.reps ?? 5;

// ---- lookup
const fns = Object.values(many) as ((x: number) => number)[];
let t = now();
lookupFunction(fns[0]!);
const first = now() - t;
const each: number[] = [];
for (const f of fns.slice(1)) {
  t = now();
  lookupFunction(f);
  each.push(now() - t);
}
t = now();
for (let i = 0; i < 1000; i++) lookupFunction(fns[1 + (i % 39)]!);
const cached = (now() - t) / 1000;
out({ metric: 'lib-us', row: 'fn lookup: first in a process', samples: [first] });
out({ metric: 'lib-us', row: 'fn lookup: each new function', samples: each });
out({ metric: 'lib-us', row: 'fn lookup: cached', samples: [cached] });

// ---- serialization
const values: Record<string, unknown> = {
  '10k integers': Array.from({ length: 10_000 }, (_, i) => i),
  '1k small objects': Array.from({ length: 1_000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], at: new Date(i) })),
  '[n, "str"] (task args)': [42, 'hello'],
};
function time(fn: () => unknown, n: number): number {
  for (let i = 0; i < Math.min(n, 50); i++) fn();
  const t0 = now();
  for (let i = 0; i < n; i++) fn();
  return (now() - t0) / n;
}
for (const [name, v] of Object.entries(values)) {
  const n = name.startsWith('[') ? 100_000 : P.quick ? 200 : 1_000;
  const fast: number[] = [];
  const walked: number[] = [];
  const clone: number[] = [];
  if (encode(v, 'args').walked) throw new Error(`${name} did not take the fast path`);
  for (let r = 0; r < reps; r++) {
    fast.push(time(() => encode(v, 'args'), n));
    walked.push(time(() => encode(v, 'args', true), n));
    clone.push(time(() => structuredClone(v), n));
  }
  out({ metric: 'lib-us', row: `encode fast path: ${name}`, samples: fast });
  out({ metric: 'lib-us', row: `encode walk: ${name}`, samples: walked });
  out({ metric: 'lib-us', row: `structuredClone: ${name}`, samples: clone });
}
