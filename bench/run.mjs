#!/usr/bin/env node
// Benchmark harness of multiprocessing-ts: every row of BENCH.md's Process/Pool workloads,
// side by side in one run: serial, the no-library baselines, piscina, tinypool, workerpool,
// raw Node primitives, Python's multiprocessing, and this library (bench/ours.mjs).
//
//   npm run bench                     full run (a few minutes)
//   npm run bench -- --quick          every row, fewer repetitions and smaller sizes (< 2 min)
//   npm run bench -- --only tiny,map  only some workloads (see --help)
//
// Tables go to stdout, progress and notes to stderr, and every row is appended as a JSON
// line to bench/results/<timestamp>.jsonl.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { sq, burn } from './fixtures/tasks.mjs';
import { EXECUTORS } from './lib/executors.mjs';
import * as raw from './lib/raw.mjs';
import { watchOthers } from './lib/noise.mjs';
import { hr, since, summarize, fmt, chunk, range, withTimeout } from './lib/util.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

// ------------------------------------------------------------------------------ options

const FULL = {
  reps: 5,
  tinyN: 20_000, // tiny tasks: calls of noop
  mapN: 200_000, // map of small items: items through sq
  perItemN: 200_000, // the one-task-per-item map row
  chunk: 1_000, // hand-chunking of the map rows of the libraries without a map
  burnN: 155_000_000, // CPU scaling: burn(n) per task
  cpuTasks: 8,
  pyBurnN: 3_500_000, // Python's burn twin: about 250 ms per task
  starts: 20, // start-up: starts per row
  settleMs: 250, // warm start-up rows: pause before each start so a standby can get ready
  rtWarm: 1_000, // round trip: warm-up trips, then rtN timed trips
  rtN: 20_000,
  pmQueueN: 1_000_000, // queue throughput: messages per repetition
  ringN: 20_000_000,
  pyQueueN: 200_000,
  ourQueueN: 1_000_000, // our Queue rows: items per repetition
  pipeMB: 64, // large message
  lockN: 2_000_000, // locks: uncontended acquire+release pairs
  // locks: locked increments per worker, two workers. A million: with 200,000 our loops lasted
  // about 50 ms, most of it before the JIT had compiled them (7-8M/s against 12-13M/s once
  // compiled); Python's rate is the same at either count.
  lockPairN: 1_000_000,
  mgrN: 100_000, // managers: dict calls per repetition (half set, half get)
  mgrBatch: 1_000, // managers: calls in flight at once
  mgrRtN: 5_000, // managers: sequential round trips per repetition
  pyMgrThreads: 8, // managers: Python threads issuing calls at once (one connection each)
};
const QUICK = {
  ...FULL,
  reps: 3,
  tinyN: 5_000,
  mapN: 100_000,
  perItemN: 10_000,
  burnN: 31_000_000,
  pyBurnN: 700_000,
  starts: 6,
  rtWarm: 500,
  rtN: 5_000,
  pmQueueN: 200_000,
  ringN: 4_000_000,
  pyQueueN: 50_000,
  ourQueueN: 200_000,
  lockN: 500_000,
  lockPairN: 50_000,
  mgrN: 40_000,
  mgrRtN: 2_000,
};

const HELP = `usage: node bench/run.mjs [--quick] [--only <workload>[,<workload>...]] [--reps N]
                          [--no-python] [--no-ours] [--readme]
workloads: tiny (tiny tasks), map (map of small items), cpu (CPU scaling), startup (start-up), ready (pool ready),
           roundtrip (round trip), queue (queue throughput), pipe-bytes (large message), locks,
           managers, internals; full names and prefixes work too.`;

function parseArgs(argv) {
  const o = { quick: false, only: null, reps: null, python: true, ours: true, readme: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = argv[++i];
    else if (a.startsWith('--only=')) o.only = a.slice(7);
    else if (a === '--reps') {
      o.reps = Number(argv[++i]);
      if (!Number.isInteger(o.reps) || o.reps < 3) {
        console.error(`--reps: expected an integer >= 3, got ${argv[i]}`);
        process.exit(2);
      }
    }
    else if (a === '--no-python') o.python = false;
    else if (a === '--no-ours') o.ours = false;
    else if (a === '--readme') o.readme = true;
    else if (a === '--help' || a === '-h') {
      console.log(HELP);
      process.exit(0);
    } else {
      console.error(`unknown option ${a}\n${HELP}`);
      process.exit(2);
    }
  }
  return o;
}

// ------------------------------------------------------------------------------ metrics

