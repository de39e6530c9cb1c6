/**
 * Python's `os.getpid()` as the examples print it.
 *
 * On the `'process'` start method every child is an OS process with its own
 * pid, as in Python. On `'thread'` (the default) children are worker threads
 * of one process and share its pid, so the examples print `pid.threadId`
 * there to tell the workers apart.
 */
import { threadId } from 'node:worker_threads';

export function getpid(): string {
  return threadId === 0 ? String(process.pid) : `${process.pid}.${threadId}`;
}
