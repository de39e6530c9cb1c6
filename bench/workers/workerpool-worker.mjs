// Worker script for workerpool (thread and process modes).
import workerpool from 'workerpool';
import { noop, sq, sqChunk, burn } from '../fixtures/tasks.mjs';

workerpool.worker({ noop, sq, sqChunk, burn });
