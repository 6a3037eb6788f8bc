import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../src/api/node.js';
import { decodeDirectory, encodeDirectory, type DirectoryMessage } from '../../../src/api/directory.js';
import { MemoryHistory } from '../../../src/core/history.js';
import { SimWorld } from '../../../src/sim/sim-world.js';
import { FAST_STACK } from '../../helpers/sim-cluster.js';
import '../../../src/layers/index.js';

/** Node a:1 (seed: x:1) alone in group g; raw peers speak the directory protocol by hand. */
function setup() {
  const world = new SimWorld(7);
  const node = new HorusNode(world.addNode('a:1', '1').env, new MemoryHistory(), ['x:1']);
  const group = node.joinNow('g', { contacts: [], stack: FAST_STACK, mergeProbeMs: 0 });
  const inbox = new Map<string, DirectoryMessage[]>();
  const raw = (ep: string) => {
    const r = world.addNode(ep, '1');
    const got: DirectoryMessage[] = [];
    inbox.set(ep, got);
    r.env.transport.onFrame((_from, f) => {
      const m = decodeDirectory(Buffer.from(f));
      if (m) got.push(m);
    });
    return (m: DirectoryMessage): void => r.env.transport.send('a:1/1', encodeDirectory(m));
  };
  const dropped = (): number => node.metrics.snapshot().counters['horus_directory_dropped_total'] ?? 0;
  return { world, node, group, raw, inbox, dropped };
}

describe('merge hints and probe answers are checked', () => {
  it('drops a merge hint from a node that is neither a seed nor a member, and asks nobody', () => {
    const s = setup();
    s.world.runFor(100);
    const stranger = s.raw('s:1');
    s.raw('y:1');
    stranger({ t: 'merge', group: 'g', members: ['y:1/1'] });
    s.world.runFor(100);
    assert.equal(s.dropped(), 1);
    assert.deepEqual(s.inbox.get('y:1'), []);
  });

  it('a seed’s hint makes the node ask the named nodes itself, at most once per 250 ms', () => {
    const s = setup();
    s.world.runFor(100);
    const seed = s.raw('x:1');
    s.raw('y:1');
    for (let i = 0; i < 20; i++) seed({ t: 'merge', group: 'g', members: ['y:1/1'] });
    s.world.runFor(100);
    assert.equal(s.inbox.get('y:1')!.filter((m) => m.t === 'lookup').length, 1);
    assert.equal(s.dropped(), 19);
    s.world.runFor(300);
    seed({ t: 'merge', group: 'g', members: ['y:1/1'] });
    s.world.runFor(100);
    assert.equal(s.inbox.get('y:1')!.filter((m) => m.t === 'lookup').length, 2);
  });

  it('merges only on a first-hand answer: a node describing a group it is not in is not believed', () => {
    const s = setup();
    s.world.runFor(100);
    const seed = s.raw('x:1');
    const y = s.raw('y:1');
    const merged: unknown[] = [];
    s.group.on('merged', (ev) => merged.push(ev));
    seed({ t: 'merge', group: 'g', members: ['y:1/1'] });
    s.world.runFor(50);
    const ask = s.inbox.get('y:1')!.find((m) => m.t === 'lookup');
    assert.ok(ask && ask.t === 'lookup');
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['p:1/1', 'q:1/1', 'r:1/1'], live: true } });
    s.world.runFor(100);
    assert.deepEqual(s.group.view.members, ['a:1/1'], 'still in its own group');
    assert.deepEqual(s.group.blockedReasons, []);
    // The same claim first-hand (y is in it): the node leaves its one-member group to join y's.
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['y:1/1', 'q:1/1'], live: true } });
    s.world.runFor(10);
    assert.deepEqual(s.group.blockedReasons, ['joining']);
    assert.equal(s.group.localId, 'a:1/1~2');
  });

  it('does not merge into a group that is not live (blocked, e.g. a minority), nor into one sharing a node with ours', () => {
    const s = setup();
    s.world.runFor(100);
    const seed = s.raw('x:1');
    const y = s.raw('y:1');
    seed({ t: 'merge', group: 'g', members: ['y:1/1'] });
    s.world.runFor(50);
    const ask = s.inbox.get('y:1')!.find((m) => m.t === 'lookup');
    assert.ok(ask && ask.t === 'lookup');
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['y:1/1', 'q:1/1'], live: false } });
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['y:1/1', 'a:1/1'], live: true } });
    s.world.runFor(100);
    assert.equal(s.group.localId, 'a:1/1');
    assert.deepEqual(s.group.blockedReasons, []);
  });
});
