import { queuesSuite } from './suites/queues.js';

queuesSuite('thread');
