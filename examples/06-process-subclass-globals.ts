/**
 * Seed 004, "创建实例" (creating a process), second snippet: a `Task`
 * subclass with its own `name`, which sets the module-level `n` in the child.
 *
 * The child's `n` is its own: a child imports this module afresh (Node.js has
 * no fork), so setting `n` there leaves the main program's `n` at 0, exactly
 * what Python prints too (under fork the child writes its copy-on-write
 * copy; under spawn its own import). Each child also builds a big list of its
 * own, as the seed does to show that memory is not shared.
 *
 * Python sets the name through a `name` property over `_name`; here the
 * `name` option of the Process constructor does it.
 */
import { Process, isMain } from 'multiprocessing-ts';
import { randrange, random, sleep } from './_lib/time.js';
import { getpid } from './_lib/ids.js';

export let n = 0;

// The seed's plain-function version (unused there too, see the commented loop below).
export async function task(name: string): Promise<void> {
  console.log(`task of ${name} starts`);
  await sleep(randrange(50, 100));
  console.log(`task of ${name} ends`);
}

export class Task extends Process {
  constructor(name: string) {
    super({ name }); // super().__init__()  (do not forget it)
  }

  // run(): do not forget it either
  override async run(): Promise<void> {
    console.log(`task ${this.name} starts with pid ${getpid()}...`);
    n = random();
    console.log(`n=${n} in process ${this.name}`);
    // mem: the seed builds list(range(int(n * 100_000_000))) to watch memory grow;
    // a hundredth of that here.
    const l = Array.from({ length: Math.floor(n * 1_000_000) }, (_, i) => i);
    await sleep(randrange(20, 50));
    console.log(`task ${this.name} ends with pid ${getpid()}... (its list had ${l.length} items)`);
  }
}

if (isMain()) {
  // for (let i = 0; i < 4; i++) {
  //   const p = new Process({ target: task, args: [`task ${i}`] });
  //   p.start();
  //   console.log(`pid:${p.pid}`);
  // }
  const plist: Task[] = [];
  for (let i = 0; i < 4; i++) plist.push(new Task(`process-${i + 1}`));
  for (const p of plist) p.start();
  // Start every child first, then join them one by one: joining right after
  // each start would run them one after the other. The joins take as long as
  // the slowest child, which is what we want.
  for (const p of plist) await p.join();
  console.log('main');
  console.log(`n=${n} in main`);
}