/** A metric is one table. `better`: which direction is faster. */
const METRICS = {
  tiny: { title: 'tiny tasks', unit: 'tasks/s', better: 'higher' },
  map: { title: 'map of small items', unit: 'items/s', better: 'higher' },
  cpu: { title: 'CPU scaling', unit: 's', better: 'lower' },
  'startup-first': { title: "start-up: start() -> child's first line", unit: 'ms', better: 'lower' },
  'startup-exit': { title: 'start-up: start() -> exit', unit: 'ms', better: 'lower' },
  ready: { title: 'pool ready: constructor -> first result', unit: 'ms', better: 'lower' },
  roundtrip: { title: 'round trip', unit: 'µs', better: 'lower' },
  queue: { title: 'queue throughput', unit: 'msgs/s', better: 'higher' },
  locks: { title: 'locks', unit: 'ops/s', better: 'higher' },
  'pipe-bytes': { title: 'one 64 MB message through a Pipe (child start included)', unit: 'MB/s', better: 'higher' },
  'lib-us': { title: 'library internals (function lookup, serialization)', unit: 'µs', better: 'lower' },
  'mgr-dict': { title: 'manager dict set/get, many calls in flight', unit: 'ops/s', better: 'higher' },
  'mgr-rtt': { title: 'manager proxy call round trip', unit: 'µs', better: 'lower' },
};

const norm = (s) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

// ------------------------------------------------------------------------------ recording

const RUN_ID = new Date().toISOString().replace(/[:.]/g, '-');
const RESULTS_DIR = here('./results');
const RESULTS_FILE = `${RESULTS_DIR}/${RUN_ID}.jsonl`;
const records = [];
const log = (...a) => console.error(...a);

function writeJson(obj) {
  appendFileSync(RESULTS_FILE, JSON.stringify(obj) + '\n');
}

/**
 * Record one row. meta: { metric, row, kind, transport, lang, params }; plus one of
 * samples (numbers in the metric's unit), error, skipped.
 */
function record(workload, meta) {
  const m = METRICS[meta.metric];
  const rec = {
    type: 'row',
    run: RUN_ID,
    workload,
    metric: meta.metric,
    title: m.title,
    row: meta.row,
    kind: meta.kind,
    transport: meta.transport,
    lang: meta.lang ?? 'js',
    unit: m.unit,
    better: m.better,
    params: meta.params ?? {},
  };
  if (typeof meta.othersCpu === 'number') rec.othersCpu = Number(meta.othersCpu.toFixed(3));
  if (meta.samples?.length) Object.assign(rec, { samples: meta.samples, ...summarize(meta.samples) });
  else if (meta.skipped) rec.skipped = meta.skipped;
  else rec.error = meta.error ?? 'no samples';
  records.push(rec);
  writeJson(rec);
  if (rec.median !== undefined) log(`  ${rec.row.padEnd(44)} ${fmt(rec.median, m.unit).padStart(8)} ${m.unit}  [${m.title}]`);
  else log(`  ${rec.row.padEnd(44)} ${rec.skipped ? `skipped: ${rec.skipped}` : `FAILED: ${rec.error}`}`);
  return rec;
}

/** Measure a row in this process, failing soft. `fn` returns samples or { metric: samples }. */
async function measure(workload, meta, fn) {
  const others = watchOthers();
  try {
    const r = await fn();
    const othersCpu = others();
    if (Array.isArray(r)) record(workload, { ...meta, othersCpu, samples: r });
    else for (const [metric, samples] of Object.entries(r)) record(workload, { ...meta, othersCpu, metric, samples });
  } catch (e) {
    const metrics = meta.metrics ?? [meta.metric];
    for (const metric of metrics) record(workload, { ...meta, metric, error: e?.message ?? String(e) });
  }
}

// ------------------------------------------------------------------------------ child scripts

/**
 * Run a child script that speaks the '@@tag {json}' protocol on stdout. Other output lines are
 * shown on stderr with `prefix`. Resolves with the parsed messages; kills the child (and says
 * so) when it runs past `timeoutMs` or does not exit by itself.
 */
function runChild(cmd, args, { timeoutMs, prefix, graceMs = 5_000, env }) {
  return new Promise((resolve) => {
    const msgs = [];
    const others = watchOthers();
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    let timedOut = false;
    let lingered = false;
    let graceTimer;
    const timer = setTimeout(() => {
      timedOut = true;
      log(`${prefix} still running after ${timeoutMs} ms: killed`);
      c.kill('SIGKILL');
    }, timeoutMs);
    // '@@done': the child's work is over and it should exit by itself within graceMs.
    const onDone = () => {
      graceTimer = setTimeout(() => {
        lingered = true;
        log(`${prefix} work done but the process did not exit by itself within ${graceMs} ms (a handle keeps it alive): killed`);
        c.kill('SIGKILL');
      }, graceMs);
    };
    const lines = (stream, onLine) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      stream.on('end', () => buf && onLine(buf));
    };
    lines(c.stdout, (l) => {
      const m = /^@@(\w+) (.*)$/.exec(l);
      if (m) {
        try {
          msgs.push({ tag: m[1], ...JSON.parse(m[2]) });
          if (m[1] === 'done') onDone();
          return;
        } catch {
          /* not ours: show it */
        }
      }
      if (l.trim()) log(`${prefix} ${l}`);
    });
    lines(c.stderr, (l) => l.trim() && log(`${prefix} ${l}`));
    c.on('error', (e) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      resolve({ msgs, error: e.message, timedOut, lingered });
    });
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      resolve({ msgs, code, signal, timedOut, lingered, othersCpu: others() });
    });
  });
}

