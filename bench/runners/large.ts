// One large group of real processes (issue 15 item 2): `members` processes form one group, kill -9 of
// `kills` of them at once; timed from the kill to the last survivor's install of one view without any
// of them (all survivors must install the same one). Before the kill, each member's CPU over
// `idleSeconds` of an idle group (aim: under 1% of a core each): FD relays its beats and STABLE
// aggregates its digests from 16 members up, so an idle member's work does not grow with the group.
// 64 processes on 2 cores is a lot: check it with --scale (16 processes at 0.25) while others work.
import { loadavg } from 'node:os';
import type { LargeCase } from '../cases.js';
import { builtMemberScript, forkMember, type MemberHandle } from '../lib/member-handle.js';
import type { GroupTimeouts, Summary } from '../lib/protocol.js';
import type { IdleDetail, LargeResult, RoleIdle } from '../lib/results.js';
import { median, round } from '../lib/stats.js';
import { sleep, waitUntil, wallNow } from '../lib/wait.js';
import { profileStart, profileStop, type RunContext } from './context.js';
import { relaysOf } from '../../src/layers/FD.js';

const GROUP = 'large';
const VIEW_TIMEOUT_MS = 60_000;
const JOIN_TRIES = 3;
/**
 * How long the bench waits for one join attempt (a function: TIMEOUTS is defined below): past the most a join may take (3 × joinTimeoutMs,
 * while its coordinator says the view change admitting it is under way). A shorter wait retried a
 * join the member was still running ("already a member of group large").
 */
const joinAttemptMs = (): number => Math.max(VIEW_TIMEOUT_MS, 3 * (TIMEOUTS?.joinTimeoutMs ?? 10_000) + 10_000);
/**
 * How long a joiner's lookup waits for its seeds (the node's default, 1.5 s, is for a machine whose
 * processes get scheduled: with 64 of them and others' work on 2 cores, the seeds answered later and
 * joins failed with "no reachable node knows a group").
 */
const LOOKUP_TIMEOUT_MS = 10_000;
/**
 * The group's timeouts: FD suspects after 3 s (default 1 s), a flush step is overdue after 4 s
 * (1.5 s), a join gives up after 30 s (10 s). 64 processes on 2 cores beside others' CPU-bound work
 * go unscheduled for seconds (session 12: load 60-75 with three simulator processes beside them):
 * with the defaults, members suspected a coordinator that was only starved, several ran flushes
 * at once, and each flush step timed out on some slow member and started over, for minutes.
 * A kill -9 is still found at once (the dead process's port refuses the dial: FD's fast path).
 * HORUS_BENCH_LARGE_TIMEOUTS=default: the stack's defaults, to compare.
 */
const TIMEOUTS: GroupTimeouts | undefined =
  process.env.HORUS_BENCH_LARGE_TIMEOUTS === 'default' ? undefined : { suspectTimeoutMs: 3000, flushTimeoutMs: 4000, joinTimeoutMs: 30_000 };
/**
 * How long the formed group idles before its CPU is measured: 30 s, so that the window sees the
 * group as it idles for good. For the first half minute after forming a member is still tiering up
 * code it runs once a turn (session 16: most of a relay's page faults then were V8's optimizing
 * compiler; session 25: relays 1.1-1.2% over 30 s from 1 s after forming, 0.7-0.8% from 30 s).
 * HORUS_BENCH_LARGE_SETTLE_MS=1000 measures the freshly formed group (the default before session 25).
 */
const SETTLE_MS = settleMs(process.env.HORUS_BENCH_LARGE_SETTLE_MS);

export function settleMs(v: string | undefined): number {
  if (v === undefined || v === '') return 30_000;
  const ms = Number(v);
  if (!Number.isInteger(ms) || ms < 0 || ms > 600_000) throw new Error(`HORUS_BENCH_LARGE_SETTLE_MS must be whole ms in [0, 600000], not ${JSON.stringify(v)}`);
  return ms;
}

/** Processes that join at once. */
const JOIN_BATCH = 8;
/** Processes the others name as seeds. */
const SEEDS = 3;
/** The members' stats events (unused here): rarely, so 64 processes do not post 256 IPC messages a second. */
const STATS_INTERVAL_MS = 60_000;
/** How often the bench asks every member for its view while the group forms (each ask is an IPC round trip to each of 64). */
const FORM_POLL_MS = 500;

