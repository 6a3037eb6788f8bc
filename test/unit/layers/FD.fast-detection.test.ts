import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerEvent } from '../../../src/core/env.js';
import type { DownEvent, UpEvent } from '../../../src/core/events.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message } from '../../../src/core/message.js';
import { encodeLeaseBeat, FD, FD_HEADER, type FdOptions } from '../../../src/layers/FD.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';
import { SimWorld } from '../../../src/sim/sim-world.js';
import { stubLink } from '../../helpers/layer-link.js';

const ME = 'a:1/1';
const B = 'b:1/1';
const C = 'c:1/1';
const OPTS: FdOptions = {
  heartbeatIntervalMs: 100,
  suspectTimeoutMs: 1000,
  clockDriftBound: 0.02,
  maxEchoes: 1024,
  strangerReportIntervalMs: 500,
  fastDetection: true,
  relayFrom: 16,
  relayCount: 3,
};

/** FD alone on a simulated node's env: a recording top, a bottom that keeps what goes down. */
function harness(opts: Partial<FdOptions> = {}) {
  const world = new SimWorld(1, { delayMs: 1, jitterMs: 0 });
  const node = world.addNode('a:1', '1');
  const metrics = new MemoryMetrics();
  const fd = new FD({ env: node.env, group: 'g', localId: ME, log: silentLogger, metrics }, { ...OPTS, ...opts });
  const ups: UpEvent[] = [];
  const sent: Message[] = [];
  fd.above = { up: () => {}, upBatch: () => {}, down: () => {}, downBatch: () => {}, upEvent: (e) => ups.push(e), downEvent: () => {} };
  fd.below = stubLink({ down: (m) => sent.push(m), downBatch: (b) => sent.push(...b) });
  fd.start();
  fd.downEvent({ type: 'VIEW', view: { group: 'g', id: 1, members: [ME, B, C] } });
  const peer = (ev: PeerEvent): void => node.peerEvent(ev);
  /** A heartbeat from `src` (echoing our clock, so we hold its lease). */
  const beatFrom = (src: string): void => {
    const m = new Message(null, encodeLeaseBeat({ t: Math.floor(world.now()), echoes: [[ME, Math.floor(world.now())]] }));
    m.push(FD_HEADER, { viewId: 1 });
    m.src = src;
    fd.up(m);
  };
  const suspects = (): string[] => ups.flatMap((e) => (e.type === 'SUSPECT' ? [e.member] : []));
  const revoke = (members: string[]): number | null => {
    const q: DownEvent = { type: 'LEASE_REVOKE', members, until: null };
    fd.downEvent(q);
    return q.type === 'LEASE_REVOKE' ? q.until : null;
  };
  return { world, node, fd, ups, sent, peer, beatFrom, suspects, revoke };
}

describe('FD fast crash detection', () => {
  it('suspects a member at once when the transport proves its process gone, and waits out no lease for it', () => {
    const h = harness();
    h.world.runFor(50);
    h.beatFrom(B);
    h.beatFrom(C);
    h.peer({ type: 'gone', peer: B, why: 'refused' });
    h.world.runFor(1);
    assert.deepEqual(h.suspects(), [B], 'suspected long before the 1000 ms timeout');
    assert.deepEqual(h.fd.goneMembers, [B]);
    assert.equal(h.revoke([B]), null, 'no lease wait for a process that does not run');
    assert.ok((h.revoke([C]) ?? 0) > h.world.now() + 600, 'a member not known gone keeps its lease wait');
  });

  it('keeps a gone member suspected whatever still arrives from it (sent before it died)', () => {
    const h = harness();
    h.world.runFor(50);
    h.peer({ type: 'gone', peer: B, why: 'replaced' });
    h.world.runFor(1);
    h.beatFrom(B);
    assert.equal(
      h.ups.some((e) => e.type === 'UNSUSPECT'),
      false,
    );
    // A view that still holds it (installed before it could be left out): suspected again.
    h.fd.downEvent({ type: 'VIEW', view: { group: 'g', id: 2, members: [ME, B, C] } });
    h.world.runFor(1);
    assert.deepEqual(h.suspects(), [B, B]);
  });

  it('only pings a member whose connection was closed: it is not suspected while it answers', () => {
    const h = harness();
    h.world.runFor(50);
    const before = h.sent.length;
    h.peer({ type: 'closed', peer: C });
    h.world.runFor(1);
    const pings = h.sent.slice(before).filter((m) => m.dest === C);
    assert.equal(pings.length, 1, 'one ping to the member whose connection closed');
    for (let t = 0; t < 2000; t += 100) {
      h.beatFrom(B);
      h.beatFrom(C);
      h.world.runFor(100);
    }
    assert.deepEqual(h.suspects(), [], 'a reset followed by a reconnect excludes nobody');
    assert.ok((h.revoke([C]) ?? 0) > h.world.now(), 'and its lease is still waited out');
  });

  it('applies a gone node to every member it hosts (a rejoined member id too), never to us or to strangers', () => {
    const h = harness();
    h.fd.downEvent({ type: 'VIEW', view: { group: 'g', id: 2, members: [ME, `${B}~2`, C] } });
    h.world.runFor(10);
    h.peer({ type: 'gone', peer: ME, why: 'refused' });
    h.peer({ type: 'gone', peer: 'x:1/1', why: 'refused' });
    h.peer({ type: 'gone', peer: B, why: 'refused' });
    h.world.runFor(1);
    assert.deepEqual(h.suspects(), [`${B}~2`]);
  });

  it('ignores peer events with fastDetection off: only the timeout suspects', () => {
    const h = harness({ fastDetection: false });
    h.world.runFor(50);
    h.peer({ type: 'gone', peer: B, why: 'refused' });
    h.world.runFor(500);
    assert.deepEqual(h.suspects(), []);
    h.world.runFor(700);
    assert.deepEqual(h.suspects().sort(), [B, C], 'the timeout still applies');
  });

  it('stops listening when stopped', () => {
    const h = harness();
    h.fd.stop();
    h.peer({ type: 'gone', peer: B, why: 'refused' });
    h.world.runFor(5);
    assert.deepEqual(h.suspects(), []);
  });
});
