// A bank account replicated on three member processes (ReplicatedService); a client outside the
// group deposits 1 a hundred times while the member it talks to is killed with SIGKILL. The client
// fails over, retries with the same request ids, and the balance counts every deposit once.
// Run: npx tsx examples/client-failover/run.ts
import { fileURLToPath } from 'node:url';
import { createNode, ReplicatedService, type ServiceMachine } from '../../src/index.js';
import { startMembers, stopAll } from '../shared/members.js';

class Account implements ServiceMachine {
  balance = 0;
  apply(request: unknown): unknown {
    const r = request as { deposit?: number };
    if (typeof r?.deposit !== 'number') throw new Error('unknown request');
    this.balance += r.deposit;
    return this.balance;
  }
  snapshot(): unknown {
    return this.balance;
  }
  restore(s: unknown): void {
    this.balance = s as number;
  }
}

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  const service = await ReplicatedService.join(node, 'account', new Account());
  console.log(`ready ${service.group.localId}`);
} else {
  const members = await startMembers(fileURLToPath(import.meta.url), 3);
  const node = await createNode({ listen: '127.0.0.1:0', seeds: members.map((m) => m.endpoint) });
  const client = await node.client('account', { attemptTimeoutMs: 1500 });
  const balances: number[] = [];
  let killedAt = 0;
  for (let i = 0; i < 100; i++) {
    if (i === 40) {
      const victim = members.find((m) => m.id === client.target)!;
      console.log(`kill -9 ${victim.id}, the member the client talks to`);
      victim.kill();
      killedAt = Date.now();
    }
    balances.push((await client.request({ deposit: 1 })) as number);
    if (i === 40) console.log(`request 41 answered by ${client.target} ${Date.now() - killedAt} ms after the kill`);
  }
  const once = balances.every((b, i) => b === i + 1);
  console.log(`balances 1..100 in order, each deposit applied once: ${once}`);
  client.close();
  await node.close();
  stopAll(members);
  process.exit(once ? 0 : 1);
}
