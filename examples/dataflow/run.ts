// Fault-tolerant parallel dataflow in the style of Paralex (the seed's section 1.6): a graph of
// deterministic tasks runs across the members of a group. Each task goes to the member the current
// view names for it (its rank among the live members), with no messages to decide it; results go into
// a replicated map, so every member knows which tasks are done and which are ready. When a member
// crashes, the view change re-deals its unfinished tasks to the survivors, and the result is the one a
// run without failures gives (the tasks are deterministic, so a task computed twice counts once).
// Three worker processes; this process submits the graph, kills one worker with SIGKILL in the middle
// of the run, and compares the final result with one it computes alone.
// Run: npx tsx examples/dataflow/run.ts
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createNode, ReplicatedMap, type HorusNode } from '../../src/index.js';
import { startMembers, stopAll } from '../shared/members.js';

/** A task: what it computes from its inputs' results. */
interface Task {
  id: string;
  inputs: string[];
  /** 'seed' hashes its id; 'mix' hashes its inputs' results, `rounds` times (the work). */
  kind: 'seed' | 'mix';
  rounds: number;
}

/** The graph: 12 sources, 4 mixers of 3 each, 2 of 2, and a final one (a small map-reduce). */
function graph(): Task[] {
  const t: Task[] = [];
  for (let i = 0; i < 12; i++) t.push({ id: `src-${i}`, inputs: [], kind: 'seed', rounds: 150_000 });
  for (let i = 0; i < 4; i++) t.push({ id: `mix-${i}`, inputs: [0, 1, 2].map((j) => `src-${i * 3 + j}`), kind: 'mix', rounds: 150_000 });
  for (let i = 0; i < 2; i++) t.push({ id: `pair-${i}`, inputs: [`mix-${i * 2}`, `mix-${i * 2 + 1}`], kind: 'mix', rounds: 150_000 });
  t.push({ id: 'final', inputs: ['pair-0', 'pair-1'], kind: 'mix', rounds: 150_000 });
  return t;
}

function compute(task: Task, inputs: string[]): string {
  let h = task.kind === 'seed' ? task.id : inputs.join('|');
  for (let i = 0; i < task.rounds; i++) h = createHash('sha256').update(h).digest('hex');
  return h;
}

/** The same, a slice at a time: a worker's event loop keeps answering heartbeats while it computes. */
async function computeSliced(task: Task, inputs: string[]): Promise<string> {
  let h = task.kind === 'seed' ? task.id : inputs.join('|');
  for (let i = 0; i < task.rounds; i++) {
    h = createHash('sha256').update(h).digest('hex');
    if (i % 2000 === 1999) await new Promise((r) => setImmediate(r));
  }
  return h;
}

/** Which worker runs `task`: a stable hash of its id over the view's workers, in view order; no messages. */
function ownerOf(task: Task, workers: readonly string[]): string | undefined {
  const n = createHash('sha256').update(task.id).digest().readUInt32BE(0);
  return workers[n % workers.length];
}

type Entry = { graph: Task[] } | { result: string; by: string } | { worker: true };

/** A worker: runs the ready tasks the current view gives it, one at a time, and posts their results. */
class Worker {
  private busy = false;
  private constructor(readonly state: ReplicatedMap<Entry>) {}

  static async start(node: HorusNode): Promise<Worker> {
    const w = new Worker(await ReplicatedMap.join<Entry>(node, 'dataflow'));
    // A new result, a new graph or a new view may make tasks ready for this worker.
    w.state.on('change', () => w.next());
    w.state.group.on('view', () => {
      w.register();
      w.next();
    });
    // Workers say so (the watcher is a member too, and runs nothing).
    w.register();
    return w;
  }

  private tasks(): Task[] {
    const g = this.state.get('graph') as { graph: Task[] } | undefined;
    return g?.graph ?? [];
  }

  private resultOf(id: string): string | undefined {
    return (this.state.get(`result/${id}`) as { result: string } | undefined)?.result;
  }

  private next(): void {
    if (this.busy) return;
    const workers = this.state.group.view.members.filter((m) => this.state.has(`worker/${m}`));
    const me = this.state.group.localId;
    const task = this.tasks().find(
      (t) => this.resultOf(t.id) === undefined && t.inputs.every((i) => this.resultOf(i) !== undefined) && ownerOf(t, workers) === me,
    );
    if (!task) return;
    this.busy = true;
    void computeSliced(
      task,
      task.inputs.map((i) => this.resultOf(i)!),
    )
      .then((result) => {
        console.log(`${task.id} done`);
        return this.state.set(`result/${task.id}`, { result, by: me }, { safe: true });
      })
      // A write cut off by a view change (this member excluded, say) is simply done again.
      .catch(() => {})
      .finally(() => {
        this.busy = false;
        this.next();
      });
  }

  /** Say this member is a worker, in each membership it has (a member that rejoins has a new id). */
  private register(): void {
    const id = this.state.group.localId;
    if (!this.state.has(`worker/${id}`)) this.state.set(`worker/${id}`, { worker: true }, { safe: true }).catch(() => {});
  }
}

if (process.argv[2] === 'member') {
  const [endpoint, ...seeds] = process.argv.slice(3);
  const node = await createNode({ listen: endpoint!, seeds });
  const w = await Worker.start(node);
  console.log(`ready ${w.state.group.localId}`);
} else {
  const tasks = graph();
  // The answer without failures, computed here alone.
  const alone = new Map<string, string>();
  for (const t of tasks)
    alone.set(
      t.id,
      compute(
        t,
        t.inputs.map((i) => alone.get(i)!),
      ),
    );

  const members = await startMembers(fileURLToPath(import.meta.url), 3);
  const node = await createNode({ listen: '127.0.0.1:0', seeds: members.map((m) => m.endpoint) });
  // This process watches (a member of the map's group that runs no task: it is not a Worker).
  const state = await ReplicatedMap.join<Entry>(node, 'dataflow');
  const finished = new Promise<string>((resolve) =>
    state.on('change', (c) => {
      if (c.key === 'result/final' && c.value && 'result' in c.value) resolve(c.value.result);
    }),
  );
  let killed = false;
  state.on('change', (c) => {
    // Kill a worker once a few sources are done: it is in the middle of its share.
    const done = state.keys().filter((k) => k.startsWith('result/')).length;
    if (!killed && done >= 4 && c.key.startsWith('result/')) {
      killed = true;
      const victim = members[1]!;
      console.log(`kill -9 worker ${victim.id} after ${done} tasks`);
      victim.kill();
    }
  });
  await state.set('graph', { graph: tasks }, { safe: true });
  const result = await finished;
  const ranBy = new Set(state.entries().flatMap(([k, v]) => (k.startsWith('result/') && 'by' in v ? [v.by] : [])));
  const ok = killed && result === alone.get('final');
  console.log(`final ${result.slice(0, 16)}… ${ok ? 'equals' : 'DIFFERS from'} the failure-free run; tasks ran on ${ranBy.size} workers`);
  await node.close();
  stopAll(members);
  process.exit(ok ? 0 : 1);
}
