import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { settleMs } from '../../bench/runners/large.js';

describe('large-64 idle window start (HORUS_BENCH_LARGE_SETTLE_MS)', () => {
  it('is 30 s after forming unless set, and takes whole ms', () => {
    assert.equal(settleMs(undefined), 30_000);
    assert.equal(settleMs(''), 30_000);
    assert.equal(settleMs('40000'), 40_000);
    assert.equal(settleMs('0'), 0);
  });

  it('refuses anything else with a message naming the variable', () => {
    for (const bad of ['40s', '-1', '1.5', '600001', 'NaN']) assert.throws(() => settleMs(bad), /HORUS_BENCH_LARGE_SETTLE_MS must be whole ms/);
  });
});
