import { managersSuite } from './suites/managers.js';

managersSuite('process');
