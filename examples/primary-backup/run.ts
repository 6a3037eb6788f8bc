// An order book kept by primary-backup on three member processes: the primary (the view's oldest
// member) executes each order and forwards the change; a client outside the group places orders,
// five at a time, and the primary is killed with SIGKILL while some are in flight. The client follows the new primary; no order is lost
// or placed twice. Run: npx tsx examples/primary-backup/run.ts
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNode, PrimaryBackup, type PrimaryBackupMachine } from '../../src/index.js';
import { startMembers, stopAll } from '../shared/members.js';

class OrderBook implements PrimaryBackupMachine {
  orders: string[] = [];
  execute(request: unknown): { update: unknown; reply: unknown } {
    const item = String((request as { item?: unknown })?.item);
    // The primary decides (here: the order number); backups only apply what it decided.
    return { update: item, reply: { orderNo: this.orders.length + 1, item } };
  }
  applyUpdate(update: unknown): void {
    this.orders.push(update as string);
  }
  snapshot(): unknown {
    return this.orders;
  }
  restore(s: unknown): void {
    this.orders = [...(s as string[])];
  }
}

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  const pb = await PrimaryBackup.join(node, 'orders', new OrderBook());
  pb.group.on('view', (v) => console.log(`view ${v.id}: primary ${v.members[0]}${pb.isPrimary ? ' (me)' : ''}`));
  console.log(`ready ${pb.group.localId}`);
} else {
  const members = await startMembers(fileURLToPath(import.meta.url), 3);
  const node = await createNode({ listen: '127.0.0.1:0', seeds: members.map((m) => m.endpoint) });
  const client = await node.client('orders', { attemptTimeoutMs: 1500 });
  const numbers: number[] = [];
  // Five orders in flight at a time; the primary is killed while a batch is on its way.
  for (let i = 0; i < 60; i += 5) {
    const batch = Array.from({ length: 5 }, (_, k) => client.request({ item: `order-${i + k}` }));
    if (i === 25) {
      await sleep(2);
      const primary = members[0]!; // the founder heads the view
      console.log(`kill -9 the primary ${primary.id} with orders in flight`);
      primary.kill();
    }
    for (const r of (await Promise.all(batch)) as { orderNo: number }[]) numbers.push(r.orderNo);
  }
  const ok = [...numbers].sort((a, b) => a - b).every((n, i) => n === i + 1);
  console.log(`order numbers 1..60, none lost or repeated: ${ok}; the client now talks to ${client.target}`);
  client.close();
  await node.close();
  stopAll(members);
  process.exit(ok ? 0 : 1);
}
