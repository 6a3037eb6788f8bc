import { HorusNode } from '../api/node.js';
import { TOOLS_SIM_STACK } from './scenario-tools.js';
import type { JobContext } from '../services/jobs/job-runner.js';
import { JobsService } from '../services/jobs/jobs-service.js';
import { matches } from '../services/jobs/placement.js';
import { checkJobs, type JobsEvent } from './checkers/jobs.js';
import { ViolationList, type Violation } from './checkers/violation.js';
import { SimWorld } from './sim-world.js';
import { CrashOrIsolate, drawWorkloadNetwork, stepperOf, workloadSeed, workloadReport, type WorkloadSeedOutcome } from './workload-kit.js';

export interface JobsScenarioOptions {
  seed: number;
  /** Member nodes (default: drawn per seed, 3..5). */
  nodes?: number;
  /** Virtual ms of faults before the system must settle (default 8000). */
  durationMs?: number;
  /** Frame loss probability (default: drawn per seed, up to 3%). */
  loss?: number;
  verbose?: boolean;
}

export interface JobsScenarioResult {
  seed: number;
  nodes: number;
  faults: string[];
  events: number;
  violations: Violation[];
  violationCount: number;
  historyHash: string;
  virtualMs: number;
}

/** As the tools scenario: fast timeouts, leases that do not lapse between heartbeats. */
const STACK = TOOLS_SIM_STACK;

/** The time the faults stop and the check that every runnable job runs (issue #14: 15 s). */
const SETTLE_MS = 15_000;

interface Member {
  endpoint: string;
  svc: JobsService;
  alive: boolean;
}

/**
 * The resource manager under faults: members (labels `a`, and `b` on every other one; room for every
 * job, so that a job that matches a live member can always run) run a jobs
 * service with one handler; jobs that need `a` or `b`, some long-running and some failing now and
 * then, are submitted; a nemesis crashes members (restarted as new incarnations that rejoin with
 * state) or isolates one for a while, a minority at a time, over a lossy network. The checker reads
 * the recorded starts and stops: never two runs of one job at once (a crashed member's run ends at
 * its crash; a member cut off must stop its runs itself), placements in order, and 15 s after the
 * faults stop every job that a live member matches is running, with all members agreeing where.
 */
