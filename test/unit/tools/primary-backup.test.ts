import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCluster } from '../../helpers/tools-cluster.js';
import { PrimaryBackup, type PrimaryBackupMachine } from '../../../src/tools/primary-backup.js';
import type { Group } from '../../../src/api/group.js';

class Counter implements PrimaryBackupMachine {
  n = 0;
  execute(req: unknown): { update: unknown; reply: unknown } {
    if (req !== 'inc') throw new Error('unknown request');
    return { update: this.n + 1, reply: this.n + 1 };
  }
  applyUpdate(u: unknown): void {
    this.n = u as number;
  }
  snapshot(): unknown {
    return this.n;
  }
  restore(s: unknown): void {
    this.n = s as number;
  }
}

function pbCluster(seed: number): { c: ToolCluster; machines: Counter[]; pbs: PrimaryBackup[]; actingPerView: Map<number, Set<string>> } {
  const c = new ToolCluster(seed);
  const machines: Counter[] = [];
  const pbs: PrimaryBackup[] = [];
  // Who forwarded updates in each view, as every member saw it: never two senders in one view.
  const actingPerView = new Map<number, Set<string>>();
  for (let i = 0; i < 3; i++) {
    const m = new Counter();
    const pb = new PrimaryBackup(m);
    const g: Group = c.add(`t${i + 1}:1`, pb.state);
    pb.attach(g);
    g.on('message', (d) => {
      const p = d.payload;
      if (Array.isArray(p) && p[0] === 'horus.pb') {
        const s = actingPerView.get(d.viewId) ?? new Set<string>();
        s.add(d.sender);
        actingPerView.set(d.viewId, s);
      }
    });
    machines.push(m);
    pbs.push(pb);
    c.run(200);
  }
  c.run(1500);
  return { c, machines, pbs, actingPerView };
}

describe('PrimaryBackup', () => {
  for (const seed of [51, 52, 53]) {
    it(`kill the primary mid-requests: the client follows the new primary, each request takes effect once, never two primaries in a view (seed ${seed})`, async () => {
      const { c, machines, pbs, actingPerView } = pbCluster(seed);
      const primary = pbs.find((p) => p.isPrimary)!;
      assert.equal(pbs.filter((p) => p.isPrimary).length, 1);
      const clientNode = c.start('client:1', ['t1:1', 't2:1', 't3:1']);
      const client = await c.settle(clientNode.client('tools', { attemptTimeoutMs: 400, timeoutMs: 20_000 }));
      const replies: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) {
        replies.push(client.request('inc'));
        if (i === 15) c.world.crash(primary.group.localId.split('/')[0]!);
        c.run(3);
      }
      const got = (await c.settle(Promise.all(replies), 30_000)) as number[];
      assert.deepEqual(
        [...got].sort((a, b) => a - b),
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
      c.run(500);
      const live = pbs.filter((p) => p !== primary);
      for (const p of live) assert.equal(machines[pbs.indexOf(p)]!.n, 30);
      assert.equal(live.filter((p) => p.isPrimary).length, 1, 'one new primary');
      for (const [view, senders] of actingPerView) assert.equal(senders.size, 1, `view ${view} had forwards from ${[...senders].join(', ')}`);
      assert.equal(
        live.reduce((s, p) => s + p.rejectedForwards, 0),
        0,
      );
    });
  }

  it('a backup sends its own requests to the primary; a failing request changes nothing', async () => {
    const { c, machines, pbs } = pbCluster(54);
    const backup = pbs.find((p) => !p.isPrimary)!;
    assert.equal(await c.settle(backup.request('inc')), 1);
    await assert.rejects(c.settle(backup.request('nope')), { code: 'ERR_REMOTE' });
    c.run(300);
    for (const m of machines) assert.equal(m.n, 1);
  });
});
