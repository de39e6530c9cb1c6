/**
 * The waiter thread of the koffi fallback (see internal/koffi-waiter): blocks
 * in `futex_waitv` on the waited words plus the control word, and posts
 * `[id, result, …]` back. Requests are read with `receiveMessageOnPort`, so
 * this thread needs no event loop turn between two waits.
 * @internal
 */
import { workerData, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { loadKoffi } from '../internal/koffi.js';
import { CONTROL_BYTES, TS_OFFSET, VEC_OFFSET, WAITV_MAX, type KoffiWaiterMessage } from '../internal/koffi-waiter.js';

const { port, ctlAddr } = workerData as { port: MessagePort; ctlAddr: number };
const k = loadKoffi().api;
if (!k) throw new Error('the koffi waiter thread cannot load koffi');

const SLICE_NS = 100_000_000n;
const FUTEX_32 = 2; // FUTEX2_SIZE_U32, shared (no FUTEX2_PRIVATE): wakes from any process
const EAGAIN = 11;

const mem = k.viewAt(ctlAddr, CONTROL_BYTES);
const ctl = new Int32Array(mem, 0, 2);
const ts = new BigInt64Array(mem, TS_OFFSET, 2);
const vec = new BigInt64Array(mem, VEC_OFFSET, WAITV_MAX * 3);
const vec32 = new Uint32Array(mem, VEC_OFFSET, WAITV_MAX * 6);

interface Wait {
  id: number;
  word: Int32Array;
  addr: number;
  expected: number;
  deadline: bigint;
}

const waits = new Map<number, Wait>();
const installed: Wait[] = [];

function setEntry(i: number, addr: number, expected: number): void {
  vec[i * 3] = BigInt(expected >>> 0); // the kernel compares the low 32 bits
  vec[i * 3 + 1] = BigInt(addr);
  vec32[i * 6 + 4] = FUTEX_32;
  vec32[i * 6 + 5] = 0;
}

function drain(): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const msg = m.message as KoffiWaiterMessage;
    if (msg.t === 'wait') {
      waits.set(msg.id, { id: msg.id, word: new Int32Array(k!.viewAt(msg.addr, 4)), addr: msg.addr, expected: msg.expected, deadline: msg.deadline });
    } else {
      waits.delete(msg.id);
    }
  }
}

for (;;) {
  // Generation first, then the requests: a request posted after the drain changes the
  // generation, so the wait below returns at once.
  const gen = Atomics.load(ctl, 0);
  drain();
  if (Atomics.load(ctl, 1) !== 0) break;
  const results: number[] = [];
  const now = process.hrtime.bigint();
  let next = now + SLICE_NS;
  installed.length = 0;
  setEntry(0, ctlAddr, gen);
  for (const w of waits.values()) {
    if (w.deadline <= now) {
      results.push(w.id, 2);
      waits.delete(w.id);
      continue;
    }
    if (Atomics.load(w.word, 0) !== w.expected) {
      results.push(w.id, 0); // changed since the call: as a wake-up
      waits.delete(w.id);
      continue;
    }
    if (installed.length < WAITV_MAX - 1) {
      installed.push(w);
      setEntry(installed.length, w.addr, w.expected);
      if (w.deadline < next) next = w.deadline;
    }
    // Past 127 words the rest wait for a free entry (each wait lasts one slice at most).
  }
  if (results.length) port.postMessage(results);
  ts[0] = next / 1_000_000_000n;
  ts[1] = next % 1_000_000_000n;
  const r = k.futexWaitv(ctlAddr + VEC_OFFSET, installed.length + 1, ctlAddr + TS_OFFSET);
  if (r >= 1) {
    const w = installed[r - 1]!;
    waits.delete(w.id);
    port.postMessage([w.id, 0]);
  } else if (r === -EAGAIN) {
    // Some word differed: the loop above sorts out which (control word or a waited one).
  }
  // r === 0: the control word; -ETIMEDOUT / -EINTR: the loop re-examines everything.
}
port.close();