let pythonOk = null;
function pythonAvailable() {
  if (pythonOk === null) {
    const r = spawnSync('python3', ['-c', 'import multiprocessing, sys; print(sys.version.split()[0])'], {
      encoding: 'utf8',
    });
    pythonOk = r.status === 0 ? r.stdout.trim() : false;
  }
  return pythonOk;
}

async function pythonRows(workload, P, opts) {
  if (!opts.python) return;
  if (!pythonAvailable()) {
    log('  note: python3 not found (or without multiprocessing): Python rows skipped');
    return;
  }
  const r = await runChild('python3', [here('./python/bench_mp.py'), workload, JSON.stringify(P)], {
    timeoutMs: opts.quick ? 120_000 : 900_000,
    prefix: '  python|',
  });
  for (const m of r.msgs.filter((x) => x.tag === 'row')) record(workload, { ...m, othersCpu: r.othersCpu });
  if (r.error || r.timedOut || r.code !== 0)
    log(`  python|  ${workload}: exited with ${r.error ?? r.signal ?? r.code}${r.timedOut ? ' (timed out)' : ''}`);
}

let oursProbe;
async function probeOurs(opts) {
  if (oursProbe !== undefined) return oursProbe;
  const r = await runChild(process.execPath, [here('./ours.mjs'), '--probe'], { timeoutMs: 60_000, prefix: '  ours|' });
  const p = r.msgs.find((m) => m.tag === 'probe');
  if (!p) oursProbe = { ok: false, error: `probe gave no answer (${r.error ?? r.signal ?? r.code})` };
  else oursProbe = p;
  if (!oursProbe.ok)
    log(`  ours: multiprocessing-ts cannot be imported, its rows are skipped (build dist first):\n    ${String(oursProbe.error).split('\n')[0]}`);
  else
    log(`  ours: multiprocessing-ts imported (Process: ${oursProbe.Process}, getContext: ${oursProbe.getContext}, Pool: ${oursProbe.Pool})`);
  return oursProbe;
}

/** The rows ours.mjs produces per workload, so that a skipped library still shows its slots. */
const OURS_ROWS = {
  tiny: [['tiny', "ours Pool 'thread' applyAsync"], ['tiny', "ours Pool 'process' applyAsync"]],
  map: [['map', "ours Pool 'thread' map (default chunksize)"], ['map', "ours Pool 'process' map (default chunksize)"]],
  cpu: [['cpu', "ours Pool 'thread' map"], ['cpu', "ours Pool 'process' map"]],
  startup: ['thread', 'process'].flatMap((m) =>
    ['cold', 'warm'].flatMap((w) => ['startup-first', 'startup-exit'].map((metric) => [metric, `ours Process '${m}' (${w})`])),
  ),
  ready: ['thread', 'process'].map((m) => ['ready', `ours Pool(2) '${m}'`]),
  'ready-nostandby': ['thread', 'process'].map((m) => ['ready', `ours Pool(2) '${m}' (no standby)`]),
  'startup-nostandby': ['thread', 'process'].flatMap((m) =>
    ['startup-first', 'startup-exit'].map((metric) => [metric, `ours Process '${m}' (no standby, sequential)`]),
  ),
  'startup-ts': ['thread', 'process'].flatMap((m) =>
    ['cold', 'warm'].flatMap((w) =>
      ['startup-first', 'startup-exit'].map((metric) => [metric, `ours Process '${m}' .ts under tsx (${w})`]),
    ),
  ),
};

function skipOurs(workload, why) {
  for (const [metric, row] of OURS_ROWS[workload] ?? []) record(workload, oursMeta({ metric, row, skipped: why }));
}

const oursMeta = (m) => ({
  ...m,
  // A child may measure a plain baseline beside ours (the cold ready rows): it says so.
  kind: m.kind === 'baseline' ? 'baseline' : 'ours',
  transport: m.transport ?? (/'process'/.test(m.row) ? 'process' : 'thread'),
  lang: 'js',
});

/** Our Pool rows (or warm start-up rows), in a child process. */
async function oursRows(workload, P, opts, ts = false, noStandby = false) {
  if (!opts.ours) return;
  const probe = await probeOurs(opts);
  const slots = ts ? 'startup-ts' : noStandby ? `${workload}-nostandby` : workload;
  if (!probe.ok) return skipOurs(slots, 'multiprocessing-ts not importable (build dist)');
  const r = await runChild(
    process.execPath,
    [
      ...(ts ? ['--import', 'tsx'] : []),
      here('./ours.mjs'),
      '--workload',
      workload,
      '--params',
      JSON.stringify(P),
      ...(ts ? ['--ts'] : []),
      ...(noStandby ? ['--no-standby'] : []),
    ],
    { timeoutMs: opts.quick ? 90_000 : 600_000, prefix: '  ours|' },
  );
  const rows = r.msgs.filter((x) => x.tag === 'row');
  for (const m of rows) record(workload, oursMeta({ ...m, othersCpu: r.othersCpu }));
  if (r.timedOut) log(`  ours: ${workload} did not finish in time (killed)`);
  else if (r.lingered) console.log(`note: ours (${workload}): the process did not exit by itself after its work (killed)`);
  else if (r.code !== 0) log(`  ours: ${workload} child exited with ${r.signal ?? r.code}`);
  // A row the child never reported (it crashed, hung or was killed on the way) still shows.
  const why = r.timedOut ? 'killed after the time limit' : `its process ended with ${r.error ?? r.signal ?? r.code}`;
  for (const [metric, row] of OURS_ROWS[slots].filter(([, name]) => workload !== 'startup' || !name.endsWith('(cold)')))
    if (!rows.some((x) => x.metric === metric && x.row === row)) record(workload, oursMeta({ metric, row, error: `no result (${why})` }));
}

