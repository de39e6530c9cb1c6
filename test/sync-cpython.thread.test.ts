import { syncCpythonSuite } from './suites/sync-cpython.js';

syncCpythonSuite('thread');
