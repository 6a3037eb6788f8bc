import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, FAST_STACK } from '../helpers/sim-cluster.js';
import type { Group } from '../../src/api/group.js';
import { Ledger, type BuyOrder, type LedgerSnapshot } from '../../examples/trading/ledger.js';
import { SeededRng } from '../../src/core/rng.js';

const CURRENCIES = ['EUR', 'JPY', 'GBP', 'CHF', 'AUD'];

describe('trading example: a replicated ledger held by abcast', () => {
  it('never breaks the 20% rule at any member, and replicas agree, under crashes and joins', () => {
    const c = new SimCluster(31, { loss: 0.02 });
    const stack = ['TOTAL', 'CAUSAL', ...(FAST_STACK as object[])] as never;
    const replicas = new Map<string, { group: Group; ledger: Ledger; alive: boolean }>();
    let broken: string | null = null;
    const start = (ep: string, contacts: string[]): void => {
      c.start(ep);
      const ledger = new Ledger();
      const group = c.nodes.get(ep)!.joinNow('trading', {
        contacts,
        stack,
        state: { get: () => ledger.snapshot(), set: (s) => ledger.restore(s as LedgerSnapshot) },
      });
      group.on('message', (m) => {
        ledger.apply(m.payload as BuyOrder);
        if (!ledger.ruleHolds()) broken ??= `${group.localId} after ${JSON.stringify(m.payload)}`;
      });
      replicas.set(ep, { group, ledger, alive: true });
    };
    const eps = ['t1:1', 't2:1', 't3:1', 't4:1', 't5:1'];
    eps.forEach((e, i) => {
      start(e, i === 0 ? [] : eps.slice(0, i));
      c.run(100);
    });
    c.run(1500);
    const rng = new SeededRng(5);
    const trade = (): void => {
      for (const [ep, r] of replicas) {
        if (!r.alive || r.group.view.id === 0) continue;
        void r.group.abcast({ trader: ep, currency: CURRENCIES[rng.int(0, CURRENCIES.length - 1)]!, amount: rng.int(1_000, 60_000) } satisfies BuyOrder);
      }
    };
    for (let t = 0; t < 600; t++) {
      trade();
      c.run(10);
      if (t === 150) {
        replicas.get('t1:1')!.alive = false; // the sequencer
        c.world.crash('t1:1');
      }
      if (t === 300) start('t6:1', ['t2:1', 't3:1']); // a joiner gets the ledger by state transfer
      if (t === 400) {
        replicas.get('t3:1')!.alive = false;
        c.world.crash('t3:1');
      }
    }
    c.run(8000);
    assert.equal(broken, null, `the rule broke: ${broken}`);
    const live = [...replicas.values()].filter((r) => r.alive);
    const digests = new Set(live.map((r) => r.ledger.digest()));
    assert.equal(digests.size, 1, 'every live replica holds the same ledger');
    const l = live[0]!.ledger;
    assert.ok(l.applied > 20 && l.rejected > 100, `trading happened and the rule bit (${l.applied} applied, ${l.rejected} rejected)`);
    assert.equal(live.length, 4);
    for (const r of live) assert.equal(r.group.view.members.length, 4);
  });
});
