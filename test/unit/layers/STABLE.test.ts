import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';

/** Frames `node` sends over the next `ms` of virtual time. */
function framesSent(s: ReturnType<typeof simGroup>, i: number, ms: number): number {
  const t = s.nodes[i]!.env.transport;
  const send = t.send.bind(t);
  let n = 0;
  t.send = (to, frame, owned) => {
    n++;
    send(to, frame, owned);
  };
  s.world.runFor(ms);
  t.send = send;
  return n;
}

describe('STABLE', () => {
  it('gossips about once a second while nothing changes, and at the short interval again as soon as traffic comes', () => {
    const s = simGroup(3, 'SAFE:STABLE:NAK:COM');
    void s.groups[0]!.fbcast('warm-up');
    s.world.runFor(5000);
    // Idle: the digest is the one last gossiped and stable everywhere. At 50 ms that would be 20
    // gossips a second to each of 2 peers; slowed down, about 1.
    const idle = framesSent(s, 1, 4000);
    assert.ok(idle <= 12, `an idle member sent ${idle} frames in 4 s`);
    assert.ok(idle >= 4, `it still gossips now and then (${idle} frames in 4 s): a lost gossip is repeated`);
    // A safe message is delivered once every member holds it: a receiver that slowed down must
    // gossip again at once, not a second later.
    void s.groups[0]!.fbcast('safe', { safe: true });
    s.world.runFor(200);
    assert.deepEqual(
      s.delivered.map((d) => d.filter((x) => String(x.payload) === 'safe').length),
      [1, 1, 1],
      'delivered everywhere within 200 ms',
    );
  });
});
