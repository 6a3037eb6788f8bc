import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { stubLink } from '../../helpers/layer-link.js';
import { checkOrder } from '../../../src/sim/checkers/order.js';
import { CAUSAL, CAUSAL_HEADER } from '../../../src/layers/CAUSAL.js';
import { Message, MsgFlag, OrderCode } from '../../../src/core/message.js';
import type { Env } from '../../../src/core/env.js';
import { silentLogger } from '../../../src/core/logger.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';

/** CAUSAL alone as member `me` of a fixed view, between a bottom that records sends and a top that records deliveries. */
function causalAlone(
  me: string,
  members: string[],
  holdReads = true,
): { layer: CAUSAL; sent: Message[]; delivered: Message[]; batches: string[][]; readHolds: [string, boolean][] } {
  // The transport's read holds as asked, in order.
  const readHolds: [string, boolean][] = [];
  const transport = { holdReads: (peer: string, _holder: object, hold: boolean) => readHolds.push([peer, hold]) };
  const env = { transport, now: () => 0 } as unknown as Env;
  const layer = new CAUSAL({ env, group: 'g', localId: me, log: silentLogger, metrics: new MemoryMetrics() }, { maxHeldBytesPerSender: 1 << 20, holdReads });
  const sent: Message[] = [];
  const delivered: Message[] = [];
  // The payloads of each batch passed up, in order.
  const batches: string[][] = [];
  layer.above = stubLink({
    up: (m) => delivered.push(m),
    upBatch: (b) => {
      delivered.push(...b);
      batches.push(b.map((m) => m.payload.toString()));
    },
  });
  layer.below = stubLink({ down: (m) => sent.push(m), downBatch: (b) => sent.push(...b) });
  layer.downEvent({ type: 'VIEW', view: { group: 'g', id: 1, members } });
  return { layer, sent, delivered, batches, readHolds };
}
/** A causal message from `src` naming `deps`, its payload `src` followed by the deps (to tell them apart on delivery). */
const from = (src: string, deps: number[]): Message => {
  const m = new Message(null, Buffer.from(`${src}${deps.join('')}`));
  m.src = src;
  m.push(CAUSAL_HEADER, deps);
  return m;
};
/** What a sent message names: its header's entries, none when it is flagged causal instead, undefined when it is not causal. */
const named = (m: Message): readonly number[] | undefined => m.peek(CAUSAL_HEADER) ?? (m.flags & MsgFlag.Causal ? [] : undefined);
/** A causal message from `src` that names nothing, as senders send it: flagged, without a header. */
const flagged = (src: string): Message => {
  const m = new Message(null, Buffer.from(src));
  m.src = src;
  m.flags |= MsgFlag.Causal;
  return m;
};
const causal = (): Message => {
  const m = new Message(null, Buffer.from('x'));
  m.order = OrderCode.Causal;
  return m;
};

