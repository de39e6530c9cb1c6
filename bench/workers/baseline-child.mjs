// No-library baseline, forked-process transport: `[fnIndex, arg]` in, result out.
import { TASKS } from '../fixtures/tasks.mjs';

process.on('message', (m) => {
  process.send(TASKS[m[0]](m[1]));
});
process.send('ready');