/** Cold starts: each in a fresh node process (no standby worker can exist yet). */
async function oursCold(P, opts, ts = false) {
  if (!opts.ours) return;
  const probe = await probeOurs(opts);
  if (!probe.ok) return; // oursRows('startup') records the skipped slots
  for (const method of ['thread', 'process']) {
    const row = `ours Process '${method}'${ts ? ' .ts under tsx' : ''} (cold)`;
    const first = [];
    const exit = [];
    let error;
    let lingered = 0;
    const othersSum = [];
    for (let i = 0; i < P.starts && !error; i++) {
      const args = [...(ts ? ['--import', 'tsx'] : []), here('./ours.mjs'), '--cold', method, ...(ts ? ['--ts'] : [])];
      const r = await runChild(process.execPath, args, {
        timeoutMs: 30_000,
        prefix: '  ours|',
      });
      if (typeof r.othersCpu === 'number') othersSum.push(r.othersCpu);
      const s = r.msgs.find((m) => m.tag === 'sample');
      if (!s) error = `no sample (child ended with ${r.error ?? r.signal ?? r.code})`;
      else if (s.error) error = s.error.split('\n')[0];
      else {
        first.push(s.first);
        exit.push(s.exit);
      }
      if (r.timedOut || r.lingered) {
        lingered++;
        if (lingered === 1) console.log(`note: ours cold start '${method}': the process did not end by itself (killed)`);
      }
    }
    const params = { starts: P.starts, freshProcessPerStart: true };
    const othersCpu = othersSum.length ? othersSum.reduce((a, b) => a + b, 0) / othersSum.length : undefined;
    if (error) log(`  ${row}: ${error}`);
    record('startup', oursMeta({ metric: 'startup-first', row, params, othersCpu, ...(error ? { error } : { samples: first }) }));
    record('startup', oursMeta({ metric: 'startup-exit', row, params, othersCpu, ...(error ? { error } : { samples: exit }) }));
  }
}

// ------------------------------------------------------------------------------ executor rows

/** A row on one executor: start it, warm it, `reps` passes, destroy it whatever happens. */
async function execRow(workload, meta, ex, P, pass, warm) {
  await measure(workload, meta, async () => {
    const e = ex.make();
    try {
      await withTimeout(e.start(), 60_000, `${ex.row} start`);
      await Promise.all(range(200).map((i) => e.call('noop', i))); // both workers up
      await warm(e);
      const samples = [];
      for (let r = 0; r < P.reps; r++) samples.push(await pass(e));
      return samples;
    } finally {
      await withTimeout(e.destroy(), 30_000, `${ex.row} destroy`).catch((err) => log(`  ${ex.row}: ${err.message}`));
    }
  });
}

const exMeta = (ex, metric, row = ex.row) => ({ metric, row, kind: ex.kind, transport: ex.transport, lang: 'js' });

// ------------------------------------------------------------------------------ workloads

async function tinyTasks(P, opts) {
  const pass = async (e, n = P.tinyN) => {
    const t0 = hr();
    const res = await Promise.all(range(n).map((i) => e.call('noop', i)));
    const s = since(t0);
    if (res[n - 1] !== n - 1) throw new Error('wrong result');
    return n / s;
  };
  for (const ex of EXECUTORS) await execRow('tiny', { ...exMeta(ex, 'tiny'), params: { n: P.tinyN } }, ex, P, pass, pass);
  await pythonRows('tiny', P, opts);
  await oursRows('tiny', P, opts);
}

