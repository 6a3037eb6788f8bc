import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bodySchemas, G, saneMembers, sharedBodySchemas } from '../../../../src/layers/gms/messages.js';

const schemas = bodySchemas({ maxMembers: 4, maxPendingGbcasts: 2 });
const ok = (t: G, body: unknown): boolean => schemas[t].safeParse(body).success;

describe('GMS body schemas', () => {
  it('accept what GMS sends', () => {
    const a = { n: 3, coord: 'a:1/1' };
    const p = { members: ['a:1/1', 'b:1/1'], cut: [['a:1/1', 5]], holders: [['a:1/1', 'b:1/1']], gb: [['a:1/1:1', Buffer.from('x')]] };
    assert.ok(ok(G.FlushOk, { view: 2, a, digest: [['a:1/1', 0]], accepted: { a, p }, hasState: true }), 'flush reply');
    assert.ok(ok(G.FlushOk, { view: 1, a, digest: [], accepted: null, installed: { id: 2, members: ['a:1/1'] } }), 'installed variant');
    assert.ok(ok(G.Cut, { view: 2, a, p }), 'cut');
    assert.ok(ok(G.Install, { view: { id: 3, members: ['a:1/1'] }, stateFrom: null }), 'install');
    assert.ok(ok(G.Gbcast, { key: 'a:1/1:7', bytes: new Uint8Array(3) }), 'gbcast');
  });

  it('reject wrong types, numbers past u32, negative or fractional numbers, and arrays over the cap', () => {
    const a = { n: 3, coord: 'a:1/1' };
    assert.equal(ok(G.FlushOk, { view: 2, a, digest: 5, accepted: null }), false, 'digest not an array');
    assert.equal(ok(G.FlushStart, { view: 2 ** 32, a }), false, 'view past u32');
    assert.equal(ok(G.FlushNack, { n: -1 }), false, 'negative');
    assert.equal(ok(G.StateAck, { view: 1, next: 1.5 }), false, 'fractional');
    assert.equal(ok(G.Install, { view: { id: 3, members: ['a', 'b', 'c', 'd', 'e'] }, stateFrom: null }), false, 'over maxMembers');
    assert.equal(ok(G.Cut, { view: 2, a, p: { members: 'all', cut: [], holders: [] } }), false, 'members not a list');
    assert.equal(ok(G.Gbcast, { key: 'a:1/1:7', bytes: 'text' }), false, 'bytes not bytes');
    assert.equal(ok(G.LeaveReq, { member: 'x'.repeat(300) }), false, 'id too long');
    assert.equal(ok(G.NotMember, null), false, 'no body');
  });

  it('saneMembers: no duplicates, one member per node, not empty, within the cap', () => {
    assert.equal(saneMembers(['a:1/1', 'b:1/1'], 4), true);
    assert.equal(saneMembers(['a:1/1', 'a:1/1'], 4), false);
    assert.equal(saneMembers(['a:1/1', 'a:1/1~2'], 4), false);
    assert.equal(saneMembers([], 4), false);
    assert.equal(saneMembers(['a', 'b', 'c', 'd', 'e'], 4), false);
  });
});

describe('sharedBodySchemas', () => {
  it('gives every GMS with the same limits one schema set (compiled once), and other limits their own, which enforce them', () => {
    const a = sharedBodySchemas({ maxMembers: 4, maxPendingGbcasts: 2 });
    assert.equal(sharedBodySchemas({ maxMembers: 4, maxPendingGbcasts: 2 }), a);
    const b = sharedBodySchemas({ maxMembers: 2, maxPendingGbcasts: 2 });
    assert.notEqual(b, a);
    const three = { id: 3, members: ['a:1/1', 'b:1/1', 'c:1/1'] };
    assert.ok(a[G.Install].safeParse({ view: three, stateFrom: null }).success);
    assert.ok(!b[G.Install].safeParse({ view: three, stateFrom: null }).success, 'the smaller limit holds');
  });
});
