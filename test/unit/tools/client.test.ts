import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCluster } from '../../helpers/tools-cluster.js';
import { ReplicatedService, type ServiceMachine } from '../../../src/tools/replicated-service.js';

/** A counter that says which value each increment made. */
class CounterMachine implements ServiceMachine {
  n = 0;
  apply(req: unknown): unknown {
    if (req === 'inc') return ++this.n;
    if (req === 'get') return this.n;
    throw new Error(`unknown request ${String(req)}`);
  }
  snapshot(): unknown {
    return this.n;
  }
  restore(s: unknown): void {
    this.n = s as number;
  }
}

function serviceCluster(seed: number): { c: ToolCluster; machines: CounterMachine[]; services: ReplicatedService[] } {
  const c = new ToolCluster(seed);
  const machines: CounterMachine[] = [];
  const services: ReplicatedService[] = [];
  for (let i = 0; i < 3; i++) {
    const m = new CounterMachine();
    const s = new ReplicatedService(m);
    s.attach(c.add(`t${i + 1}:1`, s.state));
    machines.push(m);
    services.push(s);
    c.run(200);
  }
  c.run(1500);
  return { c, machines, services };
}

describe('node.client with a ReplicatedService', () => {
  for (const seed of [41, 42, 43]) {
    it(`fails over when the member it talks to crashes, and every request takes effect once (seed ${seed})`, async () => {
      const { c, machines } = serviceCluster(seed);
      const clientNode = c.start('client:1', ['t1:1', 't2:1', 't3:1']);
      const client = await c.settle(clientNode.client('tools', { attemptTimeoutMs: 400, timeoutMs: 20_000 }));
      assert.equal(client.knownMembers.length, 3);
      const first = await c.settle(client.request('inc'));
      assert.equal(first, 1);
      const target = client.target!;
      const victim = target.split('/')[0]!;
      const replies: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        replies.push(client.request('inc'));
        if (i === 20) c.world.crash(victim);
        c.run(2);
      }
      const got = (await c.settle(Promise.all(replies), 30_000)) as number[];
      assert.notEqual(client.target, target, 'the client moved to another member');
      assert.deepEqual(
        [...got].sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i + 2),
        'each request got its own value: none applied twice, none lost',
      );
      c.run(500);
      const live = machines.filter((_, i) => `t${i + 1}:1` !== victim);
      for (const m of live) assert.equal(m.n, 41);
    });
  }

  it('a retried request id is answered from the reply cache, not applied again', async () => {
    const { c, machines, services } = serviceCluster(44);
    const clientNode = c.start('client:1', ['t1:1']);
    const client = await c.settle(clientNode.client('tools', { attemptTimeoutMs: 300 }));
    // The member asked first applies the request but never answers: the client retries elsewhere.
    const g0 = services.find((s) => s.group.localId === client.knownMembers[0])!.group;
    const real = g0.requestHandler!;
    g0.onRequest(async (req) => {
      await real(req);
      return new Promise(() => {});
    });
    const r = await c.settle(client.request('inc'), 10_000);
    assert.equal(r, 1);
    c.run(300);
    for (const m of machines) assert.equal(m.n, 1, 'applied once');
    assert.ok(
      services.some((s) => s.cacheHits > 0),
      'the retry was answered from the cache',
    );
  });

  it('a client for an unknown group is ERR_UNKNOWN_GROUP; a failing request passes its error back', async () => {
    const { c } = serviceCluster(45);
    const clientNode = c.start('client:1', ['t1:1', 't2:1']);
    await assert.rejects(c.settle(clientNode.client('no-such-group')), { code: 'ERR_UNKNOWN_GROUP' });
    const client = await c.settle(clientNode.client('tools'));
    await assert.rejects(c.settle(client.request('explode')), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_REMOTE');
      assert.match(e.message, /unknown request explode/);
      return true;
    });
    assert.equal(await c.settle(client.request('get')), 0);
  });
});