async function mapSmall(P, opts) {
  const items = range(P.mapN);
  const expectLast = sq(P.mapN - 1);
  await measure('map', { metric: 'map', row: 'serial (in-thread)', kind: 'serial', transport: 'thread', params: { n: P.mapN } }, async () => {
    const once = () => {
      const t0 = hr();
      const out = new Array(items.length);
      for (let i = 0; i < items.length; i++) out[i] = sq(items[i]);
      const s = since(t0);
      if (out[items.length - 1] !== expectLast) throw new Error('wrong result');
      return items.length / s;
    };
    once();
    return range(P.reps).map(once);
  });
  const chunked = async (e) => {
    const t0 = hr();
    const parts = await Promise.all(chunk(items, P.chunk).map((c) => e.call('sqChunk', c)));
    const out = parts.flat();
    const s = since(t0);
    if (out.length !== items.length || out[items.length - 1] !== expectLast) throw new Error('wrong result');
    return items.length / s;
  };
  const perItemItems = range(P.perItemN);
  const perItem = async (e, xs = perItemItems) => {
    const t0 = hr();
    const out = await Promise.all(xs.map((x) => e.call('sq', x)));
    const s = since(t0);
    if (out.length !== xs.length) throw new Error('wrong result');
    return xs.length / s;
  };
  for (const ex of EXECUTORS) {
    if (ex.perItemMap)
      await execRow('map', { ...exMeta(ex, 'map', `${ex.row}, one task per item`), params: { n: P.perItemN } }, ex, P, perItem, (e) =>
        perItem(e, perItemItems.slice(0, Math.max(2_000, P.perItemN >> 2))),
      );
    await execRow('map', { ...exMeta(ex, 'map', `${ex.row}, hand-chunked by ${P.chunk}`), params: { n: P.mapN, chunk: P.chunk } }, ex, P, chunked, chunked);
  }
  await pythonRows('map', P, opts);
  await oursRows('map', P, opts);
}

async function cpuScaling(P, opts) {
  const params = { tasks: P.cpuTasks, burnN: P.burnN };
  await measure('cpu', { metric: 'cpu', row: 'serial (in-thread)', kind: 'serial', transport: 'thread', params }, async () => {
    burn(P.burnN >> 2);
    return range(P.reps).map(() => {
      const t0 = hr();
      for (let i = 0; i < P.cpuTasks; i++) burn(P.burnN);
      return since(t0);
    });
  });
  const pass = async (e, n = P.burnN) => {
    const t0 = hr();
    const res = await Promise.all(range(P.cpuTasks).map(() => e.call('burn', n)));
    const s = since(t0);
    if (res.length !== P.cpuTasks) throw new Error('wrong result');
    return s;
  };
  for (const ex of EXECUTORS) await execRow('cpu', { ...exMeta(ex, 'cpu'), params }, ex, P, pass, (e) => pass(e, P.burnN >> 2));
  await pythonRows('cpu', P, opts);
  await oursRows('cpu', P, opts);
}

async function startUp(P, opts) {
  const both = ['startup-first', 'startup-exit'];
  const params = { starts: P.starts };
  const split = (r) => ({ 'startup-first': r.first, 'startup-exit': r.exit });
  await measure('startup', { metrics: both, row: 'new Worker', kind: 'baseline', transport: 'thread', params }, async () =>
    split(await raw.startup('thread', P.starts)),
  );
  await measure('startup', { metrics: both, row: 'child_process.fork', kind: 'baseline', transport: 'process', params }, async () =>
    split(await raw.startup('process', P.starts)),
  );
  await pythonRows('startup', P, opts);
  await oursCold(P, opts);
  await oursRows('startup', P, opts);
  // Cold starts measured like the plain rows above (sequential, in one process): the 1.2x target.
  await oursRows('startup', P, opts, false, true);
  // The same for a .ts program under tsx: workers must register tsx's hooks first.
  await oursCold(P, opts, true);
  await oursRows('startup', P, opts, true);
}

async function poolReady(P, opts) {
  const params = { starts: P.starts };
  for (const ex of EXECUTORS) {
    if (ex.kind !== 'peer') continue;
    await measure('ready', { ...exMeta(ex, 'ready'), params }, async () => {
      const out = [];
      for (let i = 0; i < P.starts; i++) {
        const t0 = hr();
        const e = ex.make();
        try {
          await withTimeout(e.start(), 60_000, `${ex.row} start`);
          const v = await withTimeout(e.call('noop', 1), 60_000, `${ex.row} first call`);
          out.push(since(t0) * 1e3);
          if (v !== 1) throw new Error('wrong result');
        } finally {
          await withTimeout(e.destroy(), 30_000, `${ex.row} destroy`).catch((err) => log(`  ${ex.row}: ${err.message}`));
        }
      }
      return out;
    });
  }
  // Ours as a program meets it (a standby worker may be ready after the first pool), and with
  // standbys off (every worker a cold start, as the plain rows). The latter measures the plain
  // pairs too, interleaved with ours in its own process (bench/ours.mjs, ready), so that the
  // 1.2x ratio compares starts made under the same load.
  await oursRows('ready', P, opts);
  await oursRows('ready', P, opts, false, true);
  // Without our rows (--no-ours, or the child failed) the plain pairs are measured here.
  const plain = [
    ['thread', '2 plain worker_threads started at once'],
    ['process', '2 plain forked processes started at once'],
  ];
  for (const [transport, row] of plain) {
    if (records.some((r) => r.metric === 'ready' && r.row === row && r.median !== undefined)) continue;
    await measure('ready', { metric: 'ready', row, kind: 'baseline', transport, params }, () => raw.readyPair(transport, P.starts));
  }
}

