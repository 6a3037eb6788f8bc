// The resource and recovery manager in a program: three member processes offer resources and a
// handler; a client outside the group submits a job that needs the label `worker`; the member
// running it is killed with SIGKILL, and the job runs again on another member, with a newer
// fencing token. Run: npx tsx examples/jobs/run.ts
import { fileURLToPath } from 'node:url';
import { createNode, JobsService, type JobInfo, type JobContext } from '../../src/index.js';
import { startMembers, stopAll } from '../shared/members.js';

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  // A long-running job: it works until told to stop, with its fencing token in hand.
  const crunch = (ctx: JobContext): Promise<number> => {
    console.log(`running ${ctx.id} with token ${ctx.token.viewId}.${ctx.token.placement}`);
    return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(0)));
  };
  const jobs = await JobsService.join(node, 'jobs', { resources: { labels: ['worker'], cpus: 2, memoryMb: 512 }, handlers: { crunch } });
  console.log(`ready ${jobs.group.localId}`);
} else {
  const members = await startMembers(fileURLToPath(import.meta.url), 3);
  const node = await createNode({ listen: '127.0.0.1:0', seeds: members.map((m) => m.endpoint) });
  const client = await node.client('jobs', { attemptTimeoutMs: 1500 });
  const list = async (): Promise<JobInfo[]> => (await client.request({ op: 'list' })) as JobInfo[];
  const until = async (what: string, ok: (j: JobInfo) => boolean): Promise<JobInfo> => {
    for (let i = 0; i < 200; i++) {
      const j = (await list())[0];
      if (j && ok(j)) return j;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting until ${what}`);
  };
  await new Promise((r) => setTimeout(r, 1000)); // every member has advertised itself
  const submitted = (await client.request({
    op: 'submit',
    job: { name: 'crunch', run: { kind: 'handler', handler: 'crunch', args: null }, needs: { labels: ['worker'], cpus: 1 }, restart: 'always' },
  })) as JobInfo;
  const first = await until('the job runs', (j) => j.state === 'running');
  console.log(`${submitted.id} runs on ${first.node} (token ${first.token!.viewId}.${first.token!.placement})`);
  const victim = members.find((m) => m.id === first.node)!;
  console.log(`kill -9 ${victim.id}`);
  const killedAt = Date.now();
  victim.kill();
  const again = await until('the job runs elsewhere', (j) => j.state === 'running' && j.node !== first.node);
  console.log(`${again.id} runs on ${again.node} (token ${again.token!.viewId}.${again.token!.placement}) ${Date.now() - killedAt} ms after the kill`);
  const ok = again.token!.placement > first.token!.placement && again.restarts === 1;
  client.close();
  await node.close();
  stopAll(members);
  process.exit(ok ? 0 : 1);
}
