/**
 * Seed 004, "管道" (pipes): a sender sends the lines of po.txt (a short poem,
 * Li Bai's 静夜思) one by one and closes its end; a receiver prints messages
 * until `recv()` throws `EOFError`.
 *
 * `EOFError` comes once the pipe is drained and every copy of the sending
 * end is closed. The main program made the pipe, so it holds copies of both
 * ends too: it closes them right after starting the children (the seed's
 * "关闭" lines), or the receiver would wait for the main program's copy
 * forever. Each child got a copy of its own end when it started.
 */
import { readFileSync } from 'node:fs';
import { Connection, EOFError, Pipe, Process, isMain } from 'multiprocessing-ts';
import { randint, sleep } from './_lib/time.js';

export async function receiver(conn: Connection<string>, name: string): Promise<void> {
  for (;;) {
    try {
      const message = await conn.recv();
      console.log(`${name} receives a message: ${message}`);
    } catch (e) {
      if (!(e instanceof EOFError)) throw e;
      conn.close();
      break;
    }
  }
}

export async function send(conn: Connection<string>, name: string, messages: string[]): Promise<void> {
  for (const message of messages) {
    await conn.send(message);
    await sleep(randint(1, 3));
  }
  conn.close();
}

if (isMain()) {
  const messages: string[] = [];
  for (const line of readFileSync(new URL('./po.txt', import.meta.url), 'utf8').split('\n')) {
    if (line.trim()) messages.push(line.trim());
  }

  const [recvCon, sendCon] = Pipe<string>(); // made in the main program

  const printer = new Process({ target: receiver, args: [recvCon, 'printer'] });
  printer.start();

  const sender = new Process({ target: send, args: [sendCon, 'sender', messages] });
  sender.start();

  // Close the main program's copies now that each child has its own.
  recvCon.close();
  sendCon.close();

  await sender.join();
  console.log('所有消息发送完成...'); // all messages sent
  await printer.join();
  console.log('所有消息接收完成...'); // all messages received
}