/** Rows of this library's queues and pipes (bench/queues.mjs), one part at a time. */
async function queueRows(part, metric, P, opts) {
  if (!opts.ours) return;
  const r = await runChild(process.execPath, [here('./queues.mjs'), JSON.stringify({ ...P, part })], { timeoutMs: 300_000, prefix: `  ${part}|` });
  const rows = r.msgs.filter((x) => x.tag === 'row');
  for (const m of rows) record(metric, { ...m, lang: 'js', params: { part } });
  if (!rows.length) record(metric, { metric, row: `ours ${part}`, kind: 'ours', error: `no result (${r.error ?? r.signal ?? r.code})` });
}

async function pipeBytes(P, opts) {
  await queueRows('pipe-bytes', 'pipe-bytes', P, opts);
  await pythonRows('pipe-bytes', P, opts);
}

async function roundTrip(P, opts) {
  const params = { warm: P.rtWarm, n: P.rtN };
  const rt = (row, kind, transport, fn) => measure('roundtrip', { metric: 'roundtrip', row, kind, transport, params }, fn);
  await rt('postMessage main <-> worker', 'baseline', 'thread', () => raw.rtPostMessage(P.rtWarm, P.rtN, P.reps));
  await rt('Atomics.wait/notify, 2 worker threads', 'raw', 'thread', () => raw.rtAtomics(P.rtWarm, P.rtN, P.reps));
  await rt("process.send (serialization 'json')", 'baseline', 'process', () => raw.rtProcessSend('json', P.rtWarm, P.rtN, P.reps));
  await rt("process.send (serialization 'advanced')", 'raw', 'process', () =>
    raw.rtProcessSend('advanced', P.rtWarm, P.rtN, P.reps),
  );
  // Ours, with the raw Atomics.waitAsync round trip measured in the same child for the await form.
  await queueRows('roundtrip', 'roundtrip', P, opts);
  await pythonRows('roundtrip', P, opts);
}

async function queueThroughput(P, opts) {
  await measure('queue', { metric: 'queue', row: 'postMessage worker -> worker', kind: 'baseline', transport: 'thread', params: { n: P.pmQueueN } }, () =>
    raw.qPostMessage(P.pmQueueN, P.reps),
  );
  await measure('queue', { metric: 'queue', row: 'SAB ring of 8-byte slots, worker -> worker', kind: 'raw', transport: 'thread', params: { n: P.ringN, slots: 4096 } }, () =>
    raw.qSabRing(P.ringN, P.reps),
  );
  await queueRows('queue', 'queue', P, opts);
  await pythonRows('queue', P, opts);
}

async function locks(P, opts) {
  if (opts.ours) {
    // The native addon, then each fallback forced through the environment (docs/synchronization.md).
    const modes = [
      { mode: 'native', env: undefined },
      { mode: 'koffi', env: { MULTIPROCESSING_TS_NATIVE: '0' } },
      { mode: 'broker', env: { MULTIPROCESSING_TS_NATIVE: '0', MULTIPROCESSING_TS_KOFFI: '0' } },
    ];
    for (const { mode, env } of modes) {
      const r = await runChild(process.execPath, [here('./locks.mjs'), JSON.stringify({ ...P, mode })], { timeoutMs: 300_000, prefix: `  locks ${mode}|`, env });
      const rows = r.msgs.filter((x) => x.tag === 'row');
      for (const m of rows) record('locks', { ...m, lang: 'js', params: { n: P.lockN, pairN: P.lockPairN, mode } });
      if (!rows.length) record('locks', { metric: 'locks', row: `ours locks (${mode})`, kind: 'ours', error: `no result (${r.error ?? r.signal ?? r.code})` });
    }
  }
  await pythonRows('locks', P, opts);
}

async function managers(P, opts) {
  if (opts.ours) {
    const r = await runChild(process.execPath, [here('./managers.mjs'), JSON.stringify(P)], { timeoutMs: 300_000, prefix: '  managers|' });
    const rows = r.msgs.filter((x) => x.tag === 'row');
    for (const m of rows) record('managers', { ...m, lang: 'js', othersCpu: r.othersCpu });
    if (!rows.length) record('managers', { metric: 'mgr-dict', row: 'ours Manager', kind: 'ours', error: `no result (${r.error ?? r.signal ?? r.code})` });
  }
  await pythonRows('managers', P, opts);
}

async function internals(P, opts) {
  if (!opts.ours) return;
  const r = await runChild(process.execPath, ['--import', 'tsx', here('./internals.ts'), JSON.stringify({ reps: P.reps, quick: opts.quick })], {
    timeoutMs: 120_000,
    prefix: '  internals|',
  });
  const rows = r.msgs.filter((x) => x.tag === 'row');
  for (const m of rows) record('internals', { ...m, kind: 'ours', transport: '-', lang: 'js' });
  if (!rows.length) record('internals', { metric: 'lib-us', row: 'internals', kind: 'ours', error: `no result (${r.error ?? r.signal ?? r.code})` });
}