export async function runLarge(c: LargeCase, ctx: RunContext): Promise<LargeResult> {
  const members = Math.max(16, Math.round(c.members * Math.min(1, ctx.scale)));
  const kills = Math.min(c.kills, Math.floor((members - 1) / 2));
  // Members run the compiled package, as users do (HORUS_BENCH_LARGE_TSX=1: member.ts under tsx, to compare).
  const tsx = process.env.HORUS_BENCH_LARGE_TSX === '1';
  const b0 = performance.now();
  const script = tsx ? undefined : await builtMemberScript();
  if (script !== undefined) ctx.log(`${c.id}: member compiled in ${Math.round(performance.now() - b0)} ms`);
  const t0 = performance.now();
  const procs: MemberHandle[] = Array.from({ length: members }, (_, i) => forkMember(i, ctx.execArgv, undefined, script));
  try {
    ctx.log(
      `${c.id}: ${members} member processes (${tsx ? 'member.ts under tsx' : 'compiled'}, timeouts ${JSON.stringify(TIMEOUTS ?? 'default')}, load ${loadavg()[0]!.toFixed(1)})`,
    );
    const listenOpts = { statsIntervalMs: STATS_INTERVAL_MS };
    await procs[0]!.listen(listenOpts);
    const timeouts = TIMEOUTS !== undefined ? { timeouts: TIMEOUTS } : {};
    await procs[0]!.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'none', create: true, timeoutMs: VIEW_TIMEOUT_MS, ...timeouts });
    // Seeds: the first SEEDS processes (any member that knows the group answers a joiner's lookup;
    // with one seed, a join fails while that one is busy rejoining).
    await Promise.all(procs.slice(1, SEEDS).map((m) => m.listen({ ...listenOpts, seeds: [procs[0]!.endpoint] })));
    const seeds = procs.slice(0, SEEDS).map((m) => m.endpoint);
    await Promise.all(procs.slice(SEEDS).map((m) => m.listen({ ...listenOpts, seeds })));
    ctx.log(`${c.id}: ${members} processes listening after ${Math.round(performance.now() - t0)} ms (load ${loadavg()[0]!.toFixed(1)})`);
    // Joins come in batches of JOIN_BATCH, as when an application starts many processes at once:
    // the coordinator admits those that ask during one view change together in the next one.
    // A join refused after GMS's joinTimeoutMs (10 s: tens of processes sharing 2 cores make view
    // changes slow) is asked again, as an application would, up to JOIN_TRIES times.
    const joinOne = async (m: MemberHandle, i: number): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await m.request<'djoin'>({
            cmd: 'djoin',
            group: GROUP,
            state: 'none',
            create: false,
            timeoutMs: joinAttemptMs(),
            lookupTimeoutMs: LOOKUP_TIMEOUT_MS,
            ...timeouts,
          });
          return;
        } catch (err) {
          if (attempt >= JOIN_TRIES) throw err;
          await logViews(procs, (line) => ctx.log(`${c.id}: ${line}`));
          ctx.log(`${c.id}: member ${i}: join attempt ${attempt} failed (${(err as Error).message}); again`);
        }
      }
    };
    for (let first = 1; first < members; first += JOIN_BATCH) {
      const batch = procs.slice(first, first + JOIN_BATCH);
      const j0 = performance.now();
      // Settled, not all: a failed join must not leave the others' retries running while we close.
      const settled = await Promise.allSettled(batch.map((m, k) => joinOne(m, first + k)));
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      ctx.log(`${c.id}: members ${first}-${first + batch.length - 1} joined in ${Math.round(performance.now() - j0)} ms (load ${loadavg()[0]!.toFixed(1)})`);
    }
    const ids = new Map<MemberHandle, string>();
    await waitUntil(
      async () => {
        const st = await Promise.all(procs.map((m) => m.request<'status'>({ cmd: 'status' })));
        procs.forEach((m, i) => ids.set(m, st[i]!.memberId));
        const v = st[0]!.view;
        return st.every((s) => s.view.id === v.id && s.view.members.length === members);
      },
      { timeoutMs: VIEW_TIMEOUT_MS, what: `${members} members in one view`, pollMs: FORM_POLL_MS },
    );
    const formedS = (performance.now() - t0) / 1000;
    ctx.log(`${c.id}: ${members} members in one view after ${formedS.toFixed(1)} s`);

    // Idle CPU: settle (SETTLE_MS), then each member's CPU time over idleSeconds.
    await sleep(SETTLE_MS);
    const idleSeconds = c.idleSeconds * Math.min(1, Math.max(ctx.scale, 0.5));
    const before = await Promise.all(procs.map((m) => m.request<'status'>({ cmd: 'status' })));
    const netBefore = await Promise.all(procs.map((m) => m.request<'summary'>({ cmd: 'summary' })));
    // --profile large-64: the members' CPU over the idle window only (the profile's own sampling costs CPU too).
    await profileStart(procs, ctx);
    const w0 = performance.now();
    await sleep(idleSeconds * 1000);
    const after = await Promise.all(procs.map((m) => m.request<'status'>({ cmd: 'status' })));
    const wallMs = performance.now() - w0;
    await profileStop(procs, ctx, c.id);
    const netAfter = await Promise.all(procs.map((m) => m.request<'summary'>({ cmd: 'summary' })));
    const cpuPct = after.map((s, i) => round(((s.cpuMs - before[i]!.cpuMs) / wallMs) * 100));
    const idle = idleTraffic(netBefore, netAfter, wallMs);
    const byRole = idleByRole(
      after[0]!.view.members,
      after.map((st) => st.memberId),
      cpuPct,
      netBefore,
      netAfter,
      wallMs,
    );
    ctx.log(
      `${c.id}: idle by role: coordinator ${JSON.stringify(byRole.coordinator)}, relays ${JSON.stringify(byRole.relays)}, others ${byRole.othersCpuPctMedian}% median, ${byRole.othersCpuPctMax}% max (the busiest ${JSON.stringify(byRole.busiestOther)}, one at the median ${JSON.stringify(byRole.typicalOther)})`,
    );
    ctx.log(
      `${c.id}: idle, per member and second (median): ${Object.entries(idle)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}; CPU median ${round(median(cpuPct))}% (load ${loadavg()[0]!.toFixed(1)})`,
    );

    // kill -9 of `kills` members at once: the view's last ones (not the coordinator nor the relays).
    const view = after[0]!.view.members;
    const victimIds = new Set(view.slice(-kills));
    const victims = procs.filter((m) => victimIds.has(ids.get(m)!));
    const survivors = procs.filter((m) => !victimIds.has(ids.get(m)!));
    const seen = survivors.map((m) => m.views.length);
    const killedAt = wallNow();
    for (const v of victims) v.kill();
    const installs: number[] = [];
    const viewIds = new Set<number>();
    await waitUntil(
      () => {
        installs.length = 0;
        viewIds.clear();
        survivors.forEach((m, i) => {
          const v = m.views.slice(seen[i]).find((x) => x.view.members.every((id) => !victimIds.has(id)));
          if (v !== undefined) {
            installs.push(v.t - killedAt);
            viewIds.add(v.view.id);
          }
        });
        return installs.length === survivors.length;
      },
      { timeoutMs: VIEW_TIMEOUT_MS, what: `the survivors' view without the ${kills} killed`, pollMs: 10 },
    );
    const agreed = await Promise.all(survivors.map((m) => m.request<'status'>({ cmd: 'status' })));
    const one = agreed.every((s) => s.view.id === agreed[0]!.view.id && s.view.members.length === survivors.length);
    const viewChanges = Math.max(...survivors.map((m, i) => m.views.length - seen[i]!));
    ctx.log(
      `${c.id}: kill -9 of ${kills}: new view at all ${survivors.length} after ${Math.round(Math.max(...installs))} ms; idle CPU max ${Math.max(...cpuPct)}%`,
    );
    return {
      kind: 'large',
      id: c.id,
      op: c.op,
      members,
      kills,
      viewMs: Math.round(Math.max(...installs)),
      firstSurvivorMs: Math.round(Math.min(...installs)),
      oneView: one && viewIds.size === 1,
      viewChanges,
      idleSeconds: round(wallMs / 1000),
      idleAfterMs: SETTLE_MS,
      idleCpuPctMax: Math.max(...cpuPct),
      idleCpuPctMedian: round(median(cpuPct)),
      idleCpuPct: cpuPct,
      idleTraffic: idle,
      idleByRole: byRole,
      aimCpuPct: 1,
      formedS: round(formedS),
      durationS: round((performance.now() - t0) / 1000),
    };
  } finally {
    // Traced (HORUS_BENCH_TRACE): a graceful close, so that each member writes its log.
    await Promise.all(procs.map((m) => m.close(process.env.HORUS_BENCH_TRACE !== undefined ? 10_000 : 0)));
  }
}

