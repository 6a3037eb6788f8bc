import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Gbcasts } from '../../../../src/layers/gms/gbcast.js';
import { saneProposal, type Hearing } from '../../../../src/layers/gms/sender-rules.js';

describe('Gbcasts (coordinator side)', () => {
  it('forgets the gbcasts of a sender that left the view, so the next proposal is one the members accept', () => {
    const g = new Gbcasts();
    // Handed in while both were members; `gone` is left out of the view before any view change delivered it.
    g.accept('a:1/1:1', Buffer.from('from a'));
    g.accept('gone:1/1:1', Buffer.from('from gone'));
    const members = ['a:1/1', 'b:1/1'];
    const hearing = { view: { id: 8, members }, maxMembers: 64 } as unknown as Hearing;
    const before = { members, cut: [], holders: [], gb: g.undelivered() };
    assert.equal(saneProposal(hearing, before), false, 'members refuse a gbcast from outside their view: the flush would never finish');
    g.forgetAllBut(members);
    assert.deepEqual(
      g.undelivered().map(([k]) => k),
      ['a:1/1:1'],
    );
    assert.equal(saneProposal(hearing, { members, cut: [], holders: [], gb: g.undelivered() }), true);
    assert.equal(g.pendingCount, 1, 'nothing of it is held either');
  });
});
