// FC, STABLE, FD, CAUSAL and TOTAL fed malformed, out-of-range or impersonating headers by a
// stranger and by a member: nothing is thrown, nothing changes, every drop is counted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { NAK_HEADER } from '../../../src/layers/NAK.js';
import { FC_HEADER } from '../../../src/layers/FC.js';
import { STABLE_HEADER } from '../../../src/layers/STABLE.js';
import { FD, FD_HEADER } from '../../../src/layers/FD.js';
import { CAUSAL_HEADER } from '../../../src/layers/CAUSAL.js';
import { TOTAL_HEADER } from '../../../src/layers/TOTAL.js';
import { NAK } from '../../../src/layers/NAK.js';
import { APP_HEADER } from '../../../src/api/app-header.js';
import { MsgFlag, type HeaderType, type Message } from '../../../src/core/message.js';
import type { UpEvent } from '../../../src/core/events.js';
import { counter, dropped, forged, frameOf, layerOf, sendAs, stranger } from './hostile-peer.js';

const h = <T>(t: HeaderType<T>): HeaderType<never> => t as HeaderType<never>;
const APP: [HeaderType<never>, unknown] = [h(APP_HEADER), { order: 1, encoding: 0, id: 1 }];
const unreliableMcast = (header: [HeaderType<never>, unknown]): Message => forged(null, Buffer.alloc(0), [header], MsgFlag.Multicast | MsgFlag.Unreliable);
/** A reliable multicast as a member's NAK sends it, with `headers` above NAK's. */
const reliable = (seq: number, headers: [HeaderType<never>, unknown][]): Message =>
  forged(null, Buffer.from('forged'), [APP, ...headers, [h(NAK_HEADER), { t: 1, view: 1, seq }]]);

describe('FC with hostile input', () => {
  it('unblocks a sender neither on a credit from a stranger nor on a member crediting more than was sent', () => {
    const s = simGroup(2, ['STABLE', { name: 'FC', options: { maxCredits: 8 * 1024 } }, 'NAK', 'COM']);
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    s.world.pause('m2:1');
    for (let i = 0; i < 30; i++) void s.groups[0]!.fbcast(Buffer.alloc(1000));
    s.world.runFor(100);
    const waiting = s.groups[0]!.pendingSends;
    assert.ok(waiting > 0, 'the sender is blocked');
    const evil = stranger(s);
    const credit = (total: number, view = 1) => forged('m1:1', Buffer.alloc(0), [[h(FC_HEADER), { t: 1, view, total }]], MsgFlag.Unreliable);
    const ask = forged('m1:1', Buffer.alloc(0), [[h(FC_HEADER), { t: 2, view: 1, total: 0 }]], MsgFlag.Unreliable);
    evil.send(m1, frameOf('g', [credit(1_000_000), ask]));
    sendAs(m2, m1, frameOf('g', [credit(2 ** 40), credit(2 ** 52)]));
    s.world.runFor(100);
    assert.equal(s.groups[0]!.pendingSends, waiting, 'still blocked: no forged credit counted');
    assert.equal(evil.received, 0, 'a stranger that asks for credit gets no answer');
    assert.equal(dropped(m1, 'FC'), 4);
    s.world.resume('m2:1');
    s.world.runFor(2000);
    assert.equal(s.groups[0]!.pendingSends, 0, 'real credit still unblocks it');
  });
});

