// Bytes allocated per delivery on a cast path, in one process, on the simulator's network, and the
// allocation sites that make them up: V8's sampling heap profiler with the objects the collector has
// already freed included (what a scavenge has to sweep, not only what lives), divided by the
// deliveries counted. The simulator's own sites (src/sim/) are reported apart from the stack's.
//
//   npx tsx bench/micro/alloc-sites.ts [--order fifo|causal|total] [--members 3] [--count 30000] [--size 100] [--burst 500] [--top 25] [--against DIR]
//
// --against DIR: run another checkout (a copy of main, say) first, the same way, and print both.
import { Session } from 'node:inspector/promises';
import { arg, fixedGroup, loadBuild, thisBuild, workloadArgs, type Build } from './build.js';

const { order, members, count, size, burst } = workloadArgs({ order: 'fifo', count: 30000 });
const top = Number(arg('top', '25'));

/** The part of the sampling profile the script reads. */
interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}
interface SamplingProfile {
  head: ProfileNode;
}

const fail = (e: unknown): never => {
  throw e;
};

/** Runs the workload with the profiler on; returns the deliveries and the profile. */
async function profile(build: Build, session: Session): Promise<{ delivered: number; head: ProfileNode }> {
  const { world, nodes, groups, counter } = fixedGroup(build, 1, members, 0);
  const payload = Buffer.alloc(size, 7);
  const want = count * members * members;
  const sent = new Array<number>(members).fill(0);
  // Warm up (JIT, pools), then count from zero.
  const warm = Math.floor(want / 5);
  let counting = false;
  let from = 0;
  const t0 = world.now();
  while (counter.delivered < want) {
    if (!counting && counter.delivered >= warm) {
      counting = true;
      from = counter.delivered;
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 256,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
    for (let k = 0; k < members; k++) {
      const g = groups[k]!;
      for (let i = 0; i < burst && sent[k]! < count && !g.blocked; i++) {
        sent[k]!++;
        g.cast(order, payload).catch(fail);
      }
    }
    world.runFor(1);
    await null;
    if (world.now() - t0 > 600_000) throw new Error(`stuck: ${counter.delivered} of ${want} delivered`);
  }
  const { profile: p } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: SamplingProfile };
  for (const n of nodes) void n.close();
  return { delivered: counter.delivered - from, head: p.head };
}

/** Self bytes by function (file name), summed over the call tree; a builtin (`push`) is named with its caller. */
function sites(head: ProfileNode): Map<string, number> {
  const out = new Map<string, number>();
  const name = (n: ProfileNode): string => `${n.callFrame.url.replace(/^.*?\/(src|bench|node_modules)\//, '$1/')} ${n.callFrame.functionName || '(anonymous)'}`;
  const walk = (n: ProfileNode, parent: string): void => {
    const own = name(n);
    if (n.selfSize > 0) {
      const key = n.callFrame.url === '' ? `${n.callFrame.functionName} in ${parent}` : own;
      out.set(key, (out.get(key) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, own);
  };
  walk(head, '(root)');
  return out;
}

function report(name: string, r: { delivered: number; head: ProfileNode }): void {
  const s = sites(r.head);
  let total = 0;
  let sim = 0;
  for (const [k, v] of s) {
    total += v;
    if (k.startsWith('src/sim/')) sim += v;
  }
  const per = (b: number): number => Number((b / r.delivered).toFixed(1));
  console.log(`${name}: ${r.delivered} deliveries; B per delivery: all ${per(total)}, simulator ${per(sim)}, rest ${per(total - sim)}`);
  const rows = [...s].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, v] of rows) console.log(`  ${String(per(v)).padStart(7)}  ${k}`);
}

const session = new Session();
session.connect();
const against = arg('against', '');
if (against !== '') {
  const other = await loadBuild(against);
  report(against, await profile(other, session));
}
report('this checkout', await profile(thisBuild, session));
session.disconnect();
