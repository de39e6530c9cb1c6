import { processSuite } from './suites/process.js';

processSuite('thread');
