import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, FAST_STACK } from '../../helpers/sim-cluster.js';
import type { Group } from '../../../src/api/group.js';
import type { Delivery } from '../../../src/api/delivery.js';
import type { SimWorldOptions } from '../../../src/sim/sim-world.js';

function cluster(n: number, seed = 1, net: SimWorldOptions = {}): { c: SimCluster; groups: Group[] } {
  const c = new SimCluster(seed, net);
  const stack = ['TOTAL', 'CAUSAL', ...(FAST_STACK as object[])] as never;
  const groups: Group[] = [];
  for (let i = 0; i < n; i++) {
    const e = `d${i + 1}:1`;
    c.start(e);
    groups.push(c.nodes.get(e)!.joinNow('g', { contacts: i === 0 ? [] : ['d1:1'], stack }));
    c.run(100);
  }
  c.run(1500);
  for (const g of groups) assert.equal(g.view.members.length, n, 'every member is in one view');
  return { c, groups };
}

describe('group.send: point-to-point messages', () => {
  it('delivers every message once and in order per sender, even with 20% of frames lost and duplicated', async () => {
    const { c, groups } = cluster(3, 4);
    c.world.setNetwork({ loss: 0.2, duplicate: 0.1 });
    const got: Delivery[] = [];
    groups[2]!.on('direct', (d) => got.push(d));
    const to = groups[2]!.localId;
    for (let i = 0; i < 200; i++) {
      await groups[0]!.send(to, { from: 0, i });
      await groups[1]!.send(to, { from: 1, i });
    }
    for (let t = 0; t < 100 && got.length < 400; t++) c.run(50);
    c.world.setNetwork({ loss: 0, duplicate: 0 });
    c.run(500);
    assert.equal(got.length, 400);
    for (const from of [0, 1]) {
      const seen = got.map((d) => d.payload as { from: number; i: number }).filter((p) => p.from === from);
      assert.deepEqual(
        seen.map((p) => p.i),
        Array.from({ length: 200 }, (_, i) => i),
      );
    }
    assert.equal(groups[0]!.directStats.unacked, 0, 'everything acknowledged in the end');
    assert.ok(got.every((d) => d.sender === groups[0]!.localId || d.sender === groups[1]!.localId));
  });

  it('is not delivered as a multicast, and multicasts are not delivered as direct messages', async () => {
    const { c, groups } = cluster(3, 5);
    const direct: unknown[][] = [[], [], []];
    const cast: unknown[][] = [[], [], []];
    groups.forEach((g, i) => {
      g.on('direct', (d) => direct[i]!.push(d.payload));
      g.on('message', (d) => cast[i]!.push(d.payload));
    });
    await c.settle(groups[0]!.abcast('everyone'));
    await c.settle(groups[0]!.send(groups[1]!.localId, 'only you'));
    c.run(300);
    assert.deepEqual(direct, [[], ['only you'], []]);
    assert.deepEqual(cast, [['everyone'], ['everyone'], ['everyone']]);
  });

  it('refuses a target outside the view, and the sender itself', async () => {
    const { groups } = cluster(2, 6);
    await assert.rejects(groups[0]!.send('nobody:1/1', 'x'), { code: 'ERR_UNKNOWN_MEMBER' });
    await assert.rejects(groups[0]!.send(groups[0]!.localId, 'x'), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(
      groups[0]!.send(groups[1]!.localId, () => 1),
      { code: 'ERR_INVALID_ARGUMENT' },
    );
  });
});

describe('group.call: point-to-point RPC', () => {
  it('returns the handler value, sync or async, under loss', async () => {
    const { c, groups } = cluster(3, 7);
    groups[1]!.onCall((req) => ({ echo: req.payload, by: 1 }));
    groups[2]!.onCall(async (req) => ({ echo: req.payload, by: 2 }));
    c.world.setNetwork({ loss: 0.2 });
    const results = await c.settle(Promise.all(Array.from({ length: 40 }, (_, i) => groups[0]!.call(groups[1 + (i % 2)]!.localId, i, { timeoutMs: 20_000 }))));
    assert.deepEqual(
      results,
      Array.from({ length: 40 }, (_, i) => ({ echo: i, by: 1 + (i % 2) })),
    );
  });

  it('fails at once with ERR_MEMBER_LEFT when the target crashes, long before the timeout', async () => {
    const { c, groups } = cluster(3, 8);
    groups[2]!.onCall(() => new Promise(() => {})); // never answers
    const started = c.world.now();
    const p = groups[0]!.call(groups[2]!.localId, 'x', { timeoutMs: 60_000 });
    c.run(50);
    c.world.crash('d3:1');
    await assert.rejects(c.settle(p), { code: 'ERR_MEMBER_LEFT' });
    assert.ok(c.world.now() - started < 10_000, `failed after ${c.world.now() - started} ms, not at the 60 s timeout`);
    assert.equal(groups[0]!.directStats.pendingCalls, 0);
  });

  it('fails with ERR_REMOTE when the handler throws or is missing, ERR_TIMEOUT when it never answers', async () => {
    const { c, groups } = cluster(3, 9);
    groups[1]!.onCall(() => {
      throw new Error('no such account');
    });
    await assert.rejects(c.settle(groups[0]!.call(groups[1]!.localId, 'x')), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_REMOTE');
      assert.match(e.message, /no such account/);
      return true;
    });
    await assert.rejects(c.settle(groups[0]!.call(groups[2]!.localId, 'x')), { code: 'ERR_REMOTE' }); // no handler
    groups[2]!.onCall(() => new Promise(() => {}));
    await assert.rejects(c.settle(groups[0]!.call(groups[2]!.localId, 'x', { timeoutMs: 300 })), { code: 'ERR_TIMEOUT' });
    await assert.rejects(c.settle(groups[0]!.call('stranger:9/1', 'x')), { code: 'ERR_UNKNOWN_MEMBER' });
    assert.equal(groups[0]!.directStats.pendingCalls, 0);
  });

  it('each unanswered call times out at its own deadline, whatever order the deadlines come in and whatever was answered before', async () => {
    const { c, groups } = cluster(3, 11);
    groups[1]!.onCall((d) => d.payload);
    groups[2]!.onCall(() => new Promise(() => {}));
    const to = groups[2]!.localId;
    // Answered calls first (with the default 5 s timeout): their deadline must not hold back shorter ones after them.
    for (let i = 0; i < 3; i++) assert.equal(await c.settle(groups[0]!.call(groups[1]!.localId, i)), i);
    const failedAt = new Map<number, number>();
    const t0 = c.world.now();
    const calls = [900, 300, 600, 300, 1200].map((timeoutMs, i) =>
      groups[0]!.call(to, i, { timeoutMs }).then(
        () => assert.fail('a call to a handler that never answers resolved'),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'ERR_TIMEOUT');
          failedAt.set(i, c.world.now() - t0);
        },
      ),
    );
    await c.settle(Promise.all(calls));
    for (const [i, timeoutMs] of [900, 300, 600, 300, 1200].entries()) {
      const at = failedAt.get(i)!;
      assert.ok(at >= timeoutMs && at < timeoutMs + 50, `call ${i} (timeout ${timeoutMs} ms) failed after ${at} ms`);
    }
    assert.equal(groups[0]!.directStats.pendingCalls, 0);
    // And a call answered in time is not failed by a deadline timer left from before.
    assert.equal(await c.settle(groups[0]!.call(groups[1]!.localId, 'late', { timeoutMs: 100 })), 'late');
    c.run(6000);
    assert.equal(groups[0]!.directStats.pendingCalls, 0);
  });

  it('a forged reply from a member the call did not go to is dropped', async () => {
    const { c, groups } = cluster(3, 10);
    groups[1]!.onCall(() => 'real');
    // groups[2] answers a "call" of its own with call id 1 to groups[0]: it never asked d3, so it is not a reply.
    groups[0]!.onCall(() => 'irrelevant');
    const p = groups[0]!.call(groups[1]!.localId, 'x');
    const r = await c.settle(p);
    assert.equal(r, 'real');
  });
});
