import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../src/api/node.js';
import { encodeDirectory, decodeDirectory, FRAME_KIND_DIRECTORY, type DirectoryMessage } from '../../../src/api/directory.js';
import { pack } from '../../../src/codec/payload.js';
import { FRAME_KIND_BATCH } from '../../../src/codec/frame.js';
import { MemoryHistory } from '../../../src/core/history.js';
import { SimWorld } from '../../../src/sim/sim-world.js';
import { FAST_STACK } from '../../helpers/sim-cluster.js';
import '../../../src/layers/index.js';

/** A node `a:1` and a raw peer `x:1` that speaks the directory protocol by hand. */
function setup(limits: ConstructorParameters<typeof HorusNode>[3] = {}) {
  const world = new SimWorld(3);
  const history = new MemoryHistory();
  const node = new HorusNode(world.addNode('a:1', '1').env, history, [], limits);
  const raw = world.addNode('x:1', '1');
  const replies: DirectoryMessage[] = [];
  raw.env.transport.onFrame((_from, f) => {
    const m = decodeDirectory(Buffer.from(f));
    if (m) replies.push(m);
  });
  const send = (frame: Uint8Array): void => raw.env.transport.send('a:1/1', frame);
  const dropped = (): number => node.metrics.snapshot().counters['horus_directory_dropped_total'] ?? 0;
  return { world, node, raw, replies, send, dropped, history };
}

const D = (v: unknown): Buffer => Buffer.concat([Buffer.of(FRAME_KIND_DIRECTORY), pack(v)]);

