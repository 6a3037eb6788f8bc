import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { NAK, NAK_HEADER } from '../../../src/layers/NAK.js';
import { MsgFlag, type HeaderType, type Message } from '../../../src/core/message.js';
import { checkFifoIntegrity } from '../../../src/sim/checkers/fifo-integrity.js';
import { counter, dropped, forged, frameOf, layerOf, sendAs, stranger } from './hostile-peer.js';

const NAK_H = NAK_HEADER as HeaderType<never>;
const Data = 1;
const Xmit = 2;
const Req = 3;
const High = 4;
const KiB = 1024;
const MiB = 1024 * KiB;

const mcast = (h: object, payload = Buffer.from('forged')): Message => forged(null, payload, [[NAK_H, h]]);
const ucast = (to: string, h: object, payload = Buffer.alloc(0)): Message => forged(to, payload, [[NAK_H, h]], MsgFlag.Unreliable);

describe('NAK with hostile input', () => {
  it('gives a stranger nothing: its requests get no retransmission, its data and announcements are dropped and counted', () => {
    const s = simGroup(3, 'NAK:COM');
    for (let i = 0; i < 5; i++) void s.groups[0]!.fbcast(Buffer.alloc(1000, i));
    s.world.runFor(200);
    const m1 = s.nodes[0]!;
    const before = { xmit: counter(m1, 'horus_nak_retransmissions_total'), delivered: s.delivered[0]!.length, drops: dropped(m1, 'NAK') };
    const evil = stranger(s);
    evil.send(
      m1,
      frameOf('g', [
        ucast('m1:1', { t: Req, view: 1, origin: 'm1:1', from: 1, to: 5 }),
        ucast('m1:1', { t: Req, view: 1, origin: 'm2:1', from: 1, to: 1000 }),
        mcast({ t: Data, view: 1, seq: 1 }),
        ucast('m1:1', { t: Xmit, view: 1, origin: 'm2:1', seq: 1 }),
        forged(null, Buffer.alloc(0), [[NAK_H, { t: High, view: 1, seq: 2 ** 40 }]], MsgFlag.Multicast | MsgFlag.Unreliable),
      ]),
    );
    s.world.runFor(500);
    assert.equal(evil.received, 0, 'no reply of any kind reached the stranger');
    assert.equal(counter(m1, 'horus_nak_retransmissions_total'), before.xmit, 'nothing was retransmitted for it');
    assert.equal(s.delivered[0]!.length, before.delivered, 'nothing of it was delivered');
    assert.equal(dropped(m1, 'NAK') - before.drops, 5, 'each of its five messages was counted');
  });

  it("drops a member's out-of-range data, unasked retransmissions and bad requests without touching its state, and keeps delivering", () => {
    const s = simGroup(3, 'NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const nak = layerOf(s.groups[0]!, NAK);
    sendAs(
      m2,
      m1,
      frameOf('g', [
        mcast({ t: Data, view: 1, seq: 0 }),
        mcast({ t: Data, view: 1, seq: 2 ** 40 }),
        mcast({ t: Data, view: 1, seq: 100_000 }),
        mcast({ t: Data, view: 2 ** 40, seq: 1 }),
        ucast('m1:1', { t: Xmit, view: 1, origin: 'm3:1', seq: 3 }), // m3 sent nothing: nobody asked
        ucast('m1:1', { t: Xmit, view: 1, origin: 'nobody:1', seq: 1 }),
        ucast('m1:1', { t: Req, view: 1, origin: 'm1:1', from: 5, to: 2 }),
        ucast('m1:1', { t: Req, view: 1, origin: 'nobody:1', from: 1, to: 2 }),
      ]),
    );
    s.world.runFor(100);
    assert.equal(dropped(m1, 'NAK'), 8);
    assert.equal(nak.earlyHeldBytes, 0);
    assert.equal(nak.futureHeldBytes, 0);
    assert.equal(nak.bufferedBytes, 0);
    assert.equal(s.delivered[0]!.length, 0);
    // The group still works, m2 included (its real sequence numbers were not disturbed).
    s.groups.forEach((g, i) => {
      for (let k = 0; k < 20; k++) void g.fbcast(Buffer.from(`${i}:${k}`));
    });
    s.world.runFor(1000);
    for (const d of s.delivered) assert.equal(d.length, 60);
    assert.deepEqual(checkFifoIntegrity(s.history.events, 'g', new Set(s.endpoints)).items, []);
  });

  it('holds 64 MiB of future-view data from a member and from a stranger under its per-peer and total caps, and prunes it when the view changes', () => {
    const s = simGroup(3, 'NAK:COM');
    const [m1, m2, m3] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0], (typeof s.nodes)[0]];
    const nak = layerOf(s.groups[0]!, NAK);
    const evil = stranger(s);
    const chunk = Buffer.alloc(64 * KiB, 7);
    let seq = 0;
    for (let f = 0; f < 64; f++) {
      const msgs = Array.from({ length: 16 }, () => mcast({ t: Data, view: 3, seq: ++seq }, chunk));
      const frame = frameOf('g', msgs);
      sendAs(m2, m1, frame);
      evil.send(m1, frame);
    }
    sendAs(m3, m1, frameOf('g', [mcast({ t: Data, view: 3, seq: 1 }, Buffer.alloc(100))]));
    s.world.runFor(1000);
    const held = nak.futureHeldBytes;
    assert.ok(held <= 2 * 8 * MiB + 1 * MiB, `future-view bytes ${held} stay within two peers' caps`);
    assert.ok(held >= 2 * 7 * MiB, `each peer got up to its cap (${held})`);
    assert.ok(dropped(m1, 'NAK') >= (2 * (56 * MiB)) / (64 * KiB + 200), `what went over was counted (${dropped(m1, 'NAK')})`);
    // View 2 without m2: what m2 and the stranger sent for view 3 is dropped, m3's stays.
    nak.downEvent({ type: 'VIEW', view: { group: 'g', id: 2, members: ['m1:1', 'm3:1'] } });
    assert.ok(nak.futureHeldBytes > 0 && nak.futureHeldBytes < 1024, `only m3's message is left (${nak.futureHeldBytes})`);
  });

  it("bounds what a member's flood of retransmission requests makes it send, per interval", () => {
    const s = simGroup(2, [{ name: 'NAK', options: { maxXmitBytes: 1 * MiB } }, 'COM']);
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    for (let i = 0; i < 1000; i++) void s.groups[0]!.fbcast(Buffer.alloc(10 * KiB));
    s.world.runFor(500);
    const before = counter(m1, 'horus_nak_retransmissions_total');
    // 100 requests for all 1000 messages (10 MiB each time), in one frame: 1 GB if each were answered in full.
    sendAs(
      m2,
      m1,
      frameOf(
        'g',
        Array.from({ length: 100 }, () => ucast('m1:1', { t: Req, view: 1, origin: 'm1:1', from: 1, to: 1000 })),
      ),
    );
    s.world.runFor(5);
    const sent = counter(m1, 'horus_nak_retransmissions_total') - before;
    assert.ok(sent > 0 && sent <= Math.ceil(MiB / (10 * KiB)) + 1, `${sent} messages retransmitted`);
    assert.ok(counter(m1, 'horus_nak_xmit_throttled_total') >= 99);
  });

  it('holds out-of-order messages from one sender only up to its byte cap', () => {
    const s = simGroup(2, [{ name: 'NAK', options: { maxEarlyBytesPerSender: 4 * MiB } }, 'COM']);
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const nak = layerOf(s.groups[0]!, NAK);
    const chunk = Buffer.alloc(64 * KiB, 1);
    let seq = 1; // seq 1 never comes: everything after it is early
    for (let f = 0; f < 16; f++)
      sendAs(
        m2,
        m1,
        frameOf(
          'g',
          Array.from({ length: 16 }, () => mcast({ t: Data, view: 1, seq: ++seq }, chunk)),
        ),
      );
    s.world.runFor(200);
    assert.ok(nak.earlyHeldBytes <= 4 * MiB, `early bytes ${nak.earlyHeldBytes} within the cap`);
    assert.ok(nak.earlyHeldBytes > 3 * MiB);
    assert.equal(s.delivered[0]!.length, 0);
  });
});
