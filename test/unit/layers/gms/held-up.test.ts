import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_STACK, SimCluster } from '../../../helpers/sim-cluster.js';
import type { Delivery } from '../../../../src/api/delivery.js';
import type { LayerSpec } from '../../../../src/stack/stack.js';

/** FAST_STACK with a slow state transfer (small chunks, small window), a small held-up cap and small credits. */
function stack(maxHeldUpBytes: number): LayerSpec[] {
  return (FAST_STACK as readonly (string | LayerSpec)[]).map((l) => {
    const spec: LayerSpec = typeof l === 'string' ? { name: l } : l;
    if (spec.name === 'GMS') return { ...spec, options: { ...spec.options, stateChunkBytes: 4096, stateWindowBytes: 8192, maxHeldUpBytes } };
    if (spec.name === 'FC') return { ...spec, options: { maxCredits: 64 * 1024 } };
    return spec;
  });
}

/** A member streams 2 MB of state to a joiner while it sends 1 KiB fbcasts whenever it may. */
function run(maxHeldUpBytes: number) {
  const c = new SimCluster(11);
  const s = stack(maxHeldUpBytes);
  c.start('n1:1');
  const g1 = c.nodes.get('n1:1')!.joinNow('g', { contacts: [], stack: s, state: { get: () => Buffer.alloc(2 * 1024 * 1024, 5), set: () => {} } });
  c.run(100);
  c.start('n2:1');
  let state: Buffer | null = null;
  const g2 = c.nodes.get('n2:1')!.joinNow('g', {
    contacts: ['n1:1'],
    stack: s,
    state: { get: () => null, set: (st) => (state = st as Buffer) },
  });
  const got: Delivery[] = [];
  g2.on('message', (d: Delivery) => got.push(d));
  for (let t = 0; t < 5000 && g1.view.members.length < 2; t++) c.run(1);
  assert.equal(g1.view.members.length, 2, 'the joiner is in the view');
  let sent = 0;
  let blockedWhileStreaming = false;
  const payload = Buffer.alloc(1024, 1);
  for (let t = 0; t < 3000; t++) {
    if (g1.blocked && state === null) blockedWhileStreaming = true;
    for (let k = 0; k < 8 && !g1.blocked && sent < 2000; k++) {
      sent++;
      void g1.fbcast(payload);
    }
    c.run(1);
  }
  c.run(2000);
  return { sent, got, state: state as Buffer | null, blockedWhileStreaming };
}

describe('GMS: messages held while a joiner waits for its state', () => {
  it('over maxHeldUpBytes, flow control blocks the senders instead of the queue growing; nothing is dropped', () => {
    const r = run(16 * 1024);
    assert.ok(r.state !== null && r.state.length === 2 * 1024 * 1024, 'the state arrived whole');
    assert.ok(r.blockedWhileStreaming, 'the sender was blocked while the joiner held its messages');
    assert.equal(r.sent, 2000, 'the sender finished once the state was in');
    assert.equal(r.got.length, r.sent, 'the joiner delivered every message, none dropped');
    assert.ok(
      r.got.every((d, i) => d.id === r.got[0]!.id + i),
      'in order',
    );
  });

  it('under the cap the senders are not held up', () => {
    const r = run(64 * 1024 * 1024);
    assert.equal(r.blockedWhileStreaming, false);
    assert.equal(r.got.length, r.sent);
  });
});
