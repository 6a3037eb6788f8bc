import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../src/api/node.js';
import type { Group, SendLimits } from '../../../src/api/group.js';
import type { Delivery } from '../../../src/api/delivery.js';
import { MemoryHistory } from '../../../src/core/history.js';
import type { StackSpec } from '../../../src/stack/stack.js';
import { MAX_PAYLOAD_BYTES } from '../../../src/stack/stack.js';
import { SimWorld } from '../../../src/sim/sim-world.js';
import { simGroup } from '../../helpers/sim-group.js';
import '../../../src/layers/index.js';

const MiB = 1024 * 1024;

/** Two fixed members; the first one's group is returned with the given send limits. */
function pair(stack: StackSpec, sendLimits: Partial<SendLimits> = {}): { world: SimWorld; g: Group; got: unknown[]; node: HorusNode } {
  const world = new SimWorld(1);
  const history = new MemoryHistory();
  const endpoints = ['m1:1', 'm2:1'];
  const nodes = endpoints.map((e) => new HorusNode(world.addNode(e, '1').env, history));
  const g = nodes[0]!.joinNow('g', { stack, members: endpoints, sendLimits });
  const other = nodes[1]!.joinNow('g', { stack, members: endpoints });
  const got: unknown[] = [];
  other.on('message', (d: Delivery) => got.push(d.payload));
  return { world, g, got, node: nodes[0]! };
}

describe('sends that cannot succeed fail at the API', () => {
  it('rejects a 17 MiB fbcast with ERR_TOO_LARGE on a stack without FRAG (the transport would drop it)', async () => {
    const s = simGroup(2, 'NAK:COM');
    const limit = s.groups[0]!.maxPayloadBytes;
    assert.ok(limit < 16 * MiB && limit > 15 * MiB, `limit ${limit} under the 16 MiB frame`);
    await assert.rejects(s.groups[0]!.fbcast(Buffer.alloc(17 * MiB)), { code: 'ERR_TOO_LARGE' });
    await assert.rejects(s.groups[0]!.fbcast(Buffer.alloc(limit + 1)), { code: 'ERR_TOO_LARGE' });
    // At the limit it goes through, even behind a batch of small messages.
    void s.groups[0]!.fbcast(Buffer.alloc(1000, 1));
    void s.groups[0]!.fbcast(Buffer.alloc(limit, 2));
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered[1]!.map((d) => d.raw.length),
      [1000, limit],
    );
  });

  it('lifts the limit to 64 MiB with FRAG in the stack', () => {
    const big = simGroup(2, 'FRAG:NAK:COM');
    assert.equal(big.groups[0]!.maxPayloadBytes, MAX_PAYLOAD_BYTES);
  });

  it('rejects payloads the packer would mangle with ERR_INVALID_ARGUMENT', async () => {
    const s = simGroup(2, 'NAK:COM');
    const g = s.groups[0]!;
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    let deep: unknown[] = [];
    const root = deep;
    for (let i = 0; i < 600; i++) {
      const next: unknown[] = [];
      deep.push(next);
      deep = next;
    }
    const bad: [string, unknown][] = [
      ['a function', () => 1],
      ['a function at .f', { ok: 1, f: () => 1 }],
      ['a symbol', { s: Symbol('x') }],
      ['a cycle', cyclic],
      ['an integer beyond 64 bits', [2n ** 70n]],
      ['a Promise', { p: Promise.resolve(1) }],
      ['nesting deeper than', root],
      ['a function', new Map([['k', () => 1]])],
    ];
    for (const [what, value] of bad) {
      await assert.rejects(g.fbcast(value), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT' && e.message.includes(what), what);
    }
    // Shared (acyclic) references, maps, dates, bigints and nested bytes are fine.
    const shared = { x: 1 };
    const fine = { a: shared, b: shared, m: new Map([['k', 1]]), d: new Date(0), n: 5n, bytes: Buffer.from('hi'), list: [1, 'two', null, undefined] };
    await g.fbcast(fine);
    s.world.runFor(100);
    const got = s.delivered[1]![0]!.payload as Record<string, unknown>;
    assert.deepEqual(got['a'], { x: 1 });
    assert.deepEqual(got['b'], { x: 1 });
    assert.equal(s.delivered[1]!.length, 1, 'only the good payload travelled');
  });

  it('checks a large structured payload quickly and never walks bytes', () => {
    const s = simGroup(2, 'NAK:COM');
    const arr = Array.from({ length: 200_000 }, (_, i) => ({ i, s: 'x' }));
    const t0 = performance.now();
    void s.groups[0]!.fbcast(arr);
    const t = performance.now() - t0;
    assert.ok(t < 1000, `200k objects checked and packed in ${t.toFixed(0)} ms`);
  });
});

