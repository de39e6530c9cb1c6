/**
 * Seed 001, "Pipe": one child holds one end of a pipe; two children share
 * the other end. I1 sends two messages and receives two; I2 and I3 each send
 * one and receive one. Which of I2 and I3 gets which of I1's messages
 * depends on who asks first.
 *
 * A pipe end passed to several children is one end: its messages go to
 * whichever holder receives first, each message to exactly one of them.
 */
import { Connection, Pipe, Process, isMain } from 'multiprocessing-ts';
import { sleep } from './_lib/time.js';

export async function funcPipe1(conn: Connection<string>, pId: string): Promise<void> {
  await conn.send(`${pId}_send1`);
  console.log(`${pId} send1\n`);

  await sleep(0.1);
  await conn.send(`${pId}_send2`);
  console.log(`${pId} send2\n`);

  await sleep(0.1);
  let rec = await conn.recv();
  console.log(`${pId} recv ${rec}\n`);

  await sleep(0.1);
  rec = await conn.recv();
  console.log(`${pId} recv ${rec}\n`);
}

export async function funcPipe2(conn: Connection<string>, pId: string): Promise<void> {
  await conn.send(pId);
  console.log(`${pId} send\n`);
  await sleep(0.1);
  const rec = await conn.recv();
  console.log(`${pId} recv ${rec}\n`);
}

if (isMain()) {
  const [conn1, conn2] = Pipe<string>();

  const processes = [
    new Process({ target: funcPipe1, args: [conn1, 'I1'] }),
    new Process({ target: funcPipe2, args: [conn2, 'I2'] }),
    new Process({ target: funcPipe2, args: [conn2, 'I3'] }),
  ];

  processes.forEach((p) => p.start());
  for (const p of processes) await p.join();
}
