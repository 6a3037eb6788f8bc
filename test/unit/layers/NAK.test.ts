import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { NAK } from '../../../src/layers/NAK.js';
import { checkFifoIntegrity } from '../../../src/sim/checkers/fifo-integrity.js';
import { layerOf } from './hostile-peer.js';

describe('NAK', () => {
  it('keeps its own sent messages as slices of the frames they went out in, and retransmits from them under loss', () => {
    const s = simGroup(3, 'NAK:COM', { loss: 0.3, seed: 11 });
    const nak = layerOf(s.groups[0]!, NAK) as unknown as { sent: { length: number }; sentSlices: { length: number } };
    for (let burst = 0; burst < 10; burst++) {
      for (let k = 0; k < 100; k++) void s.groups[0]!.fbcast(Buffer.from(`${burst}:${k}`));
      s.world.runFor(1);
    }
    assert.ok(nak.sentSlices.length > 0, 'sent messages kept as slices');
    assert.ok(nak.sent.length <= 100, `at most the last burst kept as objects (${nak.sent.length})`);
    s.world.runFor(10_000);
    assert.deepEqual(checkFifoIntegrity(s.history.events, 'g', new Set(s.endpoints)).items, []);
    for (const d of s.delivered) assert.equal(d.length, 1000);
    assert.ok((s.nodes[0]!.metrics.snapshot().counters['horus_nak_retransmissions_total'] ?? 0) > 0, 'the sender retransmitted');
  });

  it('repairs 30% frame loss and delivers every sender in FIFO order without duplicates', () => {
    const s = simGroup(4, 'NAK:COM', { loss: 0.3, duplicate: 0.1, fifo: false, jitterMs: 5 });
    s.groups.forEach((g, i) => {
      for (let k = 0; k < 200; k++) void g.fbcast(Buffer.from(`${i}:${k}`));
    });
    s.world.runFor(10_000);
    const v = checkFifoIntegrity(s.history.events, 'g', new Set(s.endpoints));
    assert.deepEqual(v.items, []);
    for (const d of s.delivered) assert.equal(d.length, 800);
    const m = s.nodes[0]!.metrics.snapshot().counters;
    assert.ok(
      (m['horus_nak_retransmissions_total'] ?? 0) > 0 || (s.nodes[1]!.metrics.snapshot().counters['horus_nak_retransmissions_total'] ?? 0) > 0,
      'loss was repaired by retransmission',
    );
  });

  it('sets no timer in a quiet group (everything stable, nothing missing), and wakes for the next message, even a lost one', () => {
    const s = simGroup(3, 'STABLE:NAK:COM');
    const naks = s.groups.map((g) => layerOf(g, NAK) as unknown as { timer: unknown });
    for (let k = 0; k < 10; k++) void s.groups[0]!.fbcast(Buffer.from(`m${k}`));
    s.world.runFor(2000);
    assert.deepEqual(
      naks.map((n) => n.timer),
      [null, null, null],
      'no NAK timer once quiet',
    );
    s.world.setNetwork({ loss: 1 });
    void s.groups[0]!.fbcast(Buffer.from('last'));
    s.world.runFor(5);
    s.world.setNetwork({ loss: 0 });
    s.world.runFor(2000);
    for (const d of s.delivered) assert.equal(d.length, 11, 'the lost last message was repaired');
    assert.deepEqual(
      naks.map((n) => n.timer),
      [null, null, null],
      'quiet again',
    );
  });

  it('recovers a lost last message through the HIGH announcement', () => {
    const s = simGroup(2, 'NAK:COM');
    void s.groups[0]!.fbcast(Buffer.from('a'));
    s.world.runFor(50);
    s.world.setNetwork({ loss: 1 });
    void s.groups[0]!.fbcast(Buffer.from('last'));
    s.world.runFor(5);
    s.world.setNetwork({ loss: 0 });
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered[1]!.map((d) => (d.payload as Buffer).toString()),
      ['a', 'last'],
    );
  });

  it('asks other members when the original sender is unreachable', () => {
    const s = simGroup(3, 'NAK:COM', { seed: 3 });
    // m3 misses m1's first message and gets the second, so it knows of the gap; then m1 is cut
    // off from m3, and only m2 can fill it.
    s.world.partition([['m1:1', 'm2:1'], ['m3:1']]);
    void s.groups[0]!.fbcast(Buffer.from('one'));
    s.world.runFor(20);
    s.world.heal();
    void s.groups[0]!.fbcast(Buffer.from('two'));
    s.world.runFor(1.5);
    s.world.partition([['m1:1'], ['m2:1', 'm3:1']]);
    s.world.runFor(2000);
    assert.deepEqual(
      s.delivered[2]!.filter((d) => d.src === 'm1:1').map((d) => (d.payload as Buffer).toString()),
      ['one', 'two'],
    );
  });

  it("retransmits another sender's message from the bytes it kept, with every header the layers above pushed", () => {
    // As above, in the full stack with total order: m3 gets m1's abcasts, their CAUSAL and TOTAL
    // headers and the sequencer's (m1's) order only from m2's store, which keeps encodings, not objects.
    const s = simGroup(3, 'TOTAL:CAUSAL:SAFE:STABLE:FC:FRAG:NAK:COM', { seed: 3, cutResetMs: 5, reconnectBackoffMaxMs: 0 });
    s.world.partition([['m1:1', 'm2:1'], ['m3:1']]);
    void s.groups[0]!.abcast('one');
    void s.groups[0]!.abcast({ n: 2 });
    s.world.runFor(20); // the cut outlasts cutResetMs: what m1 sent m3 is lost
    s.world.heal();
    void s.groups[0]!.abcast('three');
    s.world.runFor(1.5);
    s.world.partition([['m1:1'], ['m2:1', 'm3:1']]);
    s.world.runFor(3000);
    assert.deepEqual(
      s.delivered[2]!.map((d) => d.payload),
      ['one', { n: 2 }, 'three'],
    );
    assert.ok((s.nodes[1]!.metrics.snapshot().counters['horus_nak_retransmissions_total'] ?? 0) > 0, 'm2 retransmitted for m1');
  });

  it('retransmits a cbcast that names no dependency as causal (its wire flag goes with it): what depends on it waits for it and no longer', () => {
    // m3 gets m1's cbcasts only from m2's store; m2's reply depends on them. Were the flag lost on
    // the way, m3 would count them as FIFO messages and hold the reply forever.
    const s = simGroup(3, 'TOTAL:CAUSAL:SAFE:STABLE:FC:FRAG:NAK:COM', { seed: 3, cutResetMs: 5, reconnectBackoffMaxMs: 0 });
    s.groups[1]!.on('message', (d) => {
      if (d.payload === 'two') void s.groups[1]!.cbcast('reply');
    });
    s.world.partition([['m1:1', 'm2:1'], ['m3:1']]);
    void s.groups[0]!.cbcast('one');
    void s.groups[0]!.cbcast('two');
    s.world.runFor(20); // the cut outlasts cutResetMs: what m1 sent m3 is lost, and m2's reply
    s.world.heal();
    void s.groups[0]!.cbcast('three'); // m3 learns that m1 sent more than it has
    s.world.runFor(1.5);
    s.world.partition([['m1:1'], ['m2:1', 'm3:1']]);
    s.world.runFor(3000);
    const got = s.delivered[2]!.map((d) => d.payload);
    assert.deepEqual(got.slice(0, 2), ['one', 'two']);
    assert.deepEqual([...got.slice(2)].sort(), ['reply', 'three']);
    assert.ok((s.nodes[1]!.metrics.snapshot().counters['horus_nak_retransmissions_total'] ?? 0) > 0, 'm2 retransmitted for m1');
  });

  it('fetches a flush cut from every other member in turn when the named holder and others have died (not from one member over and over)', () => {
    const s = simGroup(5, 'NAK:COM', { seed: 5 });
    // m5 misses m1's two messages; only m2, m3 and m4 get them.
    s.world.partition([['m1:1', 'm2:1', 'm3:1', 'm4:1'], ['m5:1']]);
    void s.groups[0]!.fbcast(Buffer.from('one'));
    void s.groups[0]!.fbcast(Buffer.from('two'));
    s.world.runFor(50);
    s.world.heal();
    // The holder the flush names (m1) dies, and so does m4; m2 and m3 still hold both messages.
    s.world.crash('m1:1');
    s.world.crash('m4:1');
    const nak = layerOf(s.groups[4]!, NAK);
    nak.downEvent({ type: 'FLUSH_FREEZE', digest: null });
    nak.downEvent({ type: 'FLUSH_CUT', cut: new Map([['m1:1', 2]]), holders: new Map([['m1:1', 'm1:1']]) });
    s.world.runFor(2000);
    assert.deepEqual(
      s.delivered[4]!.map((d) => (d.payload as Buffer).toString()),
      ['one', 'two'],
    );
  });

  it('frees its retransmission buffers once STABLE reports what all hold', () => {
    const s = simGroup(3, 'STABLE:NAK:COM');
    for (let k = 0; k < 1000; k++) void s.groups[k % 3]!.fbcast(Buffer.alloc(1000));
    s.world.runFor(50);
    s.world.runFor(2000);
    for (const node of s.nodes) {
      const g = node.metrics.snapshot().gauges;
      assert.equal(g['horus_nak_buffered_bytes'], 0, 'everything stable is freed');
    }
    assert.ok(NAK);
  });
});
