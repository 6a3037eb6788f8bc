// What every runner gets from run.ts.
import { join } from 'node:path';
import type { MemberHandle } from '../lib/member-handle.js';

export interface RunContext {
  /** Multiplies counts, rounds and durations (the README test runs --scale 0.05). */
  scale: number;
  /** Extra node flags for every member process. */
  execArgv: readonly string[];
  /** --load-rate: the per-member delivered rate load-latency cases offer, instead of their fraction of the saturated rate. */
  loadRate: number | null;
  /**
   * --warmup-seconds / --measure-seconds: throughput cases warm up and measure for about these times
   * (phases sized from the rate just seen), as the peers' benches do, instead of their counts. null: counts.
   */
  timed?: { warmupSeconds: number; measureSeconds: number | null } | null;
  /** --profile: the members sample their CPU during the measured part of the case only (profileStart/Stop). */
  profile: { dir: string; intervalUs: number; members?: readonly number[] | null } | null;
  /** Progress, to stderr. */
  log(msg: string): void;
}

/** `n * scale`, rounded, at least `min`. */
export const scaled = (n: number, scale: number, min = 1): number => Math.max(min, Math.round(n * scale));

/** Starts CPU profiles in `members` when the run profiles (see RunContext.profile). */
export async function profileStart(members: readonly MemberHandle[], ctx: RunContext): Promise<void> {
  const p = ctx.profile;
  if (p === null) return;
  await Promise.all(profiled(members, p.members).map((m) => m.request<'profile-start'>({ cmd: 'profile-start', intervalUs: p.intervalUs })));
}

/** Stops them and writes one .cpuprofile per member into the profile directory. */
export async function profileStop(members: readonly MemberHandle[], ctx: RunContext, caseId: string): Promise<void> {
  const p = ctx.profile;
  if (p === null) return;
  await Promise.all(
    profiled(members, p.members).map((m) => m.request<'profile-stop'>({ cmd: 'profile-stop', file: join(p.dir, `${caseId}-member${m.index}.cpuprofile`) })),
  );
}

/** The members --profile-members names (all without it). */
function profiled(members: readonly MemberHandle[], only: readonly number[] | null | undefined): readonly MemberHandle[] {
  return only === null || only === undefined ? members : members.filter((m) => only.includes(m.index));
}
