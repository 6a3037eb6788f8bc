import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { InputGuard, wire } from '../../../src/core/input-guard.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';
import { silentLogger, type Logger } from '../../../src/core/logger.js';

function recordingLog(lines: string[]): Logger {
  return { ...silentLogger, warn: (msg, f) => lines.push(`${msg} ${JSON.stringify(f)}`), child: () => recordingLog(lines) };
}

describe('InputGuard', () => {
  it('counts every drop but logs at most once per peer per interval', () => {
    let now = 0;
    const lines: string[] = [];
    const metrics = new MemoryMetrics();
    const g = new InputGuard({ log: recordingLog(lines), metrics, env: { now: () => now } }, 'GMS', 1000);
    for (let i = 0; i < 50; i++) g.drop('a:1/x', 'bad');
    g.drop('b:1/x', 'bad');
    assert.equal(lines.length, 2);
    now = 1000;
    g.drop('a:1/x', 'bad');
    assert.equal(lines.length, 3);
    assert.equal(metrics.snapshot().counters['horus_gms_dropped_total'], 52);
    assert.equal(g.count, 52);
  });

  it('check returns the parsed value, or null after a counted drop', () => {
    const g = new InputGuard({ log: silentLogger, metrics: new MemoryMetrics(), env: { now: () => 0 } }, 'NAK');
    const schema = z.object({ view: wire.int, member: wire.id });
    assert.deepEqual(g.check(schema, { view: 3, member: 'm' }, 'p', 'leave'), { view: 3, member: 'm' });
    assert.equal(g.check(schema, { view: -1, member: 'm' }, 'p', 'leave'), null);
    assert.equal(g.check(schema, { view: 2 ** 40, member: 'm' }, 'p', 'leave'), null);
    assert.equal(g.check(schema, { view: 1, member: 'x'.repeat(300) }, 'p', 'leave'), null);
    assert.equal(g.check(schema, 'nonsense', 'p', 'leave'), null);
    assert.equal(g.count, 4);
  });
});
