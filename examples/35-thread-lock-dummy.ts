/**
 * Seed 001, "threading": "使用锁实现线程同步" (thread synchronisation with a lock).
 * Two threads each write their word into every slot of one global list,
 * sleeping between slots; a Lock makes each thread's pass whole, so each
 * print shows one word five times. Without the lock the passes interleave
 * and the list is mixed (the seed's comment shows such output).
 *
 * Python's threads share the module's globals. Node's worker threads do not
 * (each has its own module instance), so the twin of `threading` here is
 * `multiprocessing-ts/dummy` (Python's `multiprocessing.dummy`): its
 * `Process` is an async task in this same thread, sharing this module's
 * globals, and its `Lock` is a lock between such tasks. Functions need not be
 * exported there, since nothing crosses to another worker.
 *
 * `RUN_WITHOUT_LOCK=1` runs the same two tasks without the lock, to show the mix.
 */
import { Lock, Process } from 'multiprocessing-ts/dummy';
import { sleep } from './_lib/time.js';

// 创建锁 (the lock)
const lock = new Lock();
const useLock = process.env.RUN_WITHOUT_LOCK !== '1';

// 全局变量 (the global list both tasks change)
const globalResource: (string | null)[] = [null, null, null, null, null];

async function changeResource(para: string, seconds: number): Promise<void> {
  // 请求锁 (take the lock)
  if (useLock) await lock.acquire();
  try {
    for (let i = 0; i < globalResource.length; i++) {
      globalResource[i] = para;
      await sleep(seconds);
    }
    console.log('修改全局变量为：', JSON.stringify(globalResource));
  } finally {
    // 释放锁 (release it)
    if (useLock) lock.release();
  }
}

function main(): void {
  const threadHi = new Process({ target: changeResource, args: ['hi', 2] });
  const threadHello = new Process({ target: changeResource, args: ['hello', 1] });
  threadHi.start();
  threadHello.start();
}

main();
