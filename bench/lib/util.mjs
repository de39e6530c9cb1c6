// Small helpers shared by the harness: clocks, statistics, number formatting.

/** CLOCK_MONOTONIC in nanoseconds (bigint); comparable across threads and processes. */
export const hr = () => process.hrtime.bigint();

/** Seconds elapsed since an `hr()` stamp. */
export const since = (t0) => Number(hr() - t0) / 1e9;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summarize(samples) {
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples) };
}

/** Run `fn` with a deadline; rejects with a clear message when it does not settle in time. */
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no answer after ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** Resolve on the first message of an emitter (worker or child process) that satisfies `pred`. */
export function onceMessage(emitter, pred = () => true) {
  return new Promise((resolve, reject) => {
    const onMsg = (m) => {
      if (!pred(m)) return;
      cleanup();
      resolve(m);
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`exited (code ${code}) before the expected message`));
    };
    const onError = (e) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      emitter.off('message', onMsg);
      emitter.off('exit', onExit);
      emitter.off('error', onError);
    };
    emitter.on('message', onMsg);
    emitter.on('exit', onExit);
    emitter.on('error', onError);
  });
}

/** Split an array into consecutive slices of `size`. */
export function chunk(xs, size) {
  const out = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

export const range = (n) => Array.from({ length: n }, (_, i) => i);

/** 3 significant digits with k/M suffixes for rates, plain for durations. */
export function fmt(v, unit) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  if (unit.endsWith('/s')) {
    if (v >= 1e6) return `${sig(v / 1e6)}M`;
    if (v >= 1e3) return `${sig(v / 1e3)}k`;
    return sig(v);
  }
  return sig(v);
}

function sig(x) {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}
