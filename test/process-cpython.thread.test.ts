import { processCpythonSuite } from './suites/process-cpython.js';

processCpythonSuite('thread');
