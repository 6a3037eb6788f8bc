import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inRoleLie, type Scope } from '../../../src/sim/adversary.js';

// GMS message kinds (src/layers/gms/messages.ts).
const INSTALL = 8;
const NOT_MEMBER = 10;

const liar = 'n1:7000~1';
const target = 'n2:7000~1';
const other = 'n3:7000~1';

function scope(over: Partial<Scope> = {}): Scope {
  return {
    self: liar,
    target,
    targetView: 5,
    members: [liar, target, other],
    endpoints: ['n1:7000', 'n2:7000', 'n3:7000'],
    group: 'g',
    insider: true,
    targetMembers: [liar, target, other],
    ...over,
  };
}

describe('the member adversary leaves out lies in roles it holds', () => {
  it('a fellow member saying a later view left the target out is not sent; an older view, or from outside the view, is', () => {
    assert.notEqual(inRoleLie(NOT_MEMBER, { view: 6 }, scope()), null);
    assert.equal(inRoleLie(NOT_MEMBER, { view: 5 }, scope()), null);
    assert.equal(inRoleLie(NOT_MEMBER, { view: 6 }, scope({ targetMembers: [target, other] })), null);
    // Its node under a later incarnation still speaks for the member it replaced.
    assert.notEqual(inRoleLie(NOT_MEMBER, { view: 9 }, scope({ self: 'n1:7000~2' })), null);
  });

  it('a first view for a joiner from the coordinator or a member it lists is not sent; from anyone else, it is', () => {
    const joiner = scope({ targetMembers: [] });
    assert.notEqual(inRoleLie(INSTALL, { view: { id: 2 ** 32 - 1, members: [other, target] } }, joiner), null, 'the liar coordinates');
    assert.notEqual(inRoleLie(INSTALL, { view: { id: 3, members: [target, liar] } }, scope({ targetMembers: [], members: [other, liar] })), null);
    assert.equal(inRoleLie(INSTALL, { view: { id: 3, members: [other, target] } }, scope({ targetMembers: [], members: [other, liar] })), null);
  });

  it('a forged next view for a member is still sent (members recover from it)', () => {
    assert.equal(inRoleLie(INSTALL, { view: { id: 6, members: [liar, target] } }, scope()), null);
    assert.equal(inRoleLie(INSTALL, { view: { id: 7, members: [liar, target] } }, scope()), null);
  });

  it('wrong shapes are sent as drawn', () => {
    assert.equal(inRoleLie(INSTALL, { view: 'x' }, scope()), null);
    assert.equal(inRoleLie(NOT_MEMBER, null, scope()), null);
    assert.equal(inRoleLie(NOT_MEMBER, { view: '6' }, scope()), null);
  });
});
