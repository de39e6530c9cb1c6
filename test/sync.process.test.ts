import { syncSuite } from './suites/sync.js';

syncSuite('process');
