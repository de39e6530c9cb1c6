/**
 * Time helpers for the examples.
 *
 * The seeds sleep for whole seconds to make a story visible (who waits for
 * whom). `EXAMPLES_TIME_SCALE` scales every such sleep: 1 (the default) keeps
 * the seeds' timings, `npm run examples` uses a small factor so the whole set
 * runs in well under a minute. Only sleeps and timeouts are scaled; counts
 * and the order of events are the seed's.
 */

function readScale(): number {
  const raw = process.env.EXAMPLES_TIME_SCALE;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new RangeError(`EXAMPLES_TIME_SCALE must be a number >= 0; received ${JSON.stringify(raw)}`);
  }
  return n;
}

/** The factor applied to every sleep (children read the same environment variable). */
export const TIME_SCALE = readScale();

/** `seconds` of the seed's time, in milliseconds of ours (for timeouts: `join(ms(1))`). */
export function ms(seconds: number): number {
  return Math.round(seconds * 1000 * TIME_SCALE);
}

/** Python's `time.sleep(seconds)`, scaled; awaits instead of blocking the thread. */
export function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms(seconds)));
}

/** Python's `random.random()`: a float in [0, 1). */
export function random(): number {
  return Math.random();
}

/** Python's `random.randint(a, b)`: an integer in [a, b], both ends included. */
export function randint(a: number, b: number): number {
  return a + Math.floor(Math.random() * (b - a + 1));
}

/** Python's `random.randrange(a, b)`: an integer in [a, b). */
export function randrange(a: number, b: number): number {
  return a + Math.floor(Math.random() * (b - a));
}