/**
 * What each member's transport did over the idle window, per second (median over members): data
 * frames out and in, socket reads, PING and PONG words written, and open connections (counts, not rates).
 */
function idleTraffic(before: readonly Summary[], after: readonly Summary[], wallMs: number): Record<string, number> {
  const rate = (k: string): number =>
    round(median(after.map((s, i) => (((s.counters[`transport_${k}`] ?? 0) - (before[i]!.counters[`transport_${k}`] ?? 0)) * 1000) / wallMs)));
  const level = (k: string): number => median(after.map((s) => s.counters[`transport_${k}`] ?? 0));
  return {
    framesOut: rate('framesOut'),
    framesIn: rate('framesIn'),
    reads: rate('reads'),
    pingsOut: rate('pingsOut'),
    pongsOut: rate('pongsOut'),
    openOutbound: level('openOutbound'),
    openInbound: level('openInbound'),
  };
}

/** The idle window by role: the coordinator, the relays, and the others (median and max CPU). */
function idleByRole(
  view: readonly string[],
  memberIds: readonly string[],
  cpuPct: readonly number[],
  before: readonly Summary[],
  after: readonly Summary[],
  wallMs: number,
): NonNullable<LargeResult['idleByRole']> {
  const rate = (i: number, k: string): number =>
    round((((after[i]!.counters[`transport_${k}`] ?? 0) - (before[i]!.counters[`transport_${k}`] ?? 0)) * 1000) / wallMs);
  const of = (id: string | undefined): RoleIdle => {
    const i = id === undefined ? -1 : memberIds.indexOf(id);
    return i < 0 ? { cpuPct: NaN, framesOut: NaN, framesIn: NaN } : { cpuPct: cpuPct[i]!, framesOut: rate(i, 'framesOut'), framesIn: rate(i, 'framesIn') };
  };
  // The members run FD with its default options (the bench sets only timeouts).
  const relays = relaysOf(view);
  const roles = new Set([view[0], ...relays]);
  const others = memberIds.flatMap((id, i) => (roles.has(id) ? [] : [cpuPct[i]!]));
  const byCpu = memberIds.flatMap((id, i) => (roles.has(id) ? [] : [i])).sort((a, b) => cpuPct[a]! - cpuPct[b]!);
  const busiest = byCpu.at(-1) ?? -1;
  const typical = byCpu[Math.floor(byCpu.length / 2)] ?? -1;
  return {
    coordinator: of(view[0]),
    relays: relays.map(of),
    othersCpuPctMedian: round(median(others)),
    othersCpuPctMax: others.length > 0 ? Math.max(...others) : NaN,
    ...(busiest >= 0 ? { busiestOther: idleDetail(busiest, of(memberIds[busiest]), before[busiest]!, after[busiest]!, wallMs) } : {}),
    ...(typical >= 0 ? { typicalOther: idleDetail(typical, of(memberIds[typical]), before[typical]!, after[typical]!, wallMs) } : {}),
  };
}

