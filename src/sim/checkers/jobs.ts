import type { ViolationList } from './violation.js';

/** What the jobs scenario records, in world time. */
export type JobsEvent =
  | { k: 'start'; at: number; member: string; job: string; placement: number }
  | { k: 'stop'; at: number; member: string; job: string; placement: number; why: 'aborted' | 'ended' }
  | { k: 'crash'; at: number; node: string; members: string[] }
  /** After the settle time: one live member's view of a job, and whether that job's node runs it. */
  | {
      k: 'final';
      at: number;
      member: string;
      job: string;
      state: string;
      node: string | null;
      placement: number | null;
      runningThere: boolean;
      matchable: boolean;
    };

interface Run {
  member: string;
  placement: number;
  from: number;
  to: number;
}

/**
 * Jobs' checks over the recorded events:
 * - `jobs-two-running`: two runs of one job overlap in world time. A run lasts from its start to its
 *   stop, or to its member's crash (a crashed member's handler never hears it must stop). A member
 *   blocked as a minority must have stopped its runs already (it logs the stop then).
 * - `jobs-fencing`: a job's runs do not start in the order of their placements (a stale copy ran);
 *   one placement may run again on its own member only.
 * - `jobs-agreement`: live members disagree about a job's state, node or placement at the end.
 * - `jobs-not-running`: at the end, a job that some live member could run is not running.
 */
export function checkJobs(events: readonly JobsEvent[], v: ViolationList): void {
  const crashAt = new Map<string, number>();
  for (const e of events) if (e.k === 'crash') for (const m of e.members) crashAt.set(m, e.at);
  const runs = new Map<string, Run[]>();
  const open = new Map<string, Run>();
  for (const e of events) {
    if (e.k === 'start') {
      const r: Run = { member: e.member, placement: e.placement, from: e.at, to: crashAt.get(e.member) ?? Infinity };
      runs.set(e.job, [...(runs.get(e.job) ?? []), r]);
      open.set(`${e.job}\u0000${e.member}\u0000${e.placement}`, r);
    } else if (e.k === 'stop') {
      const r = open.get(`${e.job}\u0000${e.member}\u0000${e.placement}`);
      if (r) r.to = Math.min(r.to, e.at);
    }
  }
  for (const [job, rs] of runs) {
    rs.sort((a, b) => a.from - b.from);
    for (let i = 1; i < rs.length; i++) {
      const a = rs[i - 1]!;
      const b = rs[i]!;
      if (b.from < a.to)
        v.add(
          'jobs-two-running',
          `${job}: placement ${b.placement} started on ${b.member} at ${b.from.toFixed(1)} while placement ${a.placement} ran on ${a.member} until ${a.to === Infinity ? 'the end' : a.to.toFixed(1)}`,
        );
      // The same placement may run again on its member (stopped while blocked, started again once unblocked in the same view).
      if (b.placement < a.placement || (b.placement === a.placement && b.member !== a.member))
        v.add('jobs-fencing', `${job}: placement ${b.placement} on ${b.member} started after placement ${a.placement} on ${a.member}`);
    }
  }
  const finals = events.filter((e): e is Extract<JobsEvent, { k: 'final' }> => e.k === 'final');
  const byJob = new Map<string, Extract<JobsEvent, { k: 'final' }>[]>();
  for (const f of finals) byJob.set(f.job, [...(byJob.get(f.job) ?? []), f]);
  for (const [job, fs] of byJob) {
    const key = (f: (typeof fs)[number]): string => `${f.state} ${f.node} ${f.placement}`;
    if (fs.some((f) => key(f) !== key(fs[0]!))) v.add('jobs-agreement', `${job}: ${fs.map((f) => `${f.member}: ${key(f)}`).join('; ')}`);
    const f = fs[0]!;
    if (f.state === 'done' || f.state === 'failed' || f.state === 'cancelled') continue;
    if (f.matchable && !(f.state === 'running' && f.runningThere))
      v.add(
        'jobs-not-running',
        `${job}: ${f.state} on ${f.node ?? 'no node'} (placement ${f.placement}), ${f.runningThere ? 'running there' : 'not running there'}, though a live member matches it`,
      );
  }
}
