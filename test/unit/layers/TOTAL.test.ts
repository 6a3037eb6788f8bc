import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { SimCluster, FAST_STACK } from '../../helpers/sim-cluster.js';
import { stubLink } from '../../helpers/layer-link.js';
import { checkOrder } from '../../../src/sim/checkers/order.js';
import { checkVirtualSynchrony } from '../../../src/sim/checkers/vsync.js';
import type { Group } from '../../../src/api/group.js';
import type { Env } from '../../../src/core/env.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message } from '../../../src/core/message.js';
import { TOTAL, TOTAL_HEADER } from '../../../src/layers/TOTAL.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';

describe('TOTAL', () => {
  it('delivers concurrent abcasts from every member in one order everywhere, under loss', () => {
    const s = simGroup(4, 'TOTAL:CAUSAL:STABLE:FC:FRAG:NAK:COM', { loss: 0.05, seed: 3 });
    s.groups.forEach((g, i) => {
      for (let k = 0; k < 200; k++) void g.abcast(`${i}:${k}`);
    });
    s.world.runFor(10_000);
    const orders = s.delivered.map((d) => d.map((x) => x.payload as string).join(','));
    assert.equal(new Set(orders).size, 1, 'one order');
    assert.equal(s.delivered[0]!.length, 800);
    assert.deepEqual(checkOrder(s.history.events, 'g').items, []);
  });

  it('keeps abcasts causal (replies after what they answer) under loss and reordering, with CAUSAL letting them pass', () => {
    const s = simGroup(5, 'TOTAL:CAUSAL:STABLE:FC:FRAG:NAK:COM', { loss: 0.05, fifo: false, jitterMs: 5, seed: 11 });
    s.groups.forEach((g, i) => {
      let n = 0;
      // Each member answers some of what it delivers: chains of abcasts, each sent after what it answers.
      g.on('message', () => {
        if (n++ < 60 && n % 3 === i % 3) void g.abcast({ from: i, n });
      });
      void g.abcast({ from: i, n: 0 });
    });
    s.world.runFor(10_000);
    assert.deepEqual(checkOrder(s.history.events, 'g').items, []);
    const orders = s.delivered.map((d) => JSON.stringify(d.map((x) => x.payload)));
    assert.equal(new Set(orders).size, 1, 'one order everywhere');
    assert.ok(s.delivered[0]!.length > 50, `replies were sent (${s.delivered[0]!.length} delivered)`);
  });

  it('every member sends abcasts while the sequencer crashes, then its successor: survivors agree and lose none of their own', () => {
    const c = new SimCluster(21, { loss: 0.02 });
    const stack = ['TOTAL', 'CAUSAL', ...(FAST_STACK as object[])] as never;
    const eps = ['s1:1', 's2:1', 's3:1', 's4:1', 's5:1', 's6:1'];
    const groups: Group[] = [];
    eps.forEach((e, i) => {
      c.start(e);
      groups.push(c.nodes.get(e)!.joinNow('g', { contacts: i === 0 ? [] : eps.slice(0, i), stack }));
      c.run(100);
    });
    c.run(2000);
    const sendAll = (k: number): void => groups.forEach((g, i) => void g.abcast(`${i}:${k}`));
    for (let k = 0; k < 50; k++) {
      sendAll(k);
      c.run(5);
    }
    c.world.crash(eps[0]!); // the sequencer
    for (let k = 50; k < 100; k++) {
      sendAll(k);
      c.run(5);
    }
    c.run(150);
    c.world.crash(eps[1]!); // its successor, before or during the view change
    for (let k = 100; k < 150; k++) {
      sendAll(k);
      c.run(5);
    }
    c.run(8000);
    const survivors = groups.slice(2);
    const v = survivors[0]!.view;
    assert.equal(v.members.length, 4);
    for (const g of survivors) assert.deepEqual(g.view, v);
    assert.deepEqual(checkOrder(c.history.events, 'g').items, []);
    assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g').items, []);
    // No survivor lost one of its own messages.
    for (const [i, g] of survivors.entries()) {
      const mine = c.history.events.filter((e) => e.k === 'deliver' && e.node === g.localId && e.sender === g.localId).length;
      const sent = c.history.events.filter((e) => e.k === 'send' && e.node === g.localId).length;
      assert.equal(mine, sent, `survivor ${i + 2} delivered all it sent`);
    }
  });
});

