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

  it('merges only on a first-hand answer that says the senior stays: a node describing a group it is not in is not believed', () => {
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
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['p:1/1', 'q:1/1', 'r:1/1'], live: true }, senior: true });
    s.world.runFor(100);
    assert.deepEqual(s.group.view.members, ['a:1/1'], 'still in its own group');
    assert.deepEqual(s.group.blockedReasons, []);
    // First-hand, but without y's word that it stays in its senior group: no move either.
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['y:1/1', 'q:1/1'], live: true } });
    s.world.runFor(10);
    assert.equal(s.group.localId, 'a:1/1');
    // The same claim first-hand with that word: the node leaves its one-member group to join y's.
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['y:1/1', 'q:1/1'], live: true }, senior: true });
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
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['y:1/1', 'q:1/1'], live: false }, senior: true });
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['y:1/1', 'a:1/1'], live: true }, senior: true });
    s.world.runFor(100);
    assert.equal(s.group.localId, 'a:1/1');
    assert.deepEqual(s.group.blockedReasons, []);
  });

  it('a member that told a junior member its group is senior stays in it: it does not merge away meanwhile', () => {
    const s = setup();
    s.world.runFor(100);
    const seed = s.raw('x:1');
    const y = s.raw('y:1');
    // y:1/1, alone in its group of the same name, probes a: a (also alone, smaller coordinator id) is senior.
    y({ t: 'lookup', group: 'g', req: 5, view: ['y:1/1'] });
    s.world.runFor(20);
    const told = s.inbox.get('y:1')!.find((m) => m.t === 'info');
    assert.ok(told && told.t === 'info' && told.senior === true);
    // Now a hears of a bigger group (its view changed meanwhile, say) that claims seniority: a stays.
    seed({ t: 'merge', group: 'g', members: ['y:1/1'] });
    s.world.runFor(20);
    const ask = s.inbox.get('y:1')!.find((m) => m.t === 'lookup');
    assert.ok(ask && ask.t === 'lookup');
    assert.deepEqual(ask.view, ['a:1/1'], 'a probe shows the asker’s view');
    y({ t: 'info', req: ask.req, group: 'g', info: { group: 'g', viewId: 9, members: ['y:1/1', 'q:1/1'], live: true }, senior: true });
    s.world.runFor(20);
    assert.equal(s.group.localId, 'a:1/1');
    // A probe from a node that is not in the view it shows gets no word of seniority.
    y({ t: 'lookup', group: 'g', req: 6, view: ['z:1/1'] });
    s.world.runFor(20);
    const second = s.inbox
      .get('y:1')!
      .filter((m) => m.t === 'info')
      .find((m) => m.t === 'info' && m.req === 6);
    assert.ok(second && second.t === 'info' && second.senior === undefined);
  });
});
