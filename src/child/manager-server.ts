/**
 * Entry of a manager's server worker (started by `BaseManager.start()` as a
 * daemonic Process): binds, reports its address through the pipe it was
 * given, then serves until a client asks for a shutdown. A server process
 * ignores SIGINT (as Python's does), so that Ctrl-C reaches the program and
 * its `shutdown()` runs; it still ends with its owner (daemonic).
 * @internal
 */
import type { Connection } from '../connection.js';
import { runServer, type ServerSpec, type StartReport } from '../managers.js';
import { isMainThread } from 'node:worker_threads';

/** Runs the server; resolves once it has shut down. */
export async function managerServerMain(report: Connection<StartReport, never>, spec: ServerSpec): Promise<void> {
  if (isMainThread) process.on('SIGINT', () => {});
  await runServer(spec, async (r) => {
    try {
      await report.send(r);
    } finally {
      report.close();
    }
  });
}