/** TOTAL alone as `me`, in a view where `seq` orders (only what a test hands it), recording what it delivers. */
function totalAlone(): { total: TOTAL; delivered: string[]; up: (src: string, seen: number, tag: string) => void } {
  const ctx = { env: {} as Env, group: 'g', localId: 'me:1/1', log: silentLogger, metrics: new MemoryMetrics() };
  const total = new TOTAL(ctx, {});
  const delivered: string[] = [];
  const record = (m: Message): void => void delivered.push(m.payload.toString());
  total.above = stubLink({ up: record, upBatch: (b) => b.forEach(record) });
  total.below = stubLink();
  total.upEvent({ type: 'VIEW', view: { group: 'g', id: 1, members: ['seq:1/1', 'a:1/1', 'me:1/1'] } });
  const up = (src: string, seen: number, tag: string): void => {
    const m = new Message(null, Buffer.from(tag));
    m.src = src;
    m.push(TOTAL_HEADER, seen);
    total.up(m);
  };
  return { total, delivered, up };
}

describe('TOTAL at the end of a view (unit)', () => {
  /** The sequencer's order, as it comes up: deliver the next `runs` (flat [index, count, ...]). */
  const order = (total: TOTAL, runs: number[]): void => {
    const m = new Message(null, Buffer.alloc(0));
    m.src = 'seq:1/1';
    m.push(TOTAL_HEADER, { view: 1, runs });
    total.up(m);
  };

  it('delivers what was ordered, then the rest by how much of the order their senders had delivered; drops what answers order not delivered here, with its sender’s later ones', () => {
    const { total, delivered, up } = totalAlone();
    up('seq:1/1', 0, 's1');
    order(total, [0, 1]);
    assert.deepEqual(delivered, ['s1']);
    up('a:1/1', 1, 'a (after s1)'); // a had delivered s1
    up('me:1/1', 0, 'me (before anything)'); // ours, sent before s1 was delivered
    up('seq:1/1', 2, 'seq (after an order we never got)'); // the sequencer had delivered 2: one we lack
    up('seq:1/1', 2, 'seq (its next)');
    total.upEvent({ type: 'VIEW', view: { group: 'g', id: 2, members: ['a:1/1', 'me:1/1'] } });
    assert.deepEqual(delivered, ['s1', 'me (before anything)', 'a (after s1)']);
  });

  it('breaks equal positions by seniority, and keeps a sender’s own order even when its positions fall', () => {
    const { total, delivered, up } = totalAlone();
    up('seq:1/1', 0, 's1');
    up('seq:1/1', 0, 's2');
    order(total, [0, 2]);
    up('me:1/1', 2, 'me-1');
    up('a:1/1', 2, 'a-1');
    up('a:1/1', 1, 'a-2 (a forged smaller position)');
    total.upEvent({ type: 'VIEW', view: { group: 'g', id: 2, members: ['a:1/1', 'me:1/1'] } });
    assert.deepEqual(delivered, ['s1', 's2', 'a-1', 'a-2 (a forged smaller position)', 'me-1']);
  });
});

describe('TOTAL latency', () => {
  it('a member orders a received batch with one announcement, sent with the batch that follows at once', () => {
    const s = simGroup(3, 'TOTAL:CAUSAL:SAFE:STABLE:FC:FRAG:NAK:COM', { seed: 6 });
    s.world.runFor(500);
    const ordered = (): number => s.nodes[0]!.metrics.snapshot().counters['horus_total_ordered_total'] ?? 0;
    const before = ordered();
    for (let i = 0; i < 50; i++) void s.groups[1]!.abcast(`a${i}`);
    for (let i = 0; i < 50; i++) void s.groups[2]!.abcast(`b${i}`);
    s.world.runFor(50);
    assert.equal(ordered() - before, 100);
    const orders = s.delivered.map((d) => d.map((x) => x.payload as string).join(','));
    assert.equal(new Set(orders).size, 1, 'one order everywhere');
  });
});
