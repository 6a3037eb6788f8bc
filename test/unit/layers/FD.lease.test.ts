import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.js';
import { MsgFlag, type HeaderType } from '../../../src/core/message.js';
import { encodeLeaseBeat, FD, FD_HEADER, leaseMsOf } from '../../../src/layers/FD.js';
import { simGroup } from '../../helpers/sim-group.js';
import { dropped, forged, frameOf, layerOf, sendAs } from './hostile-peer.js';

const STACK = [{ name: 'FD', options: { heartbeatIntervalMs: 50, suspectTimeoutMs: 400 } }, 'NAK', 'COM'];
const beat = (payload: Buffer) => forged(null, payload, [[FD_HEADER as HeaderType<never>, { viewId: 1 }]], MsgFlag.Multicast | MsgFlag.Unreliable);

describe('FD leases', () => {
  it('defaults leaseMs to suspect − 2 × heartbeat − 100 and refuses a lease that would outlast the others’ patience', () => {
    assert.equal(leaseMsOf({ heartbeatIntervalMs: 100, suspectTimeoutMs: 1000, leaseMs: undefined }), 700);
    assert.equal(leaseMsOf({ heartbeatIntervalMs: 100, suspectTimeoutMs: 1000, leaseMs: 500 }), 500);
    assert.throws(() => leaseMsOf({ heartbeatIntervalMs: 100, suspectTimeoutMs: 1000, leaseMs: 701 }), ConfigError);
    assert.throws(() => leaseMsOf({ heartbeatIntervalMs: 100, suspectTimeoutMs: 250, leaseMs: undefined }), ConfigError);
  });

  it('holds its lease while a majority echoes it, loses it within leaseMs of a cut, and gets it back after the heal', () => {
    const s = simGroup(3, STACK);
    const fd = layerOf(s.groups[0]!, FD);
    s.world.runFor(500);
    assert.equal(fd.holdsLease, true);
    s.world.partition([[s.endpoints[0]!], s.endpoints.slice(1)]);
    s.world.runFor(190); // leaseMs = 400 − 100 − 100 = 200
    s.world.runFor(60);
    assert.equal(fd.holdsLease, false, 'out of lease at most leaseMs after the cut');
    assert.equal(layerOf(s.groups[1]!, FD).holdsLease, true, 'the majority keeps its lease');
    s.world.heal();
    s.world.runFor(200);
    assert.equal(fd.holdsLease, true);
  });

  it('drops (and counts) heartbeats with too many echoes, unreadable leases, or an echo of a time not yet reached', () => {
    const s = simGroup(3, STACK);
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const fd = layerOf(s.groups[0]!, FD);
    s.world.runFor(300);
    // Cut m1 off, so only forged echoes could give it a lease.
    s.world.partition([[s.endpoints[0]!], s.endpoints.slice(1)]);
    s.world.runFor(400);
    assert.equal(fd.holdsLease, false);
    s.world.heal();
    s.world.partition([[s.endpoints[0]!, s.endpoints[1]!], [s.endpoints[2]!]]);
    s.world.pause(s.endpoints[1]!); // m2's real heartbeats stop; forged ones go out on its connection
    const before = dropped(m1, 'FD');
    const many = Array.from({ length: 1025 }, (_, i): [string, number] => [`x${i}:1/1`, 1]);
    sendAs(m2, m1, frameOf('g', [beat(encodeLeaseBeat({ t: 1, echoes: many }))]));
    sendAs(m2, m1, frameOf('g', [beat(Buffer.from([0xff, 0xff]))]));
    sendAs(m2, m1, frameOf('g', [beat(encodeLeaseBeat({ t: 1, echoes: [[s.groups[0]!.localId, 1e12]] }))]));
    s.world.runFor(20);
    assert.equal(dropped(m1, 'FD') - before, 3);
    assert.equal(fd.holdsLease, false, 'a forged future echo gives no lease');
  });
});
