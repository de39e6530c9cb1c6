// Start-up of a plain `child_process.fork`: the first statement stamps CLOCK_MONOTONIC
// and reports it over IPC; the child then exits on its own.
const t = process.hrtime.bigint();
process.send(String(t));
