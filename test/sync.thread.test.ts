import { syncSuite } from './suites/sync.js';

syncSuite('thread');
