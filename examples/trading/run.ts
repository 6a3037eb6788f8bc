// Traders at three real nodes on loopback buy currencies concurrently against a replicated
// ledger held by abcast. Run: npx tsx examples/trading/run.ts
import { createNode, type Group } from '../../src/index.js';
import { Ledger, type BuyOrder, type LedgerSnapshot } from './ledger.js';

const CURRENCIES = ['EUR', 'JPY', 'GBP', 'CHF', 'AUD', 'CAD'];

async function replica(port: number, seeds: string[]): Promise<{ group: Group; ledger: Ledger; close: () => Promise<void> }> {
  const node = await createNode({ listen: `127.0.0.1:${port}`, seeds });
  const ledger = new Ledger();
  const group = await node.join('trading', { state: { get: () => ledger.snapshot(), set: (s) => ledger.restore(s as LedgerSnapshot) } });
  group.on('message', (m) => {
    ledger.apply(m.payload as BuyOrder);
    if (!ledger.ruleHolds()) throw new Error(`rule broken at ${group.localId}`);
  });
  return { group, ledger, close: () => node.close() };
}

const base = 17_000 + Math.floor(Math.random() * 20_000);
const first = await replica(base, []);
const others = [await replica(base + 1, [`127.0.0.1:${base}`]), await replica(base + 2, [`127.0.0.1:${base}`])];
const all = [first, ...others];
console.log(`view: ${first.group.view.members.join(' ')}`);
// Every trader tries to buy as much as it can, all at once: abcast makes them agree on who wins.
await Promise.all(
  all.map(async (r, i) => {
    for (let k = 0; k < 200; k++) {
      const order: BuyOrder = { trader: `t${i}`, currency: CURRENCIES[(i + k) % CURRENCIES.length]!, amount: 5_000 + ((k * 7919) % 20_000) };
      await r.group.abcast(order);
    }
  }),
);
await new Promise((r) => setTimeout(r, 1500));
for (const r of all) console.log(`${r.group.localId}: applied ${r.ledger.applied}, rejected ${r.ledger.rejected}, rule holds: ${r.ledger.ruleHolds()}`);
const digests = new Set(all.map((r) => r.ledger.digest()));
console.log(digests.size === 1 ? 'all replicas agree' : 'REPLICAS DIFFER');
for (const r of all) await r.close();
process.exit(digests.size === 1 ? 0 : 1);