export async function runJobsScenarioAsync(opts: JobsScenarioOptions): Promise<JobsScenarioResult> {
  const world = new SimWorld(opts.seed, { verbose: opts.verbose ?? false });
  const rng = world.rng;
  const n = opts.nodes ?? rng.int(3, 5);
  const duration = opts.durationMs ?? 8000;
  drawWorkloadNetwork(world, rng, opts.loss);
  const events: JobsEvent[] = [];
  const faults: string[] = [];
  const endpoints = Array.from({ length: n }, (_, i) => `n${i + 1}:7000`);
  const incarnations = new Map<string, number>();
  /** The faults are over: flaky jobs fail no more (so each job's final run is a steady one). */
  let calm = false;
  const members = new Map<string, Member>();
  const start = (ep: string, index: number): Member => {
    const inc = (incarnations.get(ep) ?? 0) + 1;
    incarnations.set(ep, inc);
    const contacts = [...members.values()].filter((m) => m.alive && m.endpoint !== ep).map((m) => m.endpoint);
    const sim = world.addNode(ep, String(inc));
    const node = new HorusNode(sim.env);
    const workRng = world.forkRng(`work-${ep}-${inc}`);
    let svc: JobsService | null = null;
    const work = (ctx: JobContext): Promise<number> => {
      const member = svc!.group.localId;
      events.push({ k: 'start', at: world.now(), member, job: ctx.id, placement: ctx.token.placement });
      return new Promise((resolve) => {
        let over = false;
        const stop = (why: 'aborted' | 'ended', code: number): void => {
          if (over) return;
          over = true;
          events.push({ k: 'stop', at: world.now(), member, job: ctx.id, placement: ctx.token.placement, why });
          resolve(code);
        };
        ctx.signal.addEventListener('abort', () => stop('aborted', 0));
        // Flaky jobs fail now and then while the faults last; the others run until told to stop.
        if ((ctx.args as { flaky?: boolean } | null)?.flaky && !calm) sim.env.setTimer(300 + workRng.int(0, 1500), () => stop('ended', 1));
      });
    };
    svc = new JobsService({ resources: { labels: index % 2 === 1 ? ['a', 'b'] : ['a'], cpus: 64 }, handlers: { work }, wallClock: () => world.now() });
    svc.attach(node, node.joinNow('jobs', { contacts, stack: STACK, state: svc.state }));
    const m: Member = { endpoint: ep, svc, alive: true };
    members.set(ep, m);
    return m;
  };
  const step = stepperOf(world);
  for (const [i, ep] of endpoints.entries()) {
    start(ep, i);
    await step(250);
  }
  await step(1500);
  // The jobs: long-running and flaky ones, needing a or b, submitted by the first member.
  const wl = world.forkRng('workload');
  const submitter = members.get(endpoints[0]!)!.svc;
  const jobCount = 4 + wl.int(0, 4);
  const submitted: Promise<unknown>[] = [];
  for (let j = 0; j < jobCount; j++) {
    const flaky = wl.float() < 0.3;
    submitted.push(
      submitter
        .submit({
          run: { kind: 'handler', handler: 'work', args: { flaky } },
          needs: { labels: [wl.float() < 0.3 ? 'b' : 'a'], cpus: 1 },
          restart: flaky ? 'on-failure' : 'always',
          giveUp: { maxFailures: 1000, windowMs: 1000 },
        })
        .catch(() => {}),
    );
  }
  await step(500);
  await Promise.all(submitted);

  const t0 = world.now();
  const nemesis = world.forkRng('nemesis');
  const strike = new CrashOrIsolate(world, nemesis, faults, { restartMs: [500, 1500], healMs: [500, 2000] });
  let nextFault = t0 + 300 + nemesis.int(0, 1000);
  while (world.now() - t0 < duration) {
    if (world.now() >= nextFault) {
      nextFault = world.now() + 800 + nemesis.int(0, 2000);
      const live = [...members.values()].filter((m) => m.alive);
      const down = n - live.length + (strike.isolated ? 1 : 0);
      // Only while the group is whole (restarted members have joined): a fault then never takes a
      // majority of the current view, which would leave the primary partition blocked for good.
      const whole = live.every((m) => !m.svc.group.blocked && m.svc.group.view.members.length === live.length);
      if (whole && down < Math.max(1, Math.floor((n - 1) / 2))) {
        // Mostly a member that runs jobs.
        const busy = live.filter((m) => m.svc.runningHere().length > 0);
        const victim = busy.length > 0 && nemesis.float() < 0.7 ? busy[nemesis.int(0, busy.length - 1)]! : live[nemesis.int(0, live.length - 1)]!;
        if (nemesis.float() < 0.6 || strike.isolated !== null) {
          const ep = victim.endpoint;
          strike.crash(
            ep,
            () => start(ep, endpoints.indexOf(ep)),
            () => {
              events.push({ k: 'crash', at: world.now(), node: ep, members: [victim.svc.group.localId] });
              victim.alive = false;
            },
          );
        } else {
          strike.isolate(victim.endpoint);
        }
      }
    }
    await step(50);
  }
  world.heal();
  calm = true;
  await step(SETTLE_MS);
  const live = [...members.values()].filter((m) => m.alive && !m.svc.group.isClosed && m.svc.group.view.members.includes(m.svc.group.localId));
  const runningOn = new Map<string, Set<string>>();
  for (const m of live) runningOn.set(m.svc.group.localId, new Set(m.svc.runningHere().map((r) => `${r.id}\u0000${r.placement}`)));
  for (const m of live) {
    const offers = m.svc.table.offers().filter(([member]) => runningOn.has(member));
    for (const j of m.svc.table.list()) {
      events.push({
        k: 'final',
        at: world.now(),
        member: m.svc.group.localId,
        job: j.id,
        state: j.state,
        node: j.node,
        placement: j.token?.placement ?? null,
        runningThere: j.node !== null && j.token !== null && (runningOn.get(j.node)?.has(`${j.id}\u0000${j.token.placement}`) ?? false),
        matchable: offers.some(([, r]) => matches(j.spec, r)),
      });
    }
  }
  const v = new ViolationList();
  if (live.length === 0) v.add('jobs-liveness', 'no live member at the end');
  checkJobs(events, v);
  return {
    ...workloadReport(opts.seed, n, faults, events, v, world),
  };
}

/** One seed of the jobs workload as the seed runner reports it (plain data; never throws). */
export function runJobsSeed(seed: number, opts: Omit<JobsScenarioOptions, 'seed'> = {}): Promise<WorkloadSeedOutcome> {
  return workloadSeed(seed, () => runJobsScenarioAsync({ ...opts, seed }));
}
