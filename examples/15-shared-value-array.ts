/**
 * Seed 000, "多进程共享内存" (shared memory between processes): a `Value`
 * and an `Array` in shared memory, changed by a child, read by the parent.
 * (The seed shows Python's documentation example as a picture:
 * `Value('d', 0.0)`, `Array('i', range(10))`, the child sets the value and
 * negates the array.)
 *
 * Typecodes are Python's ('d' double, 'i' int, ...). `Array` is exported
 * both as `Array` and as `SharedArray` (to keep JavaScript's `Array` usable).
 * Each `.value`, `get(i)` and `set(i, v)` takes the object's lock, as
 * Python's synchronized wrappers do.
 */
import { Process, SharedArray, Value, isMain } from 'multiprocessing-ts';

export function f(n: Value<'d'>, a: SharedArray<'i'>): void {
  n.value = 3.1415927;
  for (let i = 0; i < a.length; i++) a.set(i, -a.get(i));
}

if (isMain()) {
  const num = new Value('d', 0.0);
  const arr = new SharedArray('i', Array.from({ length: 10 }, (_, i) => i));

  const p = new Process({ target: f, args: [num, arr] });
  p.start();
  await p.join();

  console.log(num.value);
  console.log(`[${arr.slice().join(', ')}]`); // arr[:] as Python prints it
}
