import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCluster } from '../../helpers/tools-cluster.js';
import { CoordinatorCohort } from '../../../src/tools/coordinator-cohort.js';
import type { Group } from '../../../src/api/group.js';

function ccCluster(seed: number, workMs: number): { c: ToolCluster; ccs: CoordinatorCohort[]; runs: string[] } {
  const c = new ToolCluster(seed);
  const ccs: CoordinatorCohort[] = [];
  const runs: string[] = [];
  for (let i = 0; i < 4; i++) {
    let g: Group | null = null;
    const cc = new CoordinatorCohort(
      (req, info) =>
        new Promise((resolve) => {
          runs.push(`${info.id}@${info.requester}#${info.attempt}`);
          g!.timers.setTimer(workMs, () => resolve({ req, by: g!.localId }));
        }),
    );
    g = c.add(`t${i + 1}:1`, cc.state);
    cc.attach(g);
    ccs.push(cc);
    c.run(200);
  }
  c.run(1500);
  return { c, ccs, runs };
}

describe('CoordinatorCohort', () => {
  for (const seed of [61, 62, 63]) {
    it(`a coordinator killed mid-request: a cohort takes over, and each request gets exactly one result (seed ${seed})`, async () => {
      const { c, ccs, runs } = ccCluster(seed, 100);
      const clientNode = c.start('client:1', ['t1:1', 't2:1', 't3:1', 't4:1']);
      const client = await c.settle(clientNode.client('tools', { attemptTimeoutMs: 2000, timeoutMs: 30_000 }));
      const replies: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) replies.push(client.request(i));
      c.run(50); // every request is out, none is finished (work takes 100 ms)
      // Kill a member that coordinates some request, but not the one the client talks to.
      const victim = ccs.find((cc) => cc.group.localId !== client.target && runs.some((r) => r.includes('#1')) && cc.openRequests > 0)!;
      const victimId = victim.group.localId;
      c.world.crash(victimId.split('/')[0]!);
      const got = (await c.settle(Promise.all(replies), 30_000)) as { req: number; by: string }[];
      assert.deepEqual(
        got.map((g) => g.req),
        Array.from({ length: 20 }, (_, i) => i),
      );
      assert.ok(
        got.every((g) => g.by !== victimId),
        'no result from the killed coordinator (it died before finishing)',
      );
      c.run(500);
      const live = ccs.filter((cc) => cc !== victim);
      for (const cc of live) {
        assert.equal(cc.results, 20, 'exactly one result delivered per request');
        assert.equal(cc.openRequests, 0);
      }
      assert.ok(live.reduce((s, cc) => s + cc.takeovers, 0) > 0, 'a cohort took over');
      assert.ok(runs.some((r) => r.endsWith('#2')));
    });
  }

  it('a member request works the same way, and a failing handler fails it with its code', async () => {
    const c = new ToolCluster(64);
    const ccs: CoordinatorCohort[] = [];
    for (let i = 0; i < 3; i++) {
      const cc = new CoordinatorCohort((req) => {
        if (req === 'bad') throw new Error('refused');
        return (req as number) * 2;
      });
      cc.attach(c.add(`t${i + 1}:1`, cc.state));
      ccs.push(cc);
      c.run(200);
    }
    c.run(1500);
    assert.equal(await c.settle(ccs[1]!.request(21)), 42);
    await assert.rejects(c.settle(ccs[2]!.request('bad')), { code: 'ERR_REMOTE', message: /refused/ });
  });
});
