import { poolCpythonSuite } from './suites/pool-cpython.js';

poolCpythonSuite('thread');
