/**
 * Default names of the package's own `Process` export (not a context's): the
 * built package must name them `Process-N`, as Python does, whatever the
 * bundler calls the class internally.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Process, getContext } from 'multiprocessing-ts';
import { add } from './fixtures/targets.js';

describe('default process names', () => {
  it('new Process() is named Process-N and described as <Process ...>', () => {
    const p = new Process({ target: add, args: [1, 2] });
    assert.match(p.name, /^Process-\d+$/);
    assert.match(String(p), /^<Process name='Process-\d+' initial>$/);
    assert.equal(Process.name.replace(/^_+/, ''), 'Process');
  });

  it('a context Process and a subclass keep their names', () => {
    const q = new (getContext('process').Process)({ target: add, args: [1, 2] });
    assert.match(q.name, /^Process-\d+$/);
    class Worker extends Process {}
    const w = new Worker();
    assert.match(w.name, /^Worker-\d+$/);
    assert.match(String(w), /^<Worker name='Worker-\d+' initial>$/);
  });
});
