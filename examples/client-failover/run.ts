// A bank account replicated on three member processes (ReplicatedService); a client outside the
// group deposits 1 a hundred times, four at a time, and the member it talks to is killed with
// SIGKILL while some are in flight. The client
// fails over, retries with the same request ids, and the balance counts every deposit once.
// Run: npx tsx examples/client-failover/run.ts
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
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
  // Four deposits in flight at a time; the client's member is killed while some are on their way.
  for (let i = 0; i < 100; i += 4) {
    const batch = Array.from({ length: 4 }, () => client.request({ deposit: 1 }));
    let killedAt = 0;
    if (i === 40) {
      await sleep(2);
      const victim = members.find((m) => m.id === client.target)!;
      console.log(`kill -9 ${victim.id}, the member the client talks to, with deposits in flight`);
      victim.kill();
      killedAt = Date.now();
    }
    balances.push(...((await Promise.all(batch)) as number[]));
    if (killedAt > 0) console.log(`deposits ${i + 1}..${i + 4} answered by ${client.target} ${Date.now() - killedAt} ms after the kill`);
  }
  const once = [...balances].sort((a, b) => a - b).every((b, i) => b === i + 1);
  console.log(`balances 1..100, each deposit applied once: ${once}`);
  client.close();
  await node.close();
  stopAll(members);
  process.exit(once ? 0 : 1);
}
