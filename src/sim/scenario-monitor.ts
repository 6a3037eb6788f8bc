import type { GroupClient } from '../api/client.js';
import { HorusNode } from '../api/node.js';
import type { ActionContext } from '../services/monitor/monitor-service.js';
import { MonitorService } from '../services/monitor/monitor-service.js';
import { MonitorTable, type Firing } from '../services/monitor/monitor-table.js';
import { checkMonitor, type MonitorEvent } from './checkers/monitor.js';
import { ViolationList, type Violation } from './checkers/violation.js';
import { TOOLS_SIM_STACK as STACK } from './scenario-tools.js';
import { SimWorld } from './sim-world.js';
import { drawWorkloadNetwork, settleWith, stepperOf, workloadSeed, workloadReport, type WorkloadSeedOutcome } from './workload-kit.js';

/** A monitor with a bug on purpose, to show that the checker finds it. */
export type BrokenMonitor = 'no-rerun' | 'rerun-every-view';

export interface MonitorScenarioOptions {
  seed: number;
  /** Member nodes (default: drawn per seed, 3..5); one more node is a client sensor. */
  nodes?: number;
  /** Virtual ms of faults before the system must settle (default 8000). */
  durationMs?: number;
  /** Frame loss probability (default: drawn per seed, up to 3%). */
  loss?: number;
  /** Run a purpose-broken monitor (tests of the checker only). */
  broken?: BrokenMonitor;
  verbose?: boolean;
}

export interface MonitorScenarioResult {
  seed: number;
  nodes: number;
  faults: string[];
  events: number;
  /** Firings in the final history, and how many of them were taken over (attempt > 1). */
  firings: number;
  takenOver: number;
  violations: Violation[];
  violationCount: number;
  historyHash: string;
  virtualMs: number;
}

/** The members' wall clock: a date (2026-01-01) plus virtual time, so firing times read as dates. */
export const MONITOR_SIM_EPOCH = Date.UTC(2026, 0, 1);

/** Driven by the client sensor alone: its episodes are exactly the phases. */
const CLIENT_RULE = 'when last(ext_level) > 50 for 300ms then act client';
/** Driven by every member's own sensor (a member that leaves takes its samples with it). */
const MEMBERS_RULE = 'when max(level) > 50 for 300ms then act members';

/** After the faults stop: this long before the phases count as calm, and this many calm phases. */
const SETTLE_MS = 3000;
const CALM_PHASES = 2;

/** The executor never hears back: the firing stays with a member that is gone. */
class NoRerunTable extends MonitorTable {
  protected override takeOver(): Firing[] {
    return [];
  }
}

/** Every view change hands every open firing on, as if its executor had left. */
class RerunEveryViewTable extends MonitorTable {
  protected override takeOver(): Firing[] {
    return super.takeOver(new Set());
  }
}

interface Member {
  endpoint: string;
  svc: MonitorService;
  alive: boolean;
}

/**
 * The monitor under faults (issue #14: each firing's action runs exactly once per condition episode,
 * across a crash of the member running it). Members run a monitor group with two rules: one over a
 * sensor a client outside the group reports, one over a sensor every member reports. A driver runs
 * phases: in phase p every sensor reports `100 + p` (the conditions hold) and then a low value (they
 * stop holding), so a firing's value names its episode. The action `act` writes an effect keyed by
 * the firing's key into a store outside the group, part-way through a run of 50–500 ms. The nemesis
 * crashes (restarted as new incarnations that rejoin with state) or cuts off members, a minority at a
 * time, at random and, half the time an action starts, the member running it, mid-action. After the
 * faults, calm phases; the checker then demands agreement, one firing per episode, an ok outcome and
 * an effect for each, no effect of what did not fire, and a re-run only after its runner left.
 */
