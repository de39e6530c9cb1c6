// Managers workload: a SyncManager's dict through its proxy, on each start method of the server,
// beside Python's Manager().dict() (bench/python/bench_mp.py 'managers'), in one run.
//   - dict set/get throughput with many calls in flight: batches of `mgrBatch` calls issued at
//     once (set, then get), `mgrN` calls per repetition; ops/s;
//   - one proxy call's round trip: `await d.get(k)` one after another; µs per call.
// Prints '@@row {json}' lines for bench/run.mjs.
const P = JSON.parse(process.argv[2] ?? '{}');
const reps = P.reps ?? 3;
const n = P.mgrN ?? 100_000;
const batch = P.mgrBatch ?? 1_000;
const rtN = P.mgrRtN ?? 5_000;
const out = (o) => process.stdout.write(`@@row ${JSON.stringify(o)}\n`);
const { getContext } = await import('multiprocessing-ts');

async function inflight(d) {
  const t = performance.now();
  for (let done = 0; done < n; done += 2 * batch) {
    const sets = [];
    for (let i = 0; i < batch; i++) sets.push(d.set(`k${i}`, i));
    await Promise.all(sets);
    const gets = [];
    for (let i = 0; i < batch; i++) gets.push(d.get(`k${i}`));
    const got = await Promise.all(gets);
    if (got[batch - 1] !== batch - 1) throw new Error('wrong value read back');
  }
  return n / ((performance.now() - t) / 1000);
}

async function roundTrip(d) {
  const t = performance.now();
  for (let i = 0; i < rtN; i++) await d.get('k0');
  return ((performance.now() - t) / rtN) * 1000;
}

for (const method of ['thread', 'process']) {
  const m = await getContext(method).Manager();
  try {
    const d = await m.dict();
    await inflight(d); // warm-up
    await roundTrip(d);
    const tp = [];
    const rt = [];
    for (let r = 0; r < reps; r++) {
      tp.push(await inflight(d));
      rt.push(await roundTrip(d));
    }
    out({ metric: 'mgr-dict', row: `ours Manager '${method}' dict set/get, ${batch} in flight`, kind: 'ours', transport: method, samples: tp, params: { n, batch } });
    out({ metric: 'mgr-rtt', row: `ours Manager '${method}' dict get round trip`, kind: 'ours', transport: method, samples: rt, params: { n: rtN } });
  } finally {
    await m.shutdown();
  }
}
