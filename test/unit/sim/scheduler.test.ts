import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../../src/sim/scheduler.js';

describe('Scheduler', () => {
  it('runs events by time, then by insertion order', () => {
    const s = new Scheduler();
    const order: string[] = [];
    s.schedule(5, () => order.push('a5'));
    s.schedule(1, () => order.push('b1'));
    s.schedule(5, () => order.push('c5'));
    s.schedule(0, () => order.push('d0'));
    s.schedule(1, () => {
      order.push('e1');
      s.schedule(0, () => order.push('f1-nested')); // same time, after everything already queued at t=1
    });
    s.schedule(1, () => order.push('g1'));
    assert.equal(s.runUntilIdle(), true);
    assert.deepEqual(order, ['d0', 'b1', 'e1', 'g1', 'f1-nested', 'a5', 'c5']);
    assert.equal(s.now(), 5);
    assert.equal(s.eventsRun, 7);
  });

  it('cancel prevents the callback and is not counted', () => {
    const s = new Scheduler();
    const ran: number[] = [];
    const t1 = s.schedule(1, () => ran.push(1));
    s.schedule(2, () => ran.push(2));
    const t3 = s.schedule(3, () => ran.push(3));
    t1.cancel();
    t1.cancel(); // idempotent
    assert.equal(s.pending, 2);
    s.schedule(2.5, () => t3.cancel());
    s.runUntilIdle();
    assert.deepEqual(ran, [2]);
    assert.equal(s.eventsRun, 2);
    assert.equal(s.pending, 0);
  });

  it('survives mass cancellation (heap compaction) and keeps order', () => {
    const s = new Scheduler();
    const ran: number[] = [];
    const timers = [];
    for (let i = 0; i < 10_000; i++) timers.push(s.schedule(1000 + (i % 97), () => ran.push(i)));
    for (let i = 0; i < 10_000; i++) if (i % 10 !== 0) timers[i]!.cancel();
    assert.equal(s.pending, 1000);
    s.runUntilIdle();
    assert.equal(ran.length, 1000);
    const key = (i: number): number => (1000 + (i % 97)) * 1e6 + i;
    for (let k = 1; k < ran.length; k++) assert.ok(key(ran[k - 1]!) < key(ran[k]!));
  });

  it('runUntil / runFor advance the clock to the deadline; runUntilIdle stops at maxTime', () => {
    const s = new Scheduler();
    const ran: number[] = [];
    s.schedule(10, () => ran.push(10));
    s.schedule(20, () => ran.push(20));
    s.runUntil(10);
    assert.deepEqual(ran, [10]);
    assert.equal(s.now(), 10);
    s.runFor(5);
    assert.equal(s.now(), 15);
    assert.equal(s.runUntilIdle(18), false);
    assert.equal(s.now(), 18);
    assert.equal(s.runUntilIdle(), true);
    assert.deepEqual(ran, [10, 20]);
    assert.equal(s.step(), false);
  });

  it('rejects negative and non-finite delays', () => {
    const s = new Scheduler();
    assert.throws(() => s.schedule(-1, () => {}), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => s.schedule(Number.NaN, () => {}), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => s.schedule(Infinity, () => {}), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('stops and rethrows when a callback throws', () => {
    const s = new Scheduler();
    const boom = new Error('boom');
    const ran: number[] = [];
    s.schedule(1, () => {
      throw boom;
    });
    s.schedule(2, () => ran.push(2));
    assert.throws(
      () => s.runUntilIdle(),
      (e) => e === boom,
    );
    assert.equal(s.failed, true);
    assert.equal(s.now(), 1);
    assert.throws(() => s.runUntilIdle(), { code: 'ERR_CLOSED' });
    assert.deepEqual(ran, []);
  });

  it('maxEvents turns a livelock into an error', () => {
    const s = new Scheduler({ maxEvents: 1000 });
    const loop = (): void => {
      s.schedule(0, loop);
    };
    s.schedule(0, loop);
    assert.throws(() => s.runUntilIdle(), { code: 'ERR_ASSERTION' });
  });

  it('runs 1,000,000 events in a few seconds', () => {
    const s = new Scheduler();
    let count = 0;
    let last = -1;
    let x = 12345;
    // Half scheduled up front in pseudo-random order, half scheduled by running events.
    for (let i = 0; i < 500_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      s.schedule(x % 100_000, () => {
        if (s.now() < last) throw new Error('time went backwards');
        last = s.now();
        count++;
        s.schedule(1 + (count % 7), () => count++);
      });
    }
    const t0 = performance.now();
    s.runUntilIdle();
    const elapsed = performance.now() - t0;
    assert.equal(count, 1_000_000);
    assert.equal(s.eventsRun, 1_000_000);
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  });
});
