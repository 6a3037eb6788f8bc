// Three member processes take turns at a lock guarding a shared file-like resource; each grant
// carries a fencing token. The holder is killed with SIGKILL while it holds the lock: its grant
// goes with it at the view change, the others carry on, and tokens keep growing, so the resource
// can refuse a writer that comes back with an old one. Run: npx tsx examples/locks/run.ts
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNode, LockService } from '../../src/index.js';
import { startMembers, stopAll, type Member } from '../shared/members.js';

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  const locks = await LockService.join(node, 'locks');
  console.log(`ready ${locks.group.localId}`);
  for (;;) {
    const grant = await locks.lock('ledger');
    console.log(`holds ledger, token ${grant.token.grant} (view ${grant.token.viewId})`);
    await sleep(100); // write to the resource, presenting grant.token
    await grant.release();
    await sleep(20);
  }
} else {
  const grants: { endpoint: string; token: number }[] = [];
  const members: Member[] = await startMembers(fileURLToPath(import.meta.url), 3, (endpoint, line) => {
    const m = /token (\d+)/.exec(line);
    if (m) grants.push({ endpoint, token: Number(m[1]) });
  });
  while (grants.length < 10) await sleep(20);
  const holder = grants.at(-1)!;
  console.log(`kill -9 ${holder.endpoint} while it holds token ${holder.token}`);
  members.find((m) => m.endpoint === holder.endpoint)!.kill();
  const before = grants.length;
  const deadline = Date.now() + 15_000;
  while (grants.length < before + 10 && Date.now() < deadline) await sleep(20);
  const after = grants.slice(before);
  const ok = after.length >= 10 && after.every((g) => g.endpoint !== holder.endpoint && g.token > holder.token);
  console.log(`the others got ${after.length} grants after the kill, all with newer tokens: ${ok}`);
  stopAll(members);
  process.exit(ok ? 0 : 1);
}
