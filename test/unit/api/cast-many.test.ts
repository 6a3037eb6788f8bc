import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../src/api/node.js';
import type { Group, SendLimits } from '../../../src/api/group.js';
import type { Delivery } from '../../../src/api/delivery.js';
import { MemoryHistory } from '../../../src/core/history.js';
import { SimWorld } from '../../../src/sim/sim-world.js';
import { simGroup } from '../../helpers/sim-group.js';
import { DEFAULT_STACK } from '../../../src/layers/index.js';

/** Two fixed members; the first one's group is returned with the given send limits. */
function pair(sendLimits: Partial<SendLimits> = {}): { world: SimWorld; g: Group; got: unknown[] } {
  const world = new SimWorld(1);
  const history = new MemoryHistory();
  const endpoints = ['m1:1', 'm2:1'];
  const nodes = endpoints.map((e) => new HorusNode(world.addNode(e, '1').env, history));
  const g = nodes[0]!.joinNow('g', { stack: 'NAK:COM', members: endpoints, sendLimits });
  const other = nodes[1]!.joinNow('g', { stack: 'NAK:COM', members: endpoints });
  const got: unknown[] = [];
  other.on('message', (d: Delivery) => got.push(d.payload));
  return { world, g, got };
}

const payloads = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('castMany: many sends, one promise', () => {
  it('fbcastMany delivers every payload in list order at every member, with ids that follow the single sends', async () => {
    const s = simGroup(3, DEFAULT_STACK);
    await s.groups[0]!.fbcast(-1);
    await s.groups[0]!.fbcastMany(payloads(0, 1000));
    await s.groups[0]!.fbcast(1000);
    s.world.runFor(2000);
    for (const list of s.delivered) {
      assert.deepEqual(
        list.map((d) => d.payload),
        payloads(-1, 1002),
      );
      assert.deepEqual(
        list.map((d) => d.id),
        payloads(1, 1002),
      );
    }
  });

  it('cbcastMany and abcastMany keep their orders when members send lists at once', async () => {
    const s = simGroup(3, DEFAULT_STACK);
    await Promise.all(s.groups.map((g, k) => g.abcastMany(payloads(k * 1000, 300))));
    await Promise.all(s.groups.map((g, k) => g.cbcastMany(payloads(10_000 + k * 1000, 300))));
    s.world.runFor(3000);
    const abcasts = s.delivered.map((list) => list.map((d) => d.payload as number).filter((p) => p < 10_000));
    assert.equal(abcasts[0]!.length, 900);
    assert.deepEqual(abcasts[1], abcasts[0], 'one total order');
    assert.deepEqual(abcasts[2], abcasts[0], 'one total order');
    for (const list of s.delivered) {
      assert.equal(list.length, 1800);
      for (let k = 0; k < 3; k++) {
        const mine = list.map((d) => d.payload as number).filter((p) => p >= 10_000 + k * 1000 && p < 10_000 + (k + 1) * 1000);
        assert.deepEqual(mine, payloads(10_000 + k * 1000, 300), `sender ${k}'s causal messages in order`);
      }
    }
  });

  it('refuses the whole list, sending nothing, when one payload cannot be sent', async () => {
    const s = simGroup(2, 'NAK:COM');
    const g = s.groups[0]!;
    await assert.rejects(g.fbcastMany([1, 2, Buffer.alloc(g.maxPayloadBytes + 1)]), { code: 'ERR_TOO_LARGE' });
    await assert.rejects(g.abcastMany([1]), { code: 'ERR_INVALID_ARGUMENT' }, 'NAK:COM has no total order');
    await g.fbcastMany([3]);
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered[1]!.map((d) => [d.payload, d.id]),
      [[3, 1]],
      'nothing of the refused lists went, and they took no ids',
    );
  });

  it('holds a list while the group is blocked and resolves once the last of it is sent', async () => {
    const { world, g, got } = pair();
    g.upEvent({ type: 'BLOCKED', reason: 'flush' });
    let resolved = false;
    const p = g.fbcastMany(payloads(0, 50)).then(() => (resolved = true));
    world.runFor(100);
    assert.equal(g.pendingSends, 50);
    assert.equal(resolved, false);
    g.upEvent({ type: 'UNBLOCKED' });
    await p;
    world.runFor(500);
    assert.deepEqual(got, payloads(0, 50));
  });

  it('fails with ERR_BACKPRESSURE at the send limits while blocked, and what was held before the limit still goes', async () => {
    const { world, g, got } = pair({ maxPendingSends: 10 });
    g.upEvent({ type: 'BLOCKED', reason: 'flush' });
    await assert.rejects(g.fbcastMany(payloads(0, 25)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_BACKPRESSURE');
      assert.match(err.message, /10 of the list's 25 messages/);
      return true;
    });
    assert.equal(g.pendingSends, 10);
    g.upEvent({ type: 'UNBLOCKED' });
    world.runFor(500);
    assert.deepEqual(got, payloads(0, 10));
  });
});
