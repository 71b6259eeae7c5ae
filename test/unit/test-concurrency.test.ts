import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testConcurrency } from '../support/run-tests';

describe('test harness concurrency (SWITCHYARD_TEST_CONCURRENCY)', () => {
  it('runs two files at a time by default, or as many as asked', () => {
    assert.equal(testConcurrency({}), 2);
    assert.equal(testConcurrency({ SWITCHYARD_TEST_CONCURRENCY: '' }), 2);
    assert.equal(testConcurrency({ SWITCHYARD_TEST_CONCURRENCY: '1' }), 1);
    assert.equal(testConcurrency({ SWITCHYARD_TEST_CONCURRENCY: '3' }), 3);
  });

  it('refuses a value that is not a whole number from 1 to 16, naming the variable and the value', () => {
    for (const bad of ['0', '-1', '1.5', 'two', '17']) {
      assert.throws(
        () => testConcurrency({ SWITCHYARD_TEST_CONCURRENCY: bad }),
        new RegExp(`SWITCHYARD_TEST_CONCURRENCY must be a whole number from 1 to 16, got "${bad}"`),
      );
    }
  });
});