describe('name service: hostile directory frames', () => {
  it('drops and counts malformed messages (wrong types, huge numbers, too many members, oversized), answers none, crashes nothing', () => {
    const s = setup();
    const bad = [
      Buffer.of(FRAME_KIND_DIRECTORY, 0xc1), // not MessagePack
      D(null),
      D({ t: 'lookup', group: 5, req: 1 }),
      D({ t: 'lookup', group: 'g', req: -1 }),
      D({ t: 'lookup', group: 'g', req: 2 ** 40 }),
      D({ t: 'lookup', group: 'x'.repeat(201), req: 1 }),
      D({ t: 'lookup', group: 'bad\nname', req: 1 }),
      D({ t: 'info', req: 1, group: 'g', info: { group: 'g', viewId: 'one', members: ['m'] } }),
      D({ t: 'info', req: 1, group: 'g', info: { group: 'g', viewId: 1, members: Array.from({ length: 300 }, (_, i) => `m${i}`) } }),
      D({ t: 'listing', req: 1, groups: Array.from({ length: 300 }, (_, i) => ({ group: `g${i}`, viewId: 1, members: ['m'] })) }),
      D({ t: 'list', req: 1, pad: 'x'.repeat(300 * 1024) }),
      D({ t: 'nope', req: 1 }),
    ];
    for (const f of bad) s.send(f);
    s.world.runFor(100);
    assert.equal(s.dropped(), bad.length);
    assert.deepEqual(s.replies, []);
    assert.deepEqual(
      s.history.events.filter((e) => e.k === 'fault'),
      [],
    );
  });

  it('keeps nothing a peer volunteers: unsolicited info and listings are dropped, never learned nor echoed', () => {
    const s = setup();
    s.send(encodeDirectory({ t: 'info', req: 1, group: 'planted', info: { group: 'planted', viewId: 9, members: ['evil:1/1'] } }));
    s.send(encodeDirectory({ t: 'listing', req: 1, groups: Array.from({ length: 200 }, (_, i) => ({ group: `p${i}`, viewId: 1, members: ['evil:1/1'] })) }));
    s.world.runFor(50);
    assert.deepEqual(s.node.groups(), []);
    assert.equal(s.dropped(), 2);
    // Asking for a listing afterwards gets back nothing of what was planted.
    s.send(encodeDirectory({ t: 'list', req: 7 }));
    s.send(encodeDirectory({ t: 'lookup', group: 'planted', req: 8 }));
    s.world.runFor(50);
    assert.deepEqual(s.replies, [
      { t: 'listing', req: 7, groups: [] },
      { t: 'info', req: 8, group: 'planted', info: null },
    ]);
  });

  it('answers one peer within a budget: a flood of lookups is not answered in full', () => {
    const s = setup();
    for (let i = 0; i < 200; i++) s.send(encodeDirectory({ t: 'lookup', group: 'g', req: i }));
    s.world.runFor(50);
    assert.ok(s.replies.length <= 20, `${s.replies.length} answers`);
    assert.ok(s.dropped() >= 180);
    // The budget refills with time.
    s.world.runFor(1000);
    s.send(encodeDirectory({ t: 'lookup', group: 'g', req: 999 }));
    s.world.runFor(50);
    const last = s.replies.at(-1);
    assert.equal(last && 'req' in last ? last.req : undefined, 999);
  });

  it('bounds a listing by count and bytes', async () => {
    const s = setup({ directory: { maxListed: 2 } });
    for (const g of ['g1', 'g2', 'g3']) s.node.joinNow(g, { contacts: [], stack: FAST_STACK });
    s.world.runFor(300);
    s.send(encodeDirectory({ t: 'list', req: 1 }));
    s.world.runFor(50);
    const listing = s.replies[0];
    assert.equal(listing?.t, 'listing');
    assert.equal(listing.t === 'listing' ? listing.groups.length : -1, 2);
  });

  it('takes an answer only from a seed it asked, about the group it asked for', async () => {
    const world = new SimWorld(4);
    const node = new HorusNode(world.addNode('a:1', '1').env, new MemoryHistory(), ['s:1']);
    const seed = world.addNode('s:1', '1');
    const stranger = world.addNode('x:1', '1');
    let req = -1;
    seed.env.transport.onFrame((_from, f) => {
      const m = decodeDirectory(Buffer.from(f));
      if (m?.t === 'lookup') req = m.req;
    });
    const p = node.lookup('orders', 1000);
    world.runFor(5);
    assert.ok(req > 0);
    // A stranger guesses the request id; the seed answers about another group: both ignored.
    stranger.env.transport.send('a:1/1', encodeDirectory({ t: 'info', req, group: 'orders', info: { group: 'orders', viewId: 1, members: ['evil:1/1'] } }));
    seed.env.transport.send('a:1/1', encodeDirectory({ t: 'info', req, group: 'other', info: { group: 'other', viewId: 1, members: ['evil:1/1'] } }));
    world.runFor(5);
    seed.env.transport.send('a:1/1', encodeDirectory({ t: 'info', req, group: 'orders', info: { group: 'orders', viewId: 3, members: ['s:1/1'] } }));
    world.runFor(5);
    assert.deepEqual(await p, { group: 'orders', viewId: 3, members: ['s:1/1'] });
    assert.equal(node.metrics.snapshot().counters['horus_directory_dropped_total'], 2);
    // A late answer to a finished lookup is dropped too.
    seed.env.transport.send('a:1/1', encodeDirectory({ t: 'info', req, group: 'orders', info: null }));
    world.runFor(5);
    assert.equal(node.metrics.snapshot().counters['horus_directory_dropped_total'], 3);
  });
});

describe('node: frames that name no group of ours', () => {
  it('counts frames for unknown groups and malformed group frames, and crashes nothing', () => {
    const s = setup();
    s.node.joinNow('mine', { contacts: [], stack: FAST_STACK });
    s.world.runFor(100);
    const unknown = Buffer.concat([Buffer.of(FRAME_KIND_BATCH, 5), Buffer.from('other'), Buffer.alloc(4)]);
    s.send(unknown);
    s.send(Buffer.of(FRAME_KIND_BATCH, 0xff, 0xff, 0xff)); // name length overruns
    s.send(Buffer.of(0x00));
    s.send(Buffer.alloc(0));
    // A frame for our group whose body is garbage: COM drops it.
    s.send(Buffer.concat([Buffer.of(FRAME_KIND_BATCH, 4), Buffer.from('mine'), Buffer.from([0, 0, 0, 9, 1, 2, 3])]));
    s.world.runFor(100);
    const c = s.node.metrics.snapshot().counters;
    assert.equal(c['horus_node_unknown_group_frames_total'], 1);
    assert.equal(c['horus_node_malformed_frames_total'], 3);
    assert.equal(c['horus_com_malformed_total'], 1);
    assert.deepEqual(
      s.history.events.filter((e) => e.k === 'fault'),
      [],
    );
    assert.equal(s.node.group('mine')!.view.members.length, 1);
  });
});
