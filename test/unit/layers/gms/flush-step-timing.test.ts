import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RESEND_BACKOFF, MAX_STEP_STRETCH, resendDue, stepOverdue, type CoordFlush } from '../../../../src/layers/gms/flush.js';
import type { FlushOkBody } from '../../../../src/layers/gms/messages.js';

const T = 1500;
const RETRY = 100;

function flush(startedAt: number, answered: string[], participants = ['a', 'b', 'c', 'd']): CoordFlush {
  const oks = new Map<string, FlushOkBody>(answered.map((m) => [m, { view: 1, a: { n: 1, coord: 'a' }, digest: [], accepted: null }]));
  return {
    a: { n: 1, coord: 'a' },
    participants,
    oks,
    phase: 'start',
    startedAt,
    lastSend: startedAt,
    resends: 0,
    lastAnswerAt: startedAt,
    proposal: null,
    dones: new Set(),
  };
}

describe('GMS flush step timing', () => {
  it('suspects nobody before flushTimeoutMs', () => {
    assert.equal(
      stepOverdue(flush(0, ['a']), T, T, () => true),
      false,
    );
  });

  it('is over after flushTimeoutMs with no new answer, as before', () => {
    assert.equal(
      stepOverdue(flush(0, ['a']), T + 1, T, () => false),
      true,
    );
  });

  it('waits for silent members while others still answer, unless the failure detector suspects one', () => {
    const f = flush(0, ['a', 'b']);
    f.lastAnswerAt = T - 100; // b answered late
    assert.equal(
      stepOverdue(f, T + 50, T, () => false),
      false,
      'answers still coming: wait',
    );
    assert.equal(
      stepOverdue(f, T + 50, T, (m) => m === 'c'),
      true,
      'a silent member is suspected: over',
    );
    assert.equal(
      stepOverdue(f, T + 50, T, (m) => m === 'b'),
      false,
      'a suspected member that answered does not count',
    );
  });

  it('waits no longer than MAX_STEP_STRETCH × flushTimeoutMs however answers trickle in', () => {
    const f = flush(0, ['a', 'b']);
    f.lastAnswerAt = T * MAX_STEP_STRETCH;
    assert.equal(
      stepOverdue(f, T * MAX_STEP_STRETCH, T, () => false),
      false,
    );
    assert.equal(
      stepOverdue(f, T * MAX_STEP_STRETCH + 1, T, () => false),
      true,
    );
  });

  it('resends after retryMs, then twice as long each time, up to the cap', () => {
    const f = flush(0, []);
    const gaps: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      let t = now;
      while (!resendDue(f, t, RETRY)) t++;
      gaps.push(t - now);
      f.lastSend = now = t;
      f.resends++;
    }
    assert.deepEqual(gaps, [100, 200, 400, 800, RETRY * MAX_RESEND_BACKOFF, RETRY * MAX_RESEND_BACKOFF]);
  });
});
