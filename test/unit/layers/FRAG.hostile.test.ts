import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { FRAG, FRAG_HEADER } from '../../../src/layers/FRAG.js';
import { NAK_HEADER } from '../../../src/layers/NAK.js';
import { APP_HEADER } from '../../../src/api/app-header.js';
import { messageToBytes } from '../../../src/codec/message-codec.js';
import { MsgFlag, type HeaderType } from '../../../src/core/message.js';
import { dropped, forged, frameOf, layerOf, sendAs, stranger } from './hostile-peer.js';

const FRAG_H = FRAG_HEADER as HeaderType<never>;
const NAK_H = NAK_HEADER as HeaderType<never>;
const APP_H = APP_HEADER as HeaderType<never>;
const MiB = 1024 * 1024;

/** A unicast fragment to m1 (unicasts pass NAK unsequenced). */
const part = (id: number, index: number, count: number, bytes = 1024) =>
  forged('m1:1', Buffer.alloc(bytes, 3), [[FRAG_H, { id, index, count }]], MsgFlag.Unreliable);

describe('FRAG with hostile input', () => {
  it('drops fragments with impossible headers and counts them, holding nothing', () => {
    const s = simGroup(2, 'FRAG:NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const frag = layerOf(s.groups[0]!, FRAG);
    const evil = stranger(s);
    const bad = [part(1, 0, 0), part(2, 5, 5), part(3, 0, 2 ** 40), part(2 ** 54, 0, 2), part(4, 0, 2, 9 * MiB)];
    sendAs(m2, m1, frameOf('g', bad));
    evil.send(m1, frameOf('g', bad));
    s.world.runFor(100);
    assert.equal(dropped(m1, 'FRAG'), 10);
    assert.equal(frag.pendingCount, 0);
    assert.equal(frag.pendingBytes, 0);
    assert.equal(s.delivered[0]!.length, 0);
  });

  it('keeps thousands of never-finished reassemblies under its caps, and prunes them by age and at a view change', () => {
    const s = simGroup(3, [{ name: 'FRAG', options: { maxPendingBytes: 32 * MiB } }, 'NAK', 'COM']);
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const frag = layerOf(s.groups[0]!, FRAG);
    // A member: 3000 unfinished unicast reassemblies (the per-sender count keeps 16).
    for (let f = 0; f < 30; f++)
      sendAs(
        m2,
        m1,
        frameOf(
          'g',
          Array.from({ length: 100 }, (_, i) => part(f * 100 + i, 0, 2)),
        ),
      );
    // Twenty strangers: 150 each, of large part tables (the cap for non-members holds).
    for (let k = 0; k < 20; k++) {
      const evil = stranger(s, `evil${k}:1`);
      for (let f = 0; f < 3; f++)
        evil.send(
          m1,
          frameOf(
            'g',
            Array.from({ length: 50 }, (_, i) => part(f * 50 + i, 0, 50_000)),
          ),
        );
    }
    s.world.runFor(1000);
    assert.ok(frag.pendingBytes <= 4 * MiB + 16 * (2 * 8 + 1024 + 1024), `pending ${frag.pendingBytes} bytes within the caps`);
    assert.ok(frag.pendingCount <= 16 + 20 * 16, `${frag.pendingCount} reassemblies`);
    assert.ok(dropped(m1, 'FRAG') >= 3000 - 16 + 20 * 150 - 20 * 16, `drops counted (${dropped(m1, 'FRAG')})`);
    // Idle past reassemblyIdleMs: the next fragment to arrive prunes them all.
    s.world.runFor(31_000);
    sendAs(m2, m1, frameOf('g', [part(99_999, 0, 2)]));
    s.world.runFor(100);
    assert.equal(frag.pendingCount, 1, 'only the newest is left');
    // A view without m2 ends m2's.
    frag.downEvent({ type: 'VIEW', view: { group: 'g', id: 2, members: ['m1:1', 'm3:1'] } });
    assert.equal(frag.pendingCount, 0);
    assert.equal(frag.pendingBytes, 0);
  });

  it("never ages out a member's reliable multicast: a reassembly finished after a long pause is delivered", () => {
    const s = simGroup(2, 'FRAG:NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const frag = layerOf(s.groups[0]!, FRAG);
    const whole = messageToBytes(forged(null, Buffer.alloc(5000, 9), [[APP_H, { order: 0, encoding: 0, id: 1 }]]));
    const half = Math.ceil(whole.length / 2);
    const fragment = (index: number) =>
      forged(null, whole.subarray(index * half, (index + 1) * half), [
        [FRAG_H, { id: 1, index, count: 2 }],
        [NAK_H, { t: 1, view: 1, seq: index + 1 }],
      ]);
    sendAs(m2, m1, frameOf('g', [fragment(0)]));
    s.world.runFor(60_000);
    sendAs(m2, m1, frameOf('g', [part(5, 0, 2)])); // an unrelated arrival that prunes idle ones
    s.world.runFor(100);
    assert.equal(frag.pendingCount, 2);
    sendAs(m2, m1, frameOf('g', [fragment(1)]));
    s.world.runFor(100);
    assert.equal(s.delivered[0]!.length, 1);
    assert.equal(s.delivered[0]![0]!.raw.length, 5000);
  });
  it("a member's unicast fragment does not take the place of a part of its multicast: the multicast is delivered as sent", () => {
    const s = simGroup(2, 'FRAG:NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const whole = messageToBytes(forged(null, Buffer.alloc(5000, 9), [[APP_H, { order: 0, encoding: 0, id: 1 }]]));
    const half = Math.ceil(whole.length / 2);
    const fragment = (index: number) =>
      forged(null, whole.subarray(index * half, (index + 1) * half), [
        [FRAG_H, { id: 1, index, count: 2 }],
        [NAK_H, { t: 1, view: 1, seq: index + 1 }],
      ]);
    // To m1 alone, under the id of the multicast the others get whole: it must stay apart.
    sendAs(m2, m1, frameOf('g', [part(1, 0, 2)]));
    sendAs(m2, m1, frameOf('g', [fragment(0), fragment(1)]));
    s.world.runFor(100);
    assert.equal(s.delivered[0]!.length, 1);
    assert.deepEqual(s.delivered[0]![0]!.raw, Buffer.alloc(5000, 9));
  });
});
