// Isis' coordinator-cohort on three member processes: each request is broadcast, one member
// (picked from the view by the request) does the slow work and the others watch. A coordinator
// is killed with SIGKILL in the middle of its requests; a cohort takes them over, and the client
// gets exactly one answer per request. Run: npx tsx examples/coordinator-cohort/run.ts
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNode, CoordinatorCohort } from '../../src/index.js';
import { startMembers, stopAll } from '../shared/members.js';

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  const cc = await CoordinatorCohort.join(node, 'render', async (request, info) => {
    if (info.attempt > 1) console.log(`taking over request ${info.id} (attempt ${info.attempt})`);
    await sleep(300); // the slow part: rendering, a call to another service...
    return { page: request, by: node.id };
  });
  console.log(`ready ${cc.group.localId}`);
} else {
  const members = await startMembers(fileURLToPath(import.meta.url), 3);
  const node = await createNode({ listen: '127.0.0.1:0', seeds: members.map((m) => m.endpoint) });
  const client = await node.client('render', { attemptTimeoutMs: 5000, timeoutMs: 20_000 });
  await client.request('warm-up');
  const entry = client.target;
  // Kill a member that is not the client's entry point: it coordinates some of the requests.
  const victim = members.find((m) => m.id !== entry)!;
  const pending = Array.from({ length: 12 }, (_, i) => client.request(`page-${i}`));
  await sleep(100);
  console.log(`kill -9 ${victim.id} while it coordinates`);
  victim.kill();
  const answers = (await Promise.all(pending)) as { page: string; by: string }[];
  const ok = answers.every((a, i) => a.page === `page-${i}` && a.by !== victim.id);
  for (const a of answers) console.log(`  ${a.page} by ${a.by}`);
  console.log(`one answer per request, none from the killed coordinator: ${ok}`);
  client.close();
  await node.close();
  stopAll(members);
  process.exit(ok ? 0 : 1);
}
