import { poolSuite } from './suites/pool.js';

poolSuite('thread');
