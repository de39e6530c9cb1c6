/**
 * How many children an example starts.
 *
 * Some seeds start a hundred processes for a two-item story (one buyer per
 * `None`, a hundred consumers for two products). Each worker here is a new
 * V8 isolate that registers tsx's loader, which costs far more than the
 * story needs (measured on the 2-core test machine: 20 thread children
 * under tsx took 6.6 s to start, 50 took 37 s). `EXAMPLES_MAX_CHILDREN`
 * caps those fan-outs for fast runs (`npm run examples` sets it); unset, the
 * examples start as many as the seed does.
 */
export function howMany(n: number): number {
  const raw = process.env.EXAMPLES_MAX_CHILDREN;
  if (raw === undefined || raw === '') return n;
  const cap = Number(raw);
  if (!Number.isInteger(cap) || cap < 1) {
    throw new RangeError(`EXAMPLES_MAX_CHILDREN must be an integer >= 1; received ${JSON.stringify(raw)}`);
  }
  return Math.min(n, cap);
}
