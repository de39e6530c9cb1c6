// The queues-and-pipes suite with large items forced through the ring in pieces (the path of
// the thread-only mode, which has no named segments for large items), on the process start
// method: dead writers and readers half way through an item, wrap-around, pieces.
process.env.MULTIPROCESSING_TS_ITEM_SEGMENTS = '0';
const { queuesSuite } = await import('./suites/queues.js');
queuesSuite('process');
