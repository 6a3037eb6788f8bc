import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JOIN_REQ_FULL_EVERY, JOIN_REQ_SPREAD, JoinAdmission, joinRequestTargets } from '../../../../src/layers/gms/joins.js';

function admission(max = 2, timeout = 100): JoinAdmission {
  let n = 1000;
  return new JoinAdmission({ maxPendingChallenges: max, challengeTimeoutMs: timeout, maxRememberedGone: 3 }, () => n++);
}

describe('JoinAdmission', () => {
  it('admits only an answer with the nonce, from the joiner’s own node (under any of its member ids)', () => {
    const a = admission();
    const nonce = a.challenge('j:1/1~2', 0)!;
    assert.equal(a.answer('evil:1/1', 'j:1/1~2', nonce), false, 'another node');
    assert.equal(a.answer('j:1/1', 'j:1/1~2', nonce + 1), false, 'a wrong nonce');
    assert.equal(a.answer('j:1/1', 'j:1/1~2', nonce), true, 'its old member id names the same node');
    assert.equal(a.answer('j:1/1', 'j:1/1~2', nonce), false, 'a challenge is spent once answered');
  });

  it('repeats the same challenge to a joiner that asks again', () => {
    const a = admission();
    assert.equal(a.challenge('j:1/1', 0), a.challenge('j:1/1', 50));
    assert.equal(a.size, 1);
  });

  it('an answer to a challenge that expired still admits, and a new request reopens it with the same nonce and first issue time', () => {
    const a = admission(2, 100);
    const nonce = a.challenge('j:1/1', 0)!;
    assert.deepEqual(a.expire(150), ['j:1/1']);
    assert.equal(a.size, 0);
    assert.equal(a.challengedAt('j:1/1'), 0);
    // The starved joiner's answer arrives after the expiry: it is the joiner, from its own node.
    assert.equal(a.answer('evil:1/1', 'j:1/1', nonce), false, 'still only from its own node');
    assert.equal(a.answer('j:1/1', 'j:1/1', nonce), true);
    assert.equal(a.answer('j:1/1', 'j:1/1', nonce), false, 'spent once answered');
    // Another joiner asks again after its challenge expired: the same nonce, timed out afresh from the reopening.
    const n2 = a.challenge('k:1/1', 200)!;
    a.expire(400);
    assert.equal(a.challenge('k:1/1', 450), n2);
    assert.equal(a.challengedAt('k:1/1'), 200, 'the first issue time');
    assert.deepEqual(a.expire(500), [], 'its timeout counts from the reopening');
    assert.deepEqual(a.expire(551), ['k:1/1']);
  });

  it('holds at most the cap of open challenges, and forgets them after the timeout, naming them', () => {
    const a = admission(2, 100);
    assert.notEqual(a.challenge('g1:1/1', 0), null);
    assert.notEqual(a.challenge('g2:1/1', 10), null);
    assert.equal(a.challenge('g3:1/1', 20), null, 'over the cap');
    assert.deepEqual(a.expire(105), ['g1:1/1']);
    assert.notEqual(a.challenge('g3:1/1', 106), null, 'room again');
    assert.deepEqual(a.expire(1000), ['g2:1/1', 'g3:1/1']);
    assert.equal(a.size, 0);
  });
});

describe('joinRequestTargets', () => {
  const contacts = Array.from({ length: 40 }, (_, i) => `m${i}:1/x`);

  it('asks every contact at the first round, and every JOIN_REQ_FULL_EVERY rounds while no coordinator challenged it', () => {
    assert.deepEqual(joinRequestTargets(contacts, 0, null), contacts);
    assert.deepEqual(joinRequestTargets(contacts, 0, 'm7:1/x'), contacts);
    assert.deepEqual(joinRequestTargets(contacts, JOIN_REQ_FULL_EVERY, null), contacts);
  });

  it('asks only the coordinator whose challenge it answered', () => {
    assert.deepEqual(joinRequestTargets(contacts, 3, 'm7:1/x'), ['m7:1/x']);
    assert.deepEqual(joinRequestTargets(contacts, JOIN_REQ_FULL_EVERY, 'm7:1/x'), ['m7:1/x']);
  });

  it('unchallenged, between full rounds asks the most senior contact and a few others, reaching every contact in turn', () => {
    const seen = new Set<string>();
    for (let r = 1; r < 3 * JOIN_REQ_FULL_EVERY; r++) {
      if (r % JOIN_REQ_FULL_EVERY === 0) continue;
      const t = joinRequestTargets(contacts, r, null);
      assert.ok(t.length <= JOIN_REQ_SPREAD + 1, `round ${r}: ${t.length} targets`);
      assert.ok(t.includes('m0:1/x'), `round ${r}`);
      for (const c of t) seen.add(c);
    }
    assert.equal(seen.size, contacts.length);
  });

  it('asks all of a short list every round while unchallenged', () => {
    assert.deepEqual(joinRequestTargets(contacts.slice(0, 3), 5, null), contacts.slice(0, 3));
  });
});

describe('JoinAdmission.sendDue', () => {
  it('sends an open challenge at once, then not again within the gap', () => {
    const a = admission();
    a.challenge('j:1/1', 0);
    assert.equal(a.sendDue('j:1/1', 0, 100), true);
    assert.equal(a.sendDue('j:1/1', 99, 100), false, 'a forwarded copy of the request, too soon');
    assert.equal(a.sendDue('j:1/1', 100, 100), true);
    assert.equal(a.sendDue('k:1/1', 500, 100), false, 'no open challenge');
  });
});