describe('held sends are bounded', () => {
  it('rejects with ERR_BACKPRESSURE past maxPendingSends while blocked; memory stays flat for a sender that never awaits', async () => {
    const { world, g, got, node } = pair('NAK:COM', { maxPendingSends: 100 });
    g.upEvent({ type: 'BLOCKED', reason: 'flush' });
    let rejected = 0;
    for (let i = 0; i < 20_000; i++) {
      g.fbcast(Buffer.alloc(100)).catch((e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_BACKPRESSURE');
        rejected++;
      });
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(g.pendingSends, 100);
    assert.equal(rejected, 19_900);
    assert.equal(node.metrics.snapshot().counters['horus_app_backpressure_total'], 19_900);
    g.upEvent({ type: 'UNBLOCKED' });
    world.runFor(500);
    assert.equal(got.length, 100);
    assert.equal(g.pendingSends, 0);
  });

  it('bounds held bytes too (maxPendingBytes), but always holds one send', async () => {
    const { g } = pair('NAK:COM', { maxPendingBytes: 10_000 });
    g.upEvent({ type: 'BLOCKED', reason: 'flush' });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => g.fbcast(Buffer.alloc(1000))).map((p) => Promise.race([p, new Promise((r) => setImmediate(() => r('held')))])),
    );
    assert.equal(results.filter((r) => r.status === 'rejected').length, 10);
    assert.equal(g.pendingSendBytes, 10_000);
    const { g: g2 } = pair('NAK:COM', { maxPendingBytes: 10 });
    g2.upEvent({ type: 'BLOCKED', reason: 'flush' });
    void g2.fbcast(Buffer.alloc(1000));
    assert.equal(g2.pendingSends, 1);
    await assert.rejects(g2.fbcast(Buffer.alloc(1)), { code: 'ERR_BACKPRESSURE' });
  });

  it('refuses nonsense limits with ERR_CONFIG', () => {
    assert.throws(() => pair('NAK:COM', { maxPendingSends: 0 }), { code: 'ERR_CONFIG' });
    assert.throws(() => pair('NAK:COM', { whenFull: 'drop' as 'wait' }), { code: 'ERR_CONFIG' });
    const world = new SimWorld(2);
    assert.throws(() => new HorusNode(world.addNode('z:1', '1').env, undefined, [], { directory: { maxEntries: -1 } }), { code: 'ERR_CONFIG' });
  });

  it("whenFull: 'wait' parks sends beyond the limit and sends them in order once room is made", async () => {
    const { world, g, got } = pair('NAK:COM', { maxPendingSends: 2, whenFull: 'wait' });
    g.upEvent({ type: 'BLOCKED', reason: 'flush' });
    const sent: number[] = [];
    const ps = [0, 1, 2, 3].map((i) => g.fbcast(i).then(() => sent.push(i)));
    assert.equal(g.pendingSends, 4);
    // The waiting line is bounded by the same limits.
    await assert.rejects(g.fbcast(4), { code: 'ERR_BACKPRESSURE' });
    g.upEvent({ type: 'UNBLOCKED' });
    await Promise.all(ps);
    world.runFor(200);
    assert.deepEqual(sent, [0, 1, 2, 3]);
    assert.deepEqual(got, [0, 1, 2, 3]);
  });
});
