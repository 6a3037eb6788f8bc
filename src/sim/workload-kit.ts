// What the workload scenarios (jobs, monitor, news, tools) share: the lossy network they draw per seed,
// stepping virtual time with real turns between steps (promises settle only when the thread yields),
// the nemesis's crash-or-isolate strike, a history hash, and one seed's run as the seed runner reports it.
import { createHash } from 'node:crypto';
import type { Rng } from '../core/rng.js';
import type { Violation, ViolationList } from './checkers/violation.js';
import type { SimWorld } from './sim-world.js';

/** A lossy network with jitter, drawn from the seed (`loss` given: that loss instead). */
export function drawWorkloadNetwork(world: SimWorld, rng: Rng, loss: number | undefined): void {
  world.setNetwork({ loss: loss ?? rng.float() * 0.03, duplicate: rng.float() * 0.01, jitterMs: rng.float() * 2, delayMs: 0.2 + rng.float() });
}

/** Runs `ms` of virtual time in 10 ms steps, yielding to the event loop after each. */
export function stepperOf(world: SimWorld): (ms: number) => Promise<void> {
  return async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) {
      world.runFor(10);
      await new Promise((r) => setImmediate(r));
    }
  };
}

/** Steps virtual time until `p` settles, at most 10 virtual seconds. */
export async function settleWith<T>(step: (ms: number) => Promise<void>, p: Promise<T>): Promise<T> {
  let done = false;
  const tracked = p.finally(() => (done = true));
  tracked.catch(() => {});
  for (let t = 0; t < 10_000 && !done; t += 10) await step(10);
  return tracked;
}

/**
 * The workloads' nemesis: crashes a node (restarted as a new incarnation a while later) or cuts one
 * off (healed a while later), one isolation at a time, each written to the seed's fault list. The
 * delays are drawn from the nemesis's own stream in the order the scenarios always drew them, so a
 * seed replays as before.
 */
export class CrashOrIsolate {
  /** The node cut off now, if any: counted as down, and no second isolation until it heals. */
  isolated: string | null = null;

  constructor(
    private readonly world: SimWorld,
    private readonly rng: Rng,
    private readonly faults: string[],
    /** Restart after `restartMs[0]` + up to `restartMs[1]` ms; heal after `healMs[0]` + up to `healMs[1]`. */
    private readonly delays: { restartMs: readonly [number, number]; healMs: readonly [number, number] },
  ) {}

  /** Crash: the crash is said first (the caller's own records of it go before or after), the restart is drawn now. */
  crash(endpoint: string, restart: () => void, recordCrash: () => void = () => {}): void {
    this.faults.push(`${this.world.now().toFixed(0)} crash ${endpoint}`);
    recordCrash();
    this.world.crash(endpoint);
    this.world.scheduler.schedule(this.delays.restartMs[0] + this.rng.int(0, this.delays.restartMs[1]), () => {
      this.faults.push(`${this.world.now().toFixed(0)} restart ${endpoint}`);
      restart();
    });
  }

  isolate(endpoint: string): void {
    this.faults.push(`${this.world.now().toFixed(0)} isolate ${endpoint}`);
    this.isolated = endpoint;
    this.world.isolate(endpoint);
    this.world.scheduler.schedule(this.delays.healMs[0] + this.rng.int(0, this.delays.healMs[1]), () => {
      this.faults.push(`${this.world.now().toFixed(0)} heal`);
      this.isolated = null;
      this.world.heal();
    });
  }
}

export function historyHashOf(events: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(events)).digest('hex');
}

/** What every workload scenario reports of a seed: its size, faults, history and the checkers' findings. */
export function workloadReport(
  seed: number,
  nodes: number,
  faults: string[],
  events: readonly unknown[],
  v: ViolationList,
  world: SimWorld,
): { seed: number; nodes: number; faults: string[]; events: number; violations: Violation[]; violationCount: number; historyHash: string; virtualMs: number } {
  return {
    seed,
    nodes,
    faults,
    events: events.length,
    violations: v.items,
    violationCount: v.total,
    historyHash: historyHashOf(events),
    virtualMs: world.now(),
  };
}

/** One seed of a workload as the seed runner reports it (plain data; a throw is a crashed seed). */
export interface WorkloadSeedOutcome {
  seed: number;
  violationCount: number;
  violations: Violation[];
  historyHash?: string;
  crashed?: string;
}

export async function workloadSeed(
  seed: number,
  run: () => Promise<{ violationCount: number; violations: Violation[]; historyHash: string }>,
): Promise<WorkloadSeedOutcome> {
  try {
    const r = await run();
    return { seed, violationCount: r.violationCount, violations: r.violations.slice(0, 5), historyHash: r.historyHash };
  } catch (err) {
    const crashed = (err as Error).stack ?? String(err);
    return { seed, violationCount: 1, violations: [{ property: 'crash', detail: crashed }], crashed };
  }
}
