// A counter replicated on three member processes and this one. This process increments it 300
// times while the group's coordinator (the oldest member, which also sequences abcasts) is killed
// with SIGKILL: every increment that resolved is counted, none twice.
// Run: npx tsx examples/counters/run.ts
import { fileURLToPath } from 'node:url';
import { createNode, CounterService } from '../../src/index.js';
import { startMembers, stopAll } from '../shared/members.js';

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  const counters = await CounterService.join(node, 'stats');
  console.log(`ready ${counters.group.localId}`);
} else {
  const members = await startMembers(fileURLToPath(import.meta.url), 3);
  const node = await createNode({ listen: '127.0.0.1:0', seeds: members.map((m) => m.endpoint) });
  const counters = await CounterService.join(node, 'stats');
  const values: number[] = [];
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < 300; i++) {
    if (i === 100) {
      console.log(`kill -9 the coordinator ${members[0]!.id}`);
      members[0]!.kill();
    }
    inFlight.push(counters.incrementAndGet('visits').then((v) => void values.push(v)));
    if (i % 10 === 9) await Promise.all(inFlight.splice(0)); // ten at a time
  }
  await Promise.all(inFlight);
  const total = await counters.read('visits');
  const distinct = new Set(values).size;
  const ok = total === 300 && distinct === 300;
  console.log(`counter ${total} after 300 increments, ${distinct} distinct results: ${ok ? 'none lost, none doubled' : 'WRONG'}`);
  await node.close();
  stopAll(members);
  process.exit(ok ? 0 : 1);
}