/**
 * What one ordinary member (the busiest, or one at the median) did over the idle window, per second: its frames, PINGs and PONGs,
 * collections, page faults and context switches, to tell an outlier's traffic from its heap or host.
 */
function idleDetail(index: number, role: RoleIdle, before: Summary, after: Summary, wallMs: number): IdleDetail {
  const perS = (a: number | undefined, b: number | undefined): number => round((((a ?? 0) - (b ?? 0)) * 1000) / wallMs);
  const counter = (k: string): number => perS(after.counters[`transport_${k}`], before.counters[`transport_${k}`]);
  const sa = after.phase.stalls;
  const sb = before.phase.stalls;
  return {
    index,
    ...role,
    pingsOut: counter('pingsOut'),
    pongsOut: counter('pongsOut'),
    gcPerS: perS(sa?.gcCount, sb?.gcCount),
    gcMajor: (sa?.gcMajor ?? 0) - (sb?.gcMajor ?? 0),
    gcMsPerS: perS(sa?.gcTotalMs, sb?.gcTotalMs),
    pageFaultsPerS: perS(after.minorPageFaults, before.minorPageFaults),
    switchesPerS: perS((after.voluntarySwitches ?? 0) + (after.involuntarySwitches ?? 0), (before.voluntarySwitches ?? 0) + (before.involuntarySwitches ?? 0)),
  };
}

/** After a refused join: how many members hold which view (id and size), to tell a slow group from a wedged one. */
async function logViews(procs: readonly MemberHandle[], log: (line: string) => void): Promise<void> {
  const st = await Promise.all(procs.map((m) => m.request<'status'>({ cmd: 'status' }).catch(() => null)));
  const by = new Map<string, number>();
  for (const s of st) {
    const k = s === null ? 'no answer' : s.view.members.length === 0 ? 'no view' : `view ${s.view.id} of ${s.view.members.length}`;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  log(`views now: ${[...by].map(([k, n]) => `${n} at ${k}`).join(', ')}`);
}
