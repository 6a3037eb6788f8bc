// A view change with re-key in an encrypted dynamic group: each new view has a fresh key, drawn by the
// coordinator and sealed to every member inside the view change (src/layers/gms/view-keys.ts). One
// further process joins the group of `members` and leaves it again, `changes` times; each is timed from
// the request to the last member's install of the new view. Ensemble re-keys a 20-member group in about
// 100 ms (Rodeh, Birman, Dolev); the issue asks to beat it.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RekeyCase } from '../cases.js';
import { forkMember, type MemberHandle } from '../lib/member-handle.js';
import type { RekeyResult } from '../lib/results.js';
import { median, round } from '../lib/stats.js';
import { sleep, waitUntil, wallNow } from '../lib/wait.js';
import { profileStart, profileStop, scaled, type RunContext } from './context.js';

const DYN_TIMEOUT_MS = 20_000;
const GROUP = 'rekey';
/** HORUS_BENCH_TRACE=DIR: the members keep a timed log (bench/lib/member.ts) and this runner notes when each change was asked for. */
const TRACE_DIR = process.env.HORUS_BENCH_TRACE ?? null;

/** One line of DIR/changes.jsonl: what bench/micro/view-phases.ts needs to cut the members' logs into changes. */
function traceMark(mark: { case: string; change: 'join' | 'leave'; k: number; at: number; mover: string; coordinator: string }): void {
  if (TRACE_DIR !== null) appendFileSync(join(TRACE_DIR, 'changes.jsonl'), JSON.stringify(mark) + '\n');
}

/** Each of `ms`'s first view since `seen[i]` that `pred` accepts: its install time, once all have one. */
async function installs(ms: readonly MemberHandle[], seen: readonly number[], pred: (members: readonly string[]) => boolean, what: string): Promise<number[]> {
  const out: number[] = [];
  await waitUntil(
    () => {
      out.length = 0;
      ms.forEach((m, i) => {
        const v = m.views.slice(seen[i]).find((x) => pred(x.view.members));
        if (v !== undefined) out.push(v.t);
      });
      return out.length === ms.length;
    },
    { timeoutMs: DYN_TIMEOUT_MS, what, pollMs: 5 },
  );
  return out;
}

export async function runRekey(c: RekeyCase, ctx: RunContext): Promise<RekeyResult[]> {
  const changes = scaled(c.changes, Math.min(1, ctx.scale));
  const t0 = performance.now();
  const procs: MemberHandle[] = [];
  try {
    ctx.log(`${c.id}: starting ${c.members} members of ${c.encrypt ? 'an encrypted' : 'a plain (for comparison)'} dynamic group and one that joins and leaves`);
    for (let i = 0; i <= c.members; i++) procs.push(forkMember(i, ctx.execArgv));
    const group = procs.slice(0, c.members);
    const mover = procs[c.members]!;
    let startedAt = 0;
    // A lookup or join that got no answer in time (a loaded machine) is asked again; the clock restarts with it.
    const djoin = async (m: MemberHandle, create: boolean): Promise<{ memberId: string; elapsedMs: number }> => {
      for (let attempt = 1; ; attempt++) {
        startedAt = wallNow();
        try {
          return await m.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'none', create, timeoutMs: DYN_TIMEOUT_MS, encrypt: c.encrypt });
        } catch (err) {
          if (attempt >= 5 || !/no reachable node knows|let us in within/.test((err as Error).message)) throw err;
          ctx.log(`${c.id}: a lookup found nobody in time; asking again`);
        }
      }
    };
    await group[0]!.listen();
    await djoin(group[0]!, true);
    // One at a time (joins at once restart each other's view changes), each seeded with every member
    // so far: a lookup asks them all (one busy seed on a loaded machine is not the end of it).
    for (const m of group.slice(1)) {
      await m.listen({ seeds: group.filter((x) => x.endpoint !== '' && x !== m).map((x) => x.endpoint) });
      await djoin(m, false);
    }
    await mover.listen({ seeds: group.map((x) => x.endpoint) });
    const ids = await Promise.all(group.map((m) => m.request<'status'>({ cmd: 'status' })));
    await installs(group, new Array<number>(group.length).fill(0), (ms) => ms.length === c.members, `${c.members} members in one view`);
    ctx.log(`${c.id}: ${c.members} members in one view after ${((performance.now() - t0) / 1000).toFixed(1)} s (${ids[0]!.memberId} coordinates)`);
    await profileStart(procs, ctx);
    const join: { last: number[]; first: number[] } = { last: [], first: [] };
    const leave: { last: number[]; first: number[] } = { last: [], first: [] };
    for (let k = 0; k < changes; k++) {
      await sleep(300);
      let seen = group.map((m) => m.views.length);
      const moverSeen = mover.views.length;
      const j = await djoin(mover, false);
      const joinAt = startedAt;
      traceMark({ case: c.id, change: 'join', k, at: joinAt, mover: mover.endpoint, coordinator: ids[0]!.memberId });
      const inAll = await installs(
        [...group, mover],
        [...seen, moverSeen],
        (ms) => ms.includes(j.memberId) && ms.length === c.members + 1,
        'the view with the joiner',
      );
      join.last.push(Math.max(...inAll) - joinAt);
      join.first.push(Math.min(...inAll) - joinAt);
      await sleep(300);
      seen = group.map((m) => m.views.length);
      const leaveAt = wallNow();
      traceMark({ case: c.id, change: 'leave', k, at: leaveAt, mover: mover.endpoint, coordinator: ids[0]!.memberId });
      await mover.request<'dleave'>({ cmd: 'dleave', timeoutMs: DYN_TIMEOUT_MS });
      const out = await installs(group, seen, (ms) => !ms.includes(j.memberId) && ms.length === c.members, 'the view without the leaver');
      leave.last.push(Math.max(...out) - leaveAt);
      leave.first.push(Math.min(...out) - leaveAt);
      ctx.log(`${c.id}: change ${k + 1}/${changes}: join ${Math.round(join.last.at(-1)!)} ms, leave ${Math.round(leave.last.at(-1)!)} ms`);
    }
    await profileStop(procs, ctx, c.id);
    const durationS = round((performance.now() - t0) / 1000);
    const row = (change: 'join' | 'leave', s: { last: number[]; first: number[] }): RekeyResult => ({
      kind: 'rekey',
      id: `${c.id}-${change}`,
      op: c.op,
      members: c.members,
      change,
      samplesMs: s.last.map((x) => Math.round(x)),
      medianMs: Math.round(median(s.last)),
      maxMs: Math.round(Math.max(...s.last)),
      firstMemberMedianMs: Math.round(median(s.first)),
      encrypted: c.encrypt,
      durationS,
    });
    return [row('join', join), row('leave', leave)];
  } finally {
    // Traced: time for each member to write its log before it is killed.
    await Promise.all(procs.map((m) => m.close(TRACE_DIR !== null ? 5000 : 0)));
  }
}