export async function runMonitorScenarioAsync(opts: MonitorScenarioOptions): Promise<MonitorScenarioResult> {
  const world = new SimWorld(opts.seed, { verbose: opts.verbose ?? false });
  const rng = world.rng;
  const n = opts.nodes ?? rng.int(3, 5);
  const duration = opts.durationMs ?? 8000;
  drawWorkloadNetwork(world, rng, opts.loss);
  const wall = (): number => MONITOR_SIM_EPOCH + world.now();
  const events: MonitorEvent[] = [];
  const faults: string[] = [];
  const endpoints = Array.from({ length: n }, (_, i) => `m${i + 1}:7000`);
  const incarnations = new Map<string, number>();
  const members = new Map<string, Member>();
  const nemesis = world.forkRng('nemesis');
  let faultsOn = false;
  let isolated: string | null = null;

  const liveMembers = (): Member[] => [...members.values()].filter((m) => m.alive);
  /** A fault may strike only while the group is whole, and takes a minority at most. */
  const mayFault = (): boolean => {
    const live = liveMembers();
    const down = n - live.length + (isolated ? 1 : 0);
    const whole = live.every((m) => !m.svc.group.blocked && m.svc.group.view.members.length === live.length);
    return faultsOn && whole && down < Math.max(1, Math.floor((n - 1) / 2));
  };
  const strike = (m: Member): void => {
    if (nemesis.float() < 0.6 || isolated !== null) {
      faults.push(`${world.now().toFixed(0)} crash ${m.endpoint}`);
      m.alive = false;
      world.crash(m.endpoint);
      world.scheduler.schedule(500 + nemesis.int(0, 1000), () => {
        faults.push(`${world.now().toFixed(0)} restart ${m.endpoint}`);
        start(m.endpoint);
      });
    } else {
      faults.push(`${world.now().toFixed(0)} isolate ${m.endpoint}`);
      isolated = m.endpoint;
      world.isolate(m.endpoint);
      world.scheduler.schedule(500 + nemesis.int(0, 1500), () => {
        faults.push(`${world.now().toFixed(0)} heal`);
        isolated = null;
        world.heal();
      });
    }
  };

  const start = (ep: string): Member => {
    const inc = (incarnations.get(ep) ?? 0) + 1;
    incarnations.set(ep, inc);
    const contacts = liveMembers()
      .filter((m) => m.endpoint !== ep)
      .map((m) => m.endpoint);
    const sim = world.addNode(ep, String(inc));
    const node = new HorusNode(sim.env);
    const work = world.forkRng(`work-${ep}-${inc}`);
    let svc: MonitorService | null = null;
    let m: Member | null = null;
    const act = (ctx: ActionContext): Promise<string> => {
      const member = svc!.group.localId;
      events.push({ k: 'invoke', at: world.now(), member, key: ctx.key, attempt: ctx.attempt });
      const effectAt = 20 + work.int(0, 300);
      const endAt = effectAt + work.int(0, 200);
      // Half the time, the nemesis strikes the member running the action, mid-action.
      if (nemesis.float() < 0.5) {
        const at = nemesis.int(0, endAt + 100);
        world.scheduler.schedule(at, () => {
          if (m?.alive && members.get(ep) === m && mayFault()) strike(m);
        });
      }
      return new Promise((resolve) => {
        sim.env.setTimer(effectAt, () => events.push({ k: 'effect', at: world.now(), member, key: ctx.key, attempt: ctx.attempt }));
        sim.env.setTimer(endAt, () => resolve(`done by ${member}`));
      });
    };
    const table = opts.broken === 'no-rerun' ? new NoRerunTable() : opts.broken === 'rerun-every-view' ? new RerunEveryViewTable() : undefined;
    svc = new MonitorService({ actions: { act }, wallClock: wall, tickMs: 100 }, table);
    const g = node.joinNow('monitor', { contacts, stack: STACK, state: svc.state });
    svc.attach(node, g);
    let seen: readonly string[] = [];
    g.on('view', (v) => {
      for (const x of seen) if (!v.members.includes(x)) events.push({ k: 'gone', at: world.now(), member: x });
      seen = [...v.members];
    });
    m = { endpoint: ep, svc, alive: true };
    members.set(ep, m);
    return m;
  };
  const step = stepperOf(world);

  for (const ep of endpoints) {
    start(ep);
    await step(250);
  }
  await step(1500);
  const first = members.get(endpoints[0]!)!.svc;
  const rules = await settleWith(step, Promise.all([first.addRule(CLIENT_RULE), first.addRule(MEMBERS_RULE)]));
  events.push({ k: 'rules', at: world.now(), exact: [rules[0]], all: rules });
  const clientNode = new HorusNode(world.addNode('c1:7000', '1').env, undefined, endpoints);
  let client: GroupClient | null = null;
  try {
    client = await settleWith(step, clientNode.client('monitor', { attemptTimeoutMs: 800, timeoutMs: 120_000 }));
  } catch {
    client = null;
  }

  // The driver: phases of high then low values; sensors report every 100 ms.
  const drive = world.forkRng('driver');
  let phase = 0;
  let high = false;
  let calmPhases = 0;
  let clientBusy = false;
  /** The client's last acknowledged report: of which half, since when. */
  let acked = { phase: -1, high: false, since: 0 };
  let calmFrom = Infinity;
  const report = (): void => {
    const value = high ? 100 + phase : 0;
    if (client && !clientBusy) {
      clientBusy = true;
      const half = { phase, high };
      client
        .request({ op: 'report', metric: 'ext_level', value })
        .then(
          () => {
            if (acked.phase !== half.phase || acked.high !== half.high) acked = { ...half, since: world.now() };
          },
          () => {},
        )
        .finally(() => (clientBusy = false));
    }
    for (const m of liveMembers()) if (!m.svc.group.isClosed) m.svc.report('level', high ? value : drive.int(0, 40)).catch(() => {});
  };
  const t0 = world.now();
  faultsOn = true;
  let nextFault = t0 + 300 + nemesis.int(0, 1000);
  let nextSwitch = t0;
  let switched = t0;
  // A half ends once the client's report of it has been in for 500 ms (a request may wait out a
  // failover), or after 6 s at most: so each half is an episode boundary in the order.
  const halfDone = (now: number): boolean =>
    now >= nextSwitch && (client === null || now - switched >= 6000 || (acked.phase === phase && acked.high === high && now - acked.since >= 500));
  while (calmPhases < CALM_PHASES || high) {
    const now = world.now();
    if (halfDone(now)) {
      switched = now;
      high = !high;
      if (high) {
        phase++;
        const calm = now >= calmFrom;
        if (calm) calmPhases++;
        events.push({ k: 'phase', at: now, phase, calm });
      }
      nextSwitch = now + 1000 + drive.int(0, 400);
    }
    if (faultsOn && now - t0 >= duration) {
      faultsOn = false;
      world.heal();
      isolated = null;
      calmFrom = now + SETTLE_MS;
    }
    if (faultsOn && now >= nextFault) {
      nextFault = now + 800 + nemesis.int(0, 2000);
      const live = liveMembers();
      if (mayFault()) strike(live[nemesis.int(0, live.length - 1)]!);
    }
    report();
    await step(100);
  }
  // The last low half, and time for the last actions and outcomes.
  report();
  await step(2500);

  const live = liveMembers().filter((m) => !m.svc.group.isClosed && !m.svc.group.blocked && m.svc.group.view.members.includes(m.svc.group.localId));
  for (const m of live)
    events.push({
      k: 'final',
      at: world.now(),
      member: m.svc.group.localId,
      history: m.svc.history().map((f) => ({
        rule: f.rule,
        episode: f.episode,
        at: f.at,
        value: f.value,
        executor: f.executor,
        attempt: f.attempt,
        ok: f.outcome ? f.outcome.ok : null,
      })),
    });
  const v = new ViolationList();
  checkMonitor(events, v);
  const history = live[0]?.svc.history() ?? [];
  return {
    ...workloadReport(opts.seed, n, faults, events, v, world),
    firings: history.length,
    takenOver: history.filter((f) => f.attempt > 1).length,
  };
}

/** One seed of the monitor workload as the seed runner reports it (plain data; never throws). */
export function runMonitorSeed(seed: number, opts: Omit<MonitorScenarioOptions, 'seed'> = {}): Promise<WorkloadSeedOutcome> {
  return workloadSeed(seed, () => runMonitorScenarioAsync({ ...opts, seed }));
}