const WORKLOADS = [
  { key: 'tiny', title: 'tiny tasks', metrics: ['tiny'], run: tinyTasks, what: (P) => `${P.tinyN} calls of noop(x), all submitted then all awaited, 2 workers` },
  { key: 'map', title: 'map of small items', metrics: ['map'], run: mapSmall, what: (P) => `${P.mapN} integers through sq (~0.8 µs; Python twin ~1 µs), 2 workers` },
  { key: 'cpu', title: 'CPU scaling', metrics: ['cpu'], run: cpuScaling, what: (P) => `${P.cpuTasks} tasks of burn(${P.burnN}) (Python twin burn(${P.pyBurnN})), 2 workers; wall seconds` },
  { key: 'startup', title: 'start-up', metrics: ['startup-first', 'startup-exit'], run: startUp, what: (P) => `${P.starts} sequential starts per row` },
  { key: 'ready', title: 'pool ready', metrics: ['ready'], run: poolReady, what: (P) => `new Pool(2) (or two workers) to the first result of noop, ${P.starts} times per row, sequential; the plain pairs alternate with ours (no standby) in 4 rounds` },
  { key: 'roundtrip', title: 'round trip', metrics: ['roundtrip'], run: roundTrip, what: (P) => `one message there and back, ${P.rtN} times after ${P.rtWarm} warm-up; µs per trip` },
  { key: 'pipe-bytes', title: 'large message', metrics: ['pipe-bytes'], run: pipeBytes, what: () => 'one 64 MB sendBytes from a new child to the parent; MB/s' },
  { key: 'locks', title: 'locks', metrics: ['locks'], run: locks, what: (P) => `uncontended acquire+release (${P.lockN}), and two workers doing ${P.lockPairN} locked increments each` },
  { key: 'managers', title: 'managers', metrics: ['mgr-dict', 'mgr-rtt'], run: managers, what: (P) => `a manager's dict through its proxy: ${P.mgrN} set/get calls, ${P.mgrBatch} in flight (Python: ${P.pyMgrThreads} threads, one connection each, and one thread); ${P.mgrRtN} sequential gets for the round trip` },
  { key: 'internals', title: 'library internals', metrics: ['lib-us'], run: internals, what: () => 'function lookup and encode() paths, in one process (tsx, src/)' },
  { key: 'queue', title: 'queue throughput', metrics: ['queue'], run: queueThroughput, what: (P) => `integers from one worker to another (${P.pmQueueN} postMessage, ${P.ringN} ring, ${P.ourQueueN} ours, ${P.pyQueueN} Python)` },
];

function selectWorkloads(only) {
  if (!only) return WORKLOADS;
  const wanted = only.split(',').map(norm).filter(Boolean);
  const sel = WORKLOADS.filter((w) => wanted.some((x) => norm(w.key).startsWith(x) || norm(w.title).startsWith(x)));
  if (!sel.length) {
    console.error(`--only ${only}: no such workload\n${HELP}`);
    process.exit(2);
  }
  return sel;
}

// ------------------------------------------------------------------------------ tables

/** Rows during which other programs used at least this share of the CPUs are flagged. */
const NOISY = 0.1;

/** How many times faster `v` is than `ref` (> 1: faster), for either direction of metric. */
const speed = (v, ref, better) => (v === undefined || ref === undefined ? undefined : better === 'higher' ? v / ref : ref / v);
const x = (r) => (r === undefined ? '' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`);

function printTable(metric, what) {
  const m = METRICS[metric];
  // Baselines first, whichever process measured them and when.
  const rows = records.filter((r) => r.metric === metric).sort((a, b) => (b.kind === 'baseline') - (a.kind === 'baseline'));
  if (!rows.length) return;
  const ok = rows.filter((r) => r.median !== undefined);
  const best = (list) =>
    list.reduce((b, r) => (b === undefined || speed(r.median, b.median, m.better) > 1 ? r : b), undefined);
  const baselineFor = (r) => {
    const t = r.transport === 'python' ? 'process' : r.transport;
    return ok.find((b) => b.kind === 'baseline' && b.transport === t) ?? ok.find((b) => b.kind === 'baseline');
  };
  const bestPeer = best(ok.filter((r) => r.kind === 'peer'));
  const serialFor = (r) => ok.find((s) => s.kind === 'serial' && s.lang === r.lang);
  const hasSerial = ok.some((r) => r.kind === 'serial');
  const noisy = (r) => r.othersCpu >= NOISY;
  const hasNoise = ok.some(noisy);
  const head = ['row', 'median', 'min', 'max', 'vs baseline', 'vs best peer', ...(hasSerial ? ['vs serial'] : []), ...(hasNoise ? ['others'] : [])];
  const body = rows.map((r) => {
    if (r.median === undefined) return [r.row, r.skipped ? `skipped: ${r.skipped}` : `FAILED: ${r.error}`];
    return [
      r.row,
      fmt(r.median, m.unit),
      fmt(r.min, m.unit),
      fmt(r.max, m.unit),
      x(speed(r.median, baselineFor(r)?.median, m.better)),
      x(speed(r.median, bestPeer?.median, m.better)),
      ...(hasSerial ? [x(speed(r.median, serialFor(r)?.median, m.better))] : []),
      ...(hasNoise ? [noisy(r) ? `${Math.round(r.othersCpu * 100)}%!` : ''] : []),
    ];
  });
  markdown.push(markdownTable(m, what, head, body, hasNoise));
  const widths = head.map((h, i) =>
    Math.max(h.length, ...body.filter((b) => i === 0 || b.length > 2).map((b) => String(b[i] ?? '').length)),
  );
  const line = (cells) =>
    cells.length === 2 && cells !== head
      ? `  ${cells[0].padEnd(widths[0])}  ${cells[1]}`
      : '  ' + cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(`\n== ${m.title} (${m.unit}, ${m.better} is better): ${what}`);
  console.log(line(head));
  console.log('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
  if (hasNoise)
    console.log(
      `  others: share of the CPUs that other programs on the machine used while the row ran (shown from ${NOISY * 100}%): that row may read low`,
    );
}

/** The tables again, in Markdown (bench/results/<run>.md, and README's table with --readme). */
const markdown = [];

function markdownTable(m, what, head, body, hasNoise) {
  const esc = (c) => String(c ?? '').replace(/\|/g, '\\|');
  const rows = body.map((b) => (b.length === 2 ? [b[0], b[1], ...head.slice(2).map(() => '')] : b));
  return [
    `**${m.title}** (${m.unit}, ${m.better} is better): ${what}`,
    '',
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
    ...(hasNoise ? ['', `_others_: share of the CPUs other programs used while the row ran (from ${NOISY * 100}%): such a row may read low.`] : []),
  ].join('\n');
}

function writeMarkdown(info, file) {
  const flags = [info.mode === 'quick' ? '--quick' : '', info.only ? `--only ${info.only}` : ''].filter(Boolean);
  const head = [
    `Measured ${info.date.slice(0, 10)} by \`npm run bench${flags.length ? ` -- ${flags.join(' ')}` : ''}\` ` +
      `on ${info.cpus} cores (${info.cpuModel}), ${info.platform}, Node ${info.node}, ${info.python ? `Python ${info.python}` : 'no Python'}; ` +
      `median of ${info.params.reps} repetitions per row (start-up: ${info.params.starts} starts). ` +
      'Ratios are speeds: above 1 is faster than the reference.',
  ];
  const text = [...head, ...markdown].join('\n\n') + '\n';
  writeFileSync(file, text);
  return text;
}

