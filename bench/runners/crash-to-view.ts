// kill -9 of a member of a dynamic group to the survivors' new view, coordinator and other members.
import type { CrashToViewCase } from '../cases.js';
import { forkMember, type MemberHandle } from '../lib/member-handle.js';
import type { DynStatus } from '../lib/protocol.js';
import type { CrashToViewResult } from '../lib/results.js';
import { median, round } from '../lib/stats.js';
import { sleep, waitUntil, wallNow } from '../lib/wait.js';
import { profileStart, profileStop, type RunContext } from './context.js';

const DYN_TIMEOUT_MS = 20_000;

/** Statuses of `ms` once they all hold one view whose members are exactly them. */
async function agreedView(ms: readonly MemberHandle[]): Promise<DynStatus[] | null> {
  const st = await Promise.all(ms.map((m) => m.request<'status'>({ cmd: 'status' })));
  const v = st[0]!.view;
  const same = st.every((s) => s.view.id === v.id && s.view.members.join() === v.members.join());
  const ids = st.map((s) => s.memberId).sort();
  return same && v.id > 0 && [...v.members].sort().join() === ids.join() ? st : null;
}

async function waitForAgreedView(ms: readonly MemberHandle[], what: string): Promise<DynStatus[]> {
  let st: DynStatus[] = [];
  await waitUntil(
    async () => {
      const s = await agreedView(ms);
      if (s !== null) st = s;
      return s !== null;
    },
    { timeoutMs: DYN_TIMEOUT_MS, what, pollMs: 20 },
  );
  return st;
}

export async function runCrashToView(c: CrashToViewCase, ctx: RunContext): Promise<CrashToViewResult[]> {
  const kills = Math.max(1, Math.round(c.kills * Math.min(1, ctx.scale)));
  const order = Array.from({ length: kills * c.victims.length }, (_, i) => c.victims[i % c.victims.length]!);
  const t0 = performance.now();
  const procs: MemberHandle[] = [];
  const spawn = (): MemberHandle => {
    const m = forkMember(procs.length, ctx.execArgv);
    procs.push(m);
    return m;
  };
  try {
    ctx.log(`${c.id}: starting ${c.members} members (dynamic group) and ${order.length} spares`);
    // The spares (one joins after each kill) are forked and loaded now, so no process start takes CPU
    // from the survivors while they detect a crash.
    const initial = Array.from({ length: c.members }, spawn);
    const spares = order.map(spawn);
    await initial[0]!.listen();
    await initial[0]!.request<'djoin'>({ cmd: 'djoin', group: 'crash', state: 'none', create: true, timeoutMs: DYN_TIMEOUT_MS });
    await Promise.all(initial.slice(1).map((m) => m.listen({ seeds: [initial[0]!.endpoint] })));
    ctx.log(`${c.id}: processes up after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // One at a time: joins at once are each a view change that restarts the others' (slower in all).
    for (const m of initial.slice(1)) {
      const j = await m.request<'djoin'>({ cmd: 'djoin', group: 'crash', state: 'none', create: false, timeoutMs: DYN_TIMEOUT_MS });
      ctx.log(`${c.id}: joined in ${Math.round(j.elapsedMs)} ms`);
    }
    let group = initial;
    let st = await waitForAgreedView(group, `${c.members} members in one view`);
    ctx.log(`${c.id}: ${c.members} members in one view after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Profiles: every member from here on (a killed one's is lost with it).
    await profileStart(group, ctx);
    const samples = new Map<string, { last: number[]; first: number[] }>(c.victims.map((v) => [v, { last: [], first: [] }]));
    for (let k = 0; k < order.length; k++) {
      const role = order[k]!;
      const spare = spares[k]!;
      // Seed the spare with the members now (its lookup asks them who is in the group).
      await spare.listen({ seeds: group.map((m) => m.endpoint) });
      const view = st[0]!.view;
      const byId = new Map(st.map((s, i) => [s.memberId, group[i]!]));
      const victimId = role === 'coordinator' ? view.members[0]! : view.members.at(-1)!;
      const victim = byId.get(victimId)!;
      const survivors = group.filter((m) => m !== victim);
      const seen = survivors.map((m) => m.views.length);
      // Let the group idle a moment: heartbeats flowing, nothing pending.
      await sleep(300);
      const killedAt = wallNow();
      victim.kill();
      const installs: number[] = [];
      await waitUntil(
        () => {
          installs.length = 0;
          survivors.forEach((m, i) => {
            const v = m.views.slice(seen[i]).find((x) => !x.view.members.includes(victimId));
            if (v !== undefined) installs.push(v.t - killedAt);
          });
          return installs.length === survivors.length;
        },
        { timeoutMs: DYN_TIMEOUT_MS, what: `the survivors' view without ${victimId}`, pollMs: 10 },
      );
      samples.get(role)!.last.push(Math.max(...installs));
      samples.get(role)!.first.push(Math.min(...installs));
      const j = await spare.request<'djoin'>({ cmd: 'djoin', group: 'crash', state: 'none', create: false, timeoutMs: DYN_TIMEOUT_MS });
      group = [...survivors, spare];
      await profileStart([spare], ctx);
      st = await waitForAgreedView(group, `${c.members} members again after kill ${k + 1}`);
      ctx.log(
        `${c.id}: kill ${k + 1}/${order.length} (${role} ${victimId}): ${Math.round(Math.max(...installs))} ms; a new member joined in ${Math.round(j.elapsedMs)} ms`,
      );
    }
    await profileStop(group, ctx, c.id);
    const durationS = round((performance.now() - t0) / 1000);
    return c.victims.map((role) => {
      const s = samples.get(role)!;
      return {
        kind: 'crash-to-view',
        id: `${c.id}-${role}`,
        op: c.op,
        members: c.members,
        victim: role,
        kills,
        samplesMs: s.last.map((x) => Math.round(x)),
        medianMs: Math.round(median(s.last)),
        maxMs: Math.round(Math.max(...s.last)),
        firstSurvivorMedianMs: Math.round(median(s.first)),
        durationS,
      };
    });
  } finally {
    await Promise.all(procs.map((m) => m.close(0)));
  }
}
