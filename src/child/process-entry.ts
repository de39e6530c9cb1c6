/**
 * Entry file of a child process (started with `child_process.fork`). Boot
 * data comes as the first argument; control messages are tagged on the IPC
 * channel.
 * @internal
 */
import { loadCore } from './core-loader.js';
import type { BootData, ChildMessage, ParentMessage } from '../protocol/messages.js';

const { childMain, CONTROL_TAG } = loadCore();

const boot = JSON.parse(process.argv[2] ?? '{}') as BootData;
// Hide the boot argument from user code, as if the child were started plainly.
process.argv.splice(2, 1);

type Channel = { ref(): void; unref(): void };
const channel = (): Channel | undefined => process.channel as unknown as Channel | undefined;

void childMain(
  {
    send: (msg: ChildMessage) => {
      if (process.connected) process.send?.({ [CONTROL_TAG]: msg });
    },
    onMessage: (listener: (msg: ParentMessage) => void) =>
      process.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && CONTROL_TAG in m) {
          listener((m as Record<string, ParentMessage>)[CONTROL_TAG]!);
        }
      }),
    hold: () => channel()?.ref(),
    release: () => channel()?.unref(),
    onParentGone: (listener: () => void) => process.once('disconnect', listener),
  },
  boot,
);