/** Replaces README's table (between its bench markers) with this run's tables. */
function updateReadme(text) {
  const readme = here('../README.md');
  const src = readFileSync(readme, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const a = src.indexOf(start);
  const b = src.indexOf(end);
  if (a < 0 || b < a) {
    log(`--readme: README.md has no ${start} ... ${end} markers; left as it was`);
    return;
  }
  writeFileSync(readme, src.slice(0, a + start.length) + '\n' + text + src.slice(b));
  log('README.md: performance tables replaced with this run');
}

// ------------------------------------------------------------------------------ main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const P = { ...(opts.quick ? QUICK : FULL) };
  if (opts.reps) P.reps = opts.reps;
  const selected = selectWorkloads(opts.only);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const py = opts.python ? pythonAvailable() : false;
  const info = {
    type: 'run',
    run: RUN_ID,
    date: new Date().toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    only: opts.only,
    params: P,
    node: process.version,
    python: py || null,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model,
    platform: `${os.platform()} ${os.release()}`,
  };
  writeJson(info);
  console.log(
    `multiprocessing-ts bench, ${info.mode} run ${RUN_ID}: node ${info.node}, python ${py || '(absent: Python rows skipped)'}, ` +
      `${info.cpus} cores (${info.cpuModel}); ${P.reps} repetitions (start-up: ${P.starts} starts) per row`,
  );
  console.log(
    'Ratios are speeds (>1 = faster than the reference): vs the no-library baseline of the same transport ' +
      '(Python rows: vs the process baseline), vs the best peer row (piscina/tinypool/workerpool/Python) of the table, ' +
      'and vs the serial row of the same language (CPU scaling: the speed-up). Compare rows of one run only.',
  );
  if (!py && opts.python) console.log('note: python3 not found: the Python rows are skipped.');
  const t0 = hr();
  for (const w of selected) {
    log(`\n-- ${w.title}`);
    try {
      await w.run(P, opts);
    } catch (e) {
      log(`  ${w.title}: ${e?.stack ?? e}`);
    }
    for (const metric of w.metrics) printTable(metric, w.what(P));
  }
  const md = writeMarkdown(info, RESULTS_FILE.replace(/\.jsonl$/, '.md'));
  if (opts.readme) updateReadme(md);
  console.log(`\n(${since(t0).toFixed(1)} s; JSON lines in ${RESULTS_FILE}; Markdown beside it)`);
}

await main();

// Everything is destroyed by now and the process should end by itself. If a handle leaked,
// say which, instead of hanging silently (the timer is unref'd: it never keeps us alive).
setTimeout(() => {
  const handles = process._getActiveHandles?.().map((h) => h?.constructor?.name) ?? [];
  console.error(`bench: still alive 10 s after the end; leaked handles: ${handles.join(', ') || '(unknown)'}`);
  process.exit(1);
}, 10_000).unref();
