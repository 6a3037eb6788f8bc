import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster } from '../../../helpers/sim-cluster.js';
import { G } from '../../../helpers/gms-forge.js';
import { checkVirtualSynchrony } from '../../../../src/sim/checkers/vsync.js';
import type { Group } from '../../../../src/api/group.js';
import { HorusNode } from '../../../../src/api/node.js';
import type { Env } from '../../../../src/core/env.js';

/** `env` whose transport reports every proven identity as psk's (a secret holder may claim any id). */
function pskIdentities(env: Env): Env {
  const t = Object.create(env.transport) as Env['transport'];
  t.peerIdentity = (node) => {
    const id = env.transport.peerIdentity?.(node) ?? null;
    return id === null ? null : { ...id, mode: 'psk' };
  };
  const e = Object.create(env) as Env;
  Object.defineProperty(e, 'transport', { value: t });
  return e;
}

/** Control messages of kind `t` that reached a GMS, by receiving member (the 'gms in' trace lines). */
function received(c: SimCluster, t: G): string[] {
  return c.world
    .logLines()
    .filter((l) => l.includes(' TRACE gms in ') && l.includes(`"t":${t},`))
    .map((l) => /"member":"([^"]+)"/.exec(l)?.[1] ?? '?');
}

/** Three members of 'g' (encrypted: the request must carry the joiner's key-agreement key), then `joiner` asks through the first. */
function joinAfterThree(joiner: string, keyless: boolean, psk = false): { c: SimCluster; groups: Group[]; g: Group } {
  const c = new SimCluster(5, { verbose: true });
  const eps = ['n1:1', 'n2:1', 'n3:1'];
  const groups = eps.map((e, i) => {
    if (psk && i === 0) c.nodes.set(e, new HorusNode(pskIdentities(c.world.addNode(e, '1').env), c.history, []));
    else c.start(e);
    const g = c.join(e, 'g', i === 0 ? [] : [eps[0]!], undefined, { encrypt: true });
    c.run(i === 0 ? 50 : 500);
    return g;
  });
  c.run(2000);
  c.start(joiner);
  if (keyless) c.world.withoutIdentity(joiner);
  const g = c.join(joiner, 'g', [eps[0]!, eps[1]!], undefined, { encrypt: true });
  c.run(3000);
  return { c, groups, g };
}

describe('GMS: a join heard on the joiner’s own authenticated connection', () => {
  it('is admitted without a challenge round trip, and the group re-keys for the joiner as before', () => {
    const { c, groups, g } = joinAfterThree('n4:1', false);
    assert.deepEqual(received(c, G.JoinChallenge), [], 'no challenge was sent');
    assert.deepEqual(received(c, G.JoinAnswer), [], 'so none was answered');
    assert.ok(received(c, G.JoinReq).length > 0, 'the joiner asked');
    for (const x of [...groups, g]) assert.deepEqual(x.view.members, [...groups.map((y) => y.localId), g.localId]);
    assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g').items, []);
  });

  it('is still challenged when the transport proved no identity for it (a claimed id is not enough)', () => {
    const { c } = joinAfterThree('n5:1', true);
    assert.ok(received(c, G.JoinChallenge).length > 0, 'the coordinator challenged the joiner');
  });

  it('is still challenged in psk, where a holder of the secret may claim any id (the challenge goes to that id’s endpoint)', () => {
    const { c, groups, g } = joinAfterThree('n6:1', false, true);
    assert.ok(received(c, G.JoinChallenge).length > 0, 'the coordinator challenged the joiner');
    assert.deepEqual(groups[0]!.view.members, [...groups.map((y) => y.localId), g.localId], 'and let it in once it answered');
  });
});