describe('STABLE with hostile input', () => {
  it('drops digests from strangers and digests naming non-members, repeating a member or out of range, so nothing becomes stable early', () => {
    const s = simGroup(3, 'STABLE:NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    s.world.pause('m3:1');
    for (let i = 0; i < 10; i++) void s.groups[0]!.fbcast(Buffer.alloc(1000));
    s.world.runFor(200);
    const nak = layerOf(s.groups[0]!, NAK);
    const held = nak.bufferedBytes;
    assert.ok(held > 0);
    const digest = (entries: [string, number][], view = 1) => unreliableMcast([h(STABLE_HEADER), { view, entries }]);
    const all: [string, number][] = [
      ['m1:1', 10],
      ['m2:1', 0],
      ['m3:1', 0],
    ];
    stranger(s).send(m1, frameOf('g', [digest(all)]));
    sendAs(
      m2,
      m1,
      frameOf('g', [
        digest([...all, ['evil:1', 5]]),
        digest([
          ['m1:1', 10],
          ['m1:1', 10],
        ]),
        digest([['m1:1', 2 ** 40]]),
        digest([['nobody:1', 1]]),
      ]),
    );
    const before = counter(m1, 'horus_com_malformed_total');
    sendAs(m2, m1, frameOf('g', [digest(Array.from({ length: 5000 }, (_, i): [string, number] => [`x${i}`, 1]))]));
    s.world.runFor(200);
    assert.equal(dropped(m1, 'STABLE'), 5);
    assert.equal(counter(m1, 'horus_com_malformed_total'), before + 1, 'a digest of 5000 entries does not even decode');
    assert.equal(nak.bufferedBytes, held, 'm3 has reported nothing: nothing was freed');
    s.world.resume('m3:1');
    s.world.runFor(2000);
    assert.equal(nak.bufferedBytes, 0, 'real digests still free everything');
  });
});

describe('FD with hostile input', () => {
  it('reports a stranger of an older view at most once per interval, and ignores heartbeats with impossible view ids', () => {
    const s = simGroup(2, 'FD:NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const fd = layerOf(s.groups[0]!, FD);
    const events: UpEvent[] = [];
    const above = fd.above;
    fd.above = {
      ...above,
      up: (m) => above.up(m),
      upBatch: (b) => above.upBatch(b),
      down: (m) => above.down(m),
      downBatch: (b) => above.downBatch(b),
      downEvent: (e) => above.downEvent(e),
      upEvent: (e) => (events.push(e), above.upEvent(e)),
    };
    const evil = stranger(s);
    const hb = (viewId: number) => unreliableMcast([h(FD_HEADER), { viewId }]);
    for (let i = 0; i < 50; i++) {
      evil.send(m1, frameOf('g', [hb(0), hb(7)]));
      s.world.runFor(10);
    }
    sendAs(m2, m1, frameOf('g', [hb(2 ** 40)]));
    s.world.runFor(10);
    const strangers = events.filter((e) => e.type === 'STRANGER');
    assert.equal(strangers.length, 1, 'one report in 500 ms, none for a claimed newer view');
    assert.equal(dropped(m1, 'FD'), 1);
    assert.equal(events.filter((e) => e.type === 'SUSPECT').length, 0);
  });
});

describe('CAUSAL with hostile input', () => {
  it("drops dependencies on the sender itself, on a non-member, repeated or out of range, and causal headers on unicasts, and others' messages still flow", () => {
    const s = simGroup(3, 'CAUSAL:NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    // (member index, count) pairs; m1 is index 0, m2 (the sender here) index 1, m3 index 2.
    const deps = (d: number[]) => [h(CAUSAL_HEADER), d] as [HeaderType<never>, unknown];
    sendAs(
      m2,
      m1,
      frameOf('g', [reliable(1, [deps([1, 1])]), reliable(2, [deps([7, 1])]), reliable(3, [deps([0, 2 ** 40])]), reliable(4, [deps([0, 1, 0, 2])])]),
    );
    stranger(s).send(m1, frameOf('g', [forged('m1:1', Buffer.from('u'), [APP, deps([2, 1])])]));
    const before = counter(m1, 'horus_com_malformed_total');
    sendAs(m2, m1, frameOf('g', [reliable(5, [deps(Array.from({ length: 10_000 }, () => 0))])]));
    s.world.runFor(200);
    assert.equal(dropped(m1, 'CAUSAL'), 5);
    assert.equal(counter(m1, 'horus_com_malformed_total'), before + 1, 'over 4096 entries: malformed');
    assert.equal(s.delivered[0]!.length, 0);
    for (const g of [s.groups[0]!, s.groups[2]!]) for (let i = 0; i < 10; i++) void g.cbcast(Buffer.from(`${i}`));
    s.world.runFor(1000);
    assert.equal(s.delivered[0]!.length, 20);
    assert.equal(s.delivered[2]!.length, 20);
  });
});

describe('TOTAL with hostile input', () => {
  it('takes order only from the sequencer, with runs naming members and counting at least one, and only on reliable multicasts', () => {
    const s = simGroup(3, 'TOTAL:NAK:COM');
    const [m1, m2, m3] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0], (typeof s.nodes)[0]];
    const order = (runs: [number, number][]) => [h(TOTAL_HEADER), { view: 1, runs: runs.flat() }] as [HeaderType<never>, unknown];
    const data = [h(TOTAL_HEADER), 1] as [HeaderType<never>, unknown];
    // m2 is not the sequencer (m1 is); m1's forged orders name no member or order nothing.
    sendAs(m2, m3, frameOf('g', [reliable(1, [order([[0, 1]])])]));
    sendAs(m1, m3, frameOf('g', [reliable(1, [order([[7, 1]])]), reliable(2, [order([[1, 0]])])]));
    stranger(s).send(m3, frameOf('g', [forged('m3:1', Buffer.from('u'), [APP, data])]));
    sendAs(m2, m3, frameOf('g', [forged('m3:1', Buffer.from('u'), [APP, data])]));
    s.world.runFor(200);
    assert.equal(dropped(m3, 'TOTAL'), 5);
    assert.equal(s.delivered[2]!.length, 0);
  });
});
