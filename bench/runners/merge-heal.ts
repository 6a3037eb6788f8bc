// A partitionable group split by a real network cut and healed (issue 15 item 3): one member process
// per network namespace (bench/lib/netns.ts, root only), the cut made with routes as across a real
// network. While cut, each half goes on in a view of its own; after the heal the halves must merge into
// one view within 2 x mergeProbeMs (a group probes for another of its name that often). Timed from the
// heal to the last member's install of the merged view.
import type { MergeHealCase } from '../cases.js';
import { forkMember, type MemberHandle } from '../lib/member-handle.js';
import { NetLab } from '../lib/netns.js';
import type { MergeHealResult } from '../lib/results.js';
import { median, round } from '../lib/stats.js';
import { sleep, waitUntil, wallNow } from '../lib/wait.js';
import { scaled, type RunContext } from './context.js';

const GROUP = 'merge';
const PORT = 7000;
const VIEW_TIMEOUT_MS = 30_000;

/** When every one of `ms` has installed, since `seen[i]`, a view whose members are exactly `want` (by node). */
async function installed(ms: readonly MemberHandle[], seen: readonly number[], want: ReadonlySet<string>, what: string): Promise<number[]> {
  const out: number[] = [];
  const nodeOf = (member: string): string => member.split('~')[0]!;
  await waitUntil(
    () => {
      out.length = 0;
      ms.forEach((m, i) => {
        const v = m.views.slice(seen[i]).find((x) => x.view.members.length === want.size && x.view.members.every((id) => want.has(nodeOf(id))));
        if (v !== undefined) out.push(v.t);
      });
      return out.length === ms.length;
    },
    { timeoutMs: VIEW_TIMEOUT_MS, what, pollMs: 5 },
  );
  return out;
}

export async function runMergeHeal(c: MergeHealCase, ctx: RunContext): Promise<MergeHealResult> {
  const splits = scaled(c.splits, Math.min(1, ctx.scale));
  const t0 = performance.now();
  const lab = await NetLab.create({ hosts: c.members });
  const procs: MemberHandle[] = [];
  try {
    ctx.log(`${c.id}: ${c.members} members of a partitionable group, one per network namespace`);
    for (const h of lab.hosts) procs.push(forkMember(h.index, ctx.execArgv, lab.exec(h.index)));
    const endpoint = (i: number): string => `${lab.hosts[i]!.addr}:${PORT}`;
    await Promise.all(
      procs.map((m, i) => m.listen({ host: lab.hosts[i]!.addr, port: PORT, seeds: lab.hosts.filter((h) => h.index !== i).map((h) => endpoint(h.index)) })),
    );
    const join = (m: MemberHandle, create: boolean): Promise<unknown> =>
      m.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'none', create, timeoutMs: VIEW_TIMEOUT_MS, partitionable: true, mergeProbeMs: c.mergeProbeMs });
    await join(procs[0]!, true);
    for (const m of procs.slice(1)) await join(m, false);
    const ids = await Promise.all(procs.map(async (m) => (await m.request<'status'>({ cmd: 'status' })).memberId.split('~')[0]!));
    const all = new Set(ids);
    await installed(procs, new Array<number>(procs.length).fill(0), all, `${c.members} members in one view`);
    const half = Math.floor(c.members / 2);
    const sides = [procs.slice(0, half), procs.slice(half)];
    const sideIx = [ids.slice(0, half), ids.slice(half)];
    const splitSamples: number[] = [];
    const samples: number[] = [];
    for (let k = 0; k < splits; k++) {
      await sleep(300);
      let seen = procs.map((m) => m.views.length);
      const cutAt = wallNow();
      await lab.partition([[...Array(half).keys()], [...Array(c.members - half).keys()].map((i) => i + half)]);
      const split = await Promise.all(
        sides.map((side, s) =>
          installed(side, seen.slice(s === 0 ? 0 : half, s === 0 ? half : undefined), new Set(sideIx[s]), `side ${s} in a view of its own`),
        ),
      );
      splitSamples.push(Math.max(...split.flat()) - cutAt);
      await sleep(c.splitMs);
      seen = procs.map((m) => m.views.length);
      const healAt = wallNow();
      await lab.heal();
      const merged = await installed(procs, seen, all, 'the merged view');
      samples.push(Math.max(...merged) - healAt);
      ctx.log(
        `${c.id}: split ${k + 1}/${splits}: sides apart after ${Math.round(splitSamples.at(-1)!)} ms, merged ${Math.round(samples.at(-1)!)} ms after the heal`,
      );
    }
    return {
      kind: 'merge-heal',
      id: c.id,
      op: c.op,
      members: c.members,
      splitSamplesMs: splitSamples.map((x) => Math.round(x)),
      samplesMs: samples.map((x) => Math.round(x)),
      medianMs: Math.round(median(samples)),
      maxMs: Math.round(Math.max(...samples)),
      mergeProbeMs: c.mergeProbeMs,
      aimMs: 2 * c.mergeProbeMs,
      durationS: round((performance.now() - t0) / 1000),
    };
  } finally {
    await Promise.all(procs.map((m) => m.close(0)));
    await lab.destroy();
  }
}
