// The `send` half of a group's ACL: a member it does not list gets ERR_ACCESS_DENIED when it sends;
// one that sends anyway (its own node does not check) is not delivered anywhere, and the drop is
// counted; the total order goes on past its messages; a change by gbcast lets it send from then on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Group } from '../../../src/api/group.js';
import type { HorusError } from '../../../src/core/errors.js';
import type { Acl } from '../../../src/security/acl.js';
import { SimCluster } from '../../helpers/sim-cluster.js';
import { gmsDrops } from '../../helpers/gms-forge.js';

const SENDERS: Acl = { send: [{ name: 'a:1' }, { name: 'b:1' }] };

/** a, b, c join `g` (default dynamic stack, TOTAL included) with `acl`; `liar` joins with no ACL of its own. */
function setup(acl: Acl, liar?: string): { c: SimCluster; g: Map<string, Group>; got: Map<string, string[]> } {
  const c = new SimCluster(11);
  const g = new Map<string, Group>();
  const got = new Map<string, string[]>();
  for (const e of ['a:1', 'b:1', 'c:1', ...(liar ? [liar] : [])]) {
    const grp = c.start(e).joinNow('g', { contacts: e === 'a:1' ? [] : ['a:1'], encrypt: true, ...(e === liar ? {} : { acl }) });
    grp.ready.catch(() => {});
    const list: string[] = [];
    grp.on('message', (d) => list.push(String(d.payload)));
    g.set(e, grp);
    got.set(e, list);
    c.run(800);
  }
  c.run(1000);
  return { c, g, got };
}

describe('ACL send list', () => {
  it('a member not on the send list gets ERR_ACCESS_DENIED at send; the members listed send as before', async () => {
    const { c, g, got } = setup(SENDERS);
    assert.equal(g.get('a:1')!.view.members.length, 3);
    const refused: (string | undefined)[] = [];
    const note = (e: HorusError): void => void refused.push(e.code);
    await g.get('c:1')!.abcast('from c').catch(note);
    await g.get('c:1')!.fbcastMany(['c1', 'c2']).catch(note);
    await g.get('c:1')!.setAcl({}).catch(note);
    assert.deepEqual(refused, ['ERR_ACCESS_DENIED', 'ERR_ACCESS_DENIED', 'ERR_ACCESS_DENIED']);
    await g.get('a:1')!.abcast('from a');
    await g.get('b:1')!.fbcast('from b');
    c.run(1000);
    for (const e of ['a:1', 'b:1', 'c:1']) assert.deepEqual(got.get(e)!.sort(), ['from a', 'from b'], e);
  });

  it('a member that sends anyway is delivered nowhere, counted at each receiver, and the total order goes on', () => {
    const { c, g, got } = setup(SENDERS, 'x:1');
    const x = g.get('x:1')!;
    assert.equal(x.view.members.length, 4, 'x joined (no join list)');
    const drops = ['a:1', 'b:1', 'c:1'].map((e) => gmsDrops(c.nodes.get(e)!));
    for (let i = 0; i < 5; i++) {
      void g.get('a:1')!.abcast(`a${i}`);
      void x.abcast(`x${i}`);
      void g.get('b:1')!.abcast(`b${i}`);
    }
    c.run(2000);
    const a = got.get('a:1')!;
    assert.equal(a.length, 10, `a delivered ${a.join(' ')}`);
    assert.ok(!a.some((m) => m.startsWith('x')));
    for (const e of ['b:1', 'c:1']) assert.deepEqual(got.get(e), a, `${e} delivers what a does, in the same order`);
    ['a:1', 'b:1', 'c:1'].forEach((e, i) => assert.ok(gmsDrops(c.nodes.get(e)!) >= drops[i]! + 5, `${e} counted the drops`));
  });

  it('an ACL change by gbcast lets a member send from then on', async () => {
    const { c, g, got } = setup(SENDERS);
    await g.get('a:1')!.setAcl({ send: [...SENDERS.send!, { name: 'c:1' }] });
    c.run(1500);
    await g.get('c:1')!.abcast('c may send');
    c.run(1000);
    for (const e of ['a:1', 'b:1', 'c:1']) assert.deepEqual(got.get(e), ['c may send'], e);
  });
});
