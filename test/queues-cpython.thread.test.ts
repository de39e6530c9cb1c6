import { queuesCpythonSuite } from './suites/queues-cpython.js';

queuesCpythonSuite('thread');