describe('CAUSAL', () => {
  it('sends only the entries that changed since its previous causal message: none for a sender streaming alone', () => {
    const a = causalAlone('a', ['a', 'b', 'c']);
    for (let i = 0; i < 3; i++) a.layer.down(causal());
    assert.deepEqual(a.sent.map(named), [[], [], []]);
    assert.ok(
      a.sent.every((m) => m.peek(CAUSAL_HEADER) === undefined),
      'a message that names nothing carries the flag, not a header',
    );
    // b's first causal message (no dependencies) arrives and is delivered: a's next message names it, once.
    const fromB = new Message(null, Buffer.from('y'));
    fromB.src = 'b';
    fromB.push(CAUSAL_HEADER, []);
    a.layer.up(fromB);
    assert.equal(a.delivered.length, 1);
    a.layer.down(causal());
    a.layer.down(causal());
    assert.deepEqual(a.sent.slice(3).map(named), [[1, 1], []]);
  });

  it('lets abcasts pass without a header: they neither wait on causal dependencies nor count in the vector', () => {
    const a = causalAlone('a', ['a', 'b', 'c']);
    const abcast = new Message(null, Buffer.from('t'));
    abcast.order = OrderCode.Total;
    a.layer.down(abcast);
    assert.equal(named(a.sent[0]!), undefined, 'no causal header or flag on an abcast');
    // b's cbcast that depends on b's 1st causal message from c is held; c's abcast passes it by.
    const fromB = new Message(null, Buffer.from('b'));
    fromB.src = 'b';
    fromB.push(CAUSAL_HEADER, [2, 1]);
    a.layer.up(fromB);
    const fromC = new Message(null, Buffer.from('c-abcast'));
    fromC.src = 'c';
    a.layer.up(fromC);
    assert.deepEqual(
      a.delivered.map((m) => m.payload.toString()),
      ['c-abcast'],
      "the abcast went up; the cbcast still waits (the abcast did not count as c's causal message)",
    );
    // Our next cbcast names nothing: abcasts are not counted in the vector.
    a.layer.down(causal());
    assert.deepEqual(named(a.sent[1]!), []);
  });

  it("holds a message until the entries it names are delivered, then delivers it and the sender's later ones", () => {
    const c = causalAlone('c', ['a', 'b', 'c']);
    c.layer.up(from('b', [0, 1])); // b delivered a's first before sending: wait for it
    c.layer.up(from('b', [])); // b's second: behind its first
    assert.equal(c.delivered.length, 0);
    c.layer.up(from('a', []));
    assert.deepEqual(
      c.delivered.map((m) => m.payload.toString()),
      ['a', 'b01', 'b'],
    );
  });

  it('counts a message flagged causal as one that names nothing, and drops the flag on what is not a reliable multicast', () => {
    const c = causalAlone('c', ['a', 'b', 'c']);
    c.layer.up(from('b', [0, 2])); // waits for a's second causal message
    c.layer.upBatch([flagged('a'), flagged('a')]);
    assert.deepEqual(
      c.delivered.map((m) => m.payload.toString()),
      ['a', 'a', 'b02'],
    );
    const unicast = flagged('a');
    unicast.dest = 'c';
    unicast.flags = MsgFlag.Causal;
    const unreliable = flagged('a');
    unreliable.flags |= MsgFlag.Unreliable;
    c.layer.upBatch([unicast, unreliable]);
    assert.equal(c.delivered.length, 3, 'neither is delivered');
    c.layer.up(from('b', [0, 3])); // a's third: the dropped ones did not count
    assert.equal(c.delivered.length, 3);
  });

  it('counts flagged messages it passes in place while nothing waits, and drops one from a non-member there', () => {
    const c = causalAlone('c', ['a', 'b', 'c']);
    c.layer.upBatch([flagged('a'), flagged('z'), flagged('a')]);
    assert.deepEqual(c.batches, [['a', 'a']], "the stranger's is dropped, the rest go up in one batch");
    c.layer.upBatch([from('b', [0, 2])]); // a's second: delivered in place, no wait
    assert.deepEqual(
      c.delivered.map((m) => m.payload.toString()),
      ['a', 'a', 'b02'],
    );
    c.layer.upBatch([from('b', [0, 3])]); // a's third has not come: waits
    assert.equal(c.delivered.length, 3);
    c.layer.upBatch([flagged('a')]);
    assert.deepEqual(
      c.delivered.map((m) => m.payload.toString()),
      ['a', 'a', 'b02', 'a', 'b03'],
    );
  });

  it("while a sender's messages wait, passes other senders' frames up whole, and what a message frees right after it", () => {
    const d = causalAlone('d', ['a', 'b', 'c', 'd']);
    d.layer.upBatch([from('b', [0, 1]), from('b', [])]); // wait for a's first
    d.layer.upBatch([from('c', []), from('c', [])]); // c has nothing held and needs nothing: one batch as it came
    d.layer.upBatch([from('a', []), from('a', [2, 3]), from('a', [])]); // a's first frees b's; a's second waits for c's third
    d.layer.upBatch([from('b', [])]); // behind b's held ones? none left: delivered
    d.layer.upBatch([from('c', [])]); // c's third frees a's second, then a's third
    assert.deepEqual(d.batches, [['c', 'c'], ['a', 'b01', 'b'], ['b'], ['c', 'a23', 'a']]);
    // Each went up without our header, an empty one (naming nothing, like the flag) included.
    assert.ok(d.delivered.every((m) => m.peek(CAUSAL_HEADER) === undefined && m.headerCount === 0));
  });

  it('asks the transport to read no more from a sender while its messages wait, and to read it again once they are delivered', () => {
    const c = causalAlone('c', ['a', 'b', 'c']);
    c.layer.upBatch([from('a', [])]); // ready at once: no hold
    assert.deepEqual(c.readHolds, []);
    c.layer.upBatch([from('b', [0, 2]), from('b', [])]); // waits for a's second
    assert.deepEqual(c.readHolds, [['b', true]]);
    c.layer.upBatch([from('b', [])]); // b's third waits behind: asked once only
    assert.deepEqual(c.readHolds, [['b', true]]);
    c.layer.upBatch([from('a', [])]);
    assert.deepEqual(
      c.delivered.map((m) => m.payload.toString()),
      ['a', 'a', 'b02', 'b', 'b'],
    );
    assert.deepEqual(c.readHolds, [
      ['b', true],
      ['b', false],
    ]);
  });

  it('withdraws what it asked of the transport at a view change and when the stack stops, and asks nothing when told not to', () => {
    const c = causalAlone('c', ['a', 'b', 'c']);
    c.layer.up(from('b', [0, 1]));
    c.layer.downEvent({ type: 'VIEW', view: { group: 'g', id: 2, members: ['a', 'b', 'c'] } });
    assert.deepEqual(c.readHolds, [
      ['b', true],
      ['b', false],
    ]);
    c.layer.up(from('a', [1, 1])); // waits on b's first of the new view
    c.layer.stop();
    assert.deepEqual(c.readHolds.slice(2), [
      ['a', true],
      ['a', false],
    ]);
    const quiet = causalAlone('c', ['a', 'b', 'c'], false);
    quiet.layer.up(from('b', [0, 1]));
    assert.deepEqual(quiet.readHolds, []);
    assert.equal(quiet.delivered.length, 0, 'held all the same');
  });

  it("the seed's case: A sends m; B delivers m and sends m'; C delivers m before m' although the network hands it m' first", () => {
    const s = simGroup(3, 'CAUSAL:NAK:COM', { jitterMs: 0, delayMs: 1 });
    const [a, b, c] = s.groups as [(typeof s.groups)[0], (typeof s.groups)[0], (typeof s.groups)[0]];
    // A -> C is slow: m reaches C long after m' does.
    s.world.partition([['m1:1', 'm2:1'], ['m3:1']]);
    b!.on('message', (d) => {
      if ((d.payload as { m: string }).m === 'm') void b!.cbcast({ m: "m'" });
    });
    void a!.cbcast({ m: 'm' });
    s.world.runFor(10);
    s.world.partition([['m1:1'], ['m2:1', 'm3:1']]); // now B (and m') can reach C, A cannot
    s.world.runFor(10);
    assert.deepEqual(
      s.delivered[2]!.map((d) => (d.payload as { m: string }).m),
      [],
      "C holds m' back: it has not got m yet",
    );
    s.world.heal();
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered[2]!.map((d) => (d.payload as { m: string }).m),
      ['m', "m'"],
    );
    assert.deepEqual(checkOrder(s.history.events, 'g').items, []);
    assert.equal(s.nodes[2]!.metrics.snapshot().counters['horus_causal_held_total'], 1, "C counted m' as held");
    assert.equal(s.nodes[1]!.metrics.snapshot().counters['horus_causal_held_total'] ?? 0, 0);
    assert.ok(c);
  });

  it('keeps causal order under loss and reordering with many concurrent senders', () => {
    const s = simGroup(5, 'CAUSAL:STABLE:FC:FRAG:NAK:COM', { loss: 0.05, fifo: false, jitterMs: 5, seed: 9 });
    s.groups.forEach((g, i) => {
      let n = 0;
      g.on('message', () => {
        if (n++ < 40 && n % 3 === i % 3) void g.cbcast({ from: i, n });
      });
      void g.cbcast({ from: i, n: 0 });
    });
    s.world.runFor(10_000);
    assert.deepEqual(checkOrder(s.history.events, 'g').items, []);
    const counts = s.delivered.map((d) => d.length);
    assert.ok(
      counts.every((c) => c === counts[0] && c > 20),
      `all deliver the same number (${counts})`,
    );
  });
});
