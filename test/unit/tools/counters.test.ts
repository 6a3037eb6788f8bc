import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCluster } from '../../helpers/tools-cluster.js';
import { CounterService } from '../../../src/tools/counters.js';

function counterCluster(n: number, seed: number): { c: ToolCluster; counters: CounterService[] } {
  const c = new ToolCluster(seed);
  const counters: CounterService[] = [];
  for (let i = 0; i < n; i++) {
    const s = new CounterService();
    s.attach(c.add(`t${i + 1}:1`, s.state));
    counters.push(s);
    c.run(200);
  }
  c.run(1500);
  return { c, counters };
}

describe('CounterService', () => {
  for (const seed of [31, 32, 33]) {
    it(`loses no increment when the coordinator crashes in the middle of them (seed ${seed})`, async () => {
      const { c, counters } = counterCluster(4, seed);
      c.world.setNetwork({ loss: 0.02 });
      const survivors = [];
      for (let k = 0; k < 40; k++) {
        for (const s of counters.slice(1)) survivors.push(s.addAndGet('hits', 1));
        // The coordinator's increments count 1000 each: those delivered show in the thousands.
        void counters[0]!.addAndGet('hits', 1000).catch(() => {});
        if (k === 20) c.world.crash('t1:1');
        c.run(3);
      }
      const values = await c.settle(Promise.all(survivors), 30_000);
      c.world.setNetwork({ loss: 0 });
      c.run(500);
      assert.equal(new Set(values).size, values.length, 'every increment saw its own value');
      const final = counters[1]!.get('hits');
      for (const s of counters.slice(2)) assert.equal(s.get('hits'), final);
      assert.equal(final % 1000, 120, `all 120 survivor increments are in ${final}`);
      assert.equal(await c.settle(counters[2]!.read('hits')), final);
    });
  }

  it('compareAndSet and set decide the same everywhere; bad arguments are typed errors', async () => {
    const { c, counters } = counterCluster(3, 34);
    await c.settle(counters[0]!.set('v', 5));
    const r = await c.settle(Promise.all(counters.map((s, i) => s.compareAndSet('v', 5, 100 + i))));
    assert.equal(r.filter(Boolean).length, 1);
    c.run(200);
    for (const s of counters) assert.equal(s.get('v'), 100 + r.indexOf(true));
    await assert.rejects(counters[0]!.addAndGet('v', 0.5), { code: 'ERR_INVALID_ARGUMENT' });
    await c.settle(counters[0]!.set('big', Number.MAX_SAFE_INTEGER));
    await assert.rejects(c.settle(counters[1]!.addAndGet('big', 1)), { code: 'ERR_INVALID_ARGUMENT' });
    c.run(200);
    for (const s of counters) assert.equal(s.get('big'), Number.MAX_SAFE_INTEGER);
  });
});
