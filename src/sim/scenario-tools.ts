import { createHash } from 'node:crypto';
import type { GroupClient } from '../api/client.js';
import type { Group, SnapshotStateHandlers } from '../api/group.js';
import { HorusNode } from '../api/node.js';
import { pack } from '../codec/payload.js';
import type { Rng } from '../core/rng.js';
import type { View } from '../core/view.js';
import type { StackSpec } from '../stack/stack.js';
import { CoordinatorCohort } from '../tools/coordinator-cohort.js';
import { CounterService } from '../tools/counters.js';
import { LockService } from '../tools/locks.js';
import { PrimaryBackup, type PrimaryBackupMachine } from '../tools/primary-backup.js';
import { ReplicatedMap } from '../tools/replicated-map.js';
import { checkTools, type ToolEvent } from './checkers/tools.js';
import { ViolationList, type Violation } from './checkers/violation.js';
import { SimWorld } from './sim-world.js';
import { CrashOrIsolate, drawWorkloadNetwork, settleWith, stepperOf, workloadSeed, workloadReport, type WorkloadSeedOutcome } from './workload-kit.js';

export interface ToolsScenarioOptions {
  seed: number;
  /** Member nodes (default: drawn per seed, 3..5); one more node is the client. */
  nodes?: number;
  /** Virtual ms of workload and faults before the system must settle (default 8000). */
  durationMs?: number;
  /** Frame loss probability (default: drawn per seed, up to 3%). */
  loss?: number;
  verbose?: boolean;
  /** Hear each recorded tool event as it happens (for tests and debugging). */
  onEvent?: (e: ToolEvent) => void;
}

export interface ToolsScenarioResult {
  seed: number;
  nodes: number;
  faults: string[];
  events: number;
  violations: Violation[];
  violationCount: number;
  /** sha256 of the recorded tool events: equal for equal seeds. */
  historyHash: string;
  virtualMs: number;
  /** With `verbose`: the nodes' log lines, oldest first (the world keeps the last 100,000). */
  logLines?: string[];
}

/**
 * The tools' simulated stack: total order and safe delivery, with fast timeouts as the other
 * simulated dynamic groups, and leases that do not lapse between heartbeats (the tools' unit tests
 * use it too, through test/helpers/tools-cluster.ts).
 */
export const TOOLS_SIM_STACK: StackSpec = [
  'TOTAL',
  'CAUSAL',
  'SAFE',
  { name: 'GMS', options: { retryMs: 40, flushTimeoutMs: 600 } },
  'STABLE',
  'FC',
  'FRAG',
  { name: 'NAK', options: { xmitIntervalMs: 10 } },
  { name: 'FD', options: { heartbeatIntervalMs: 50, suspectTimeoutMs: 400 } },
  'COM',
];

const digestOf = (v: unknown): string => createHash('sha256').update(pack(v)).digest('hex').slice(0, 16);

/** Primary-backup's application: a counter whose value answers each request. */
class PbCounter implements PrimaryBackupMachine {
  n = 0;
  execute(): { update: unknown; reply: unknown } {
    return { update: this.n + 1, reply: this.n + 1 };
  }
  applyUpdate(u: unknown): void {
    this.n = u as number;
  }
  snapshot(): unknown {
    return this.n;
  }
  restore(s: unknown): void {
    this.n = s as number;
  }
}

/** One member process: the three groups and their tools. */
class ToolsMember {
  readonly node: HorusNode;
  readonly tools: Group;
  readonly locks = new LockService();
  readonly map: ReplicatedMap<number>;
  readonly counters = new CounterService();
  readonly pb: PrimaryBackup;
  readonly cc: CoordinatorCohort;
  alive = true;

  constructor(
    readonly endpoint: string,
    world: SimWorld,
    incarnation: number,
    contacts: string[],
    private readonly log: (e: ToolEvent) => void,
    rng: Rng,
  ) {
    const sim = world.addNode(endpoint, String(incarnation));
    this.node = new HorusNode(sim.env);
    // The map stamps its writes with the virtual clock (its versions are part of the state, so of the digests).
    this.map = new ReplicatedMap<number>(() => sim.env.now());
    const parts = [this.locks.state, this.map.state, this.counters.state];
    const state: SnapshotStateHandlers = {
      get: () => parts.map((p) => p.get()),
      set: (s) => (s as unknown[]).forEach((x, i) => parts[i]!.set(x)),
    };
    this.tools = this.node.joinNow('tools', { contacts, stack: TOOLS_SIM_STACK, state });
    this.locks.attach(this.tools);
    this.map.attach(this.tools);
    this.counters.attach(this.tools);
    this.tools.on('view', (v) => log({ k: 'tools-view', at: world.now(), member: this.tools.localId, view: v.id, digest: digestOf(state.get()) }));
    this.locks.onLost((g) => log({ k: 'grant-end', at: world.now(), member: g.member, name: g.name, grant: g.token.grant, why: 'lost' }));
    this.pb = new PrimaryBackup(new PbCounter());
    const pbGroup = this.node.joinNow('pb', { contacts, stack: TOOLS_SIM_STACK, state: this.pb.state });
    this.pb.attach(pbGroup);
    pbGroup.on('message', (d) => {
      const p = d.payload;
      if (Array.isArray(p) && p[0] === 'horus.pb')
        log({ k: 'pb-forward', at: world.now(), member: pbGroup.localId, view: d.viewId, sender: d.sender, head: pbGroup.view.members[0] ?? '' });
    });
    const workRng = rng;
    let ccGroup: Group | null = null;
    this.cc = new CoordinatorCohort(
      (req) =>
        new Promise((resolve) => {
          // Work that takes a while, so that coordinators die in the middle of it.
          ccGroup!.timers.setTimer(20 + workRng.int(0, 200), () => resolve({ req }));
        }),
    );
    ccGroup = this.node.joinNow('cc', { contacts, stack: TOOLS_SIM_STACK, state: this.cc.state });
    this.cc.attach(ccGroup);
  }

  /** The members of every group this process is in now (for the crash record). */
  get memberIds(): string[] {
    return [this.tools.localId, this.pb.group.localId, this.cc.group.localId];
  }
}

/**
 * The tools under faults: member nodes each run a LockService, a ReplicatedMap and a CounterService
 * in one group, a PrimaryBackup and a CoordinatorCohort in two more; a client node outside the groups
 * sends requests to the last two. A nemesis crashes members (restarting them as new incarnations that
 * rejoin with state) and isolates one for a while, over a lossy network. After the faults stop the
 * run settles, and the tool checkers read the recorded events: replicas equal at every view, one
 * lock holder at a time with unique growing tokens, no lost or extra counter increment, never two
 * primaries in one view and each primary-backup request applied once, one result per
 * coordinator-cohort request.
 */
export async function runToolsScenarioAsync(opts: ToolsScenarioOptions): Promise<ToolsScenarioResult> {
  const world = new SimWorld(opts.seed, { verbose: opts.verbose ?? false });
  const rng = world.rng;
  const n = opts.nodes ?? rng.int(3, 5);
  const duration = opts.durationMs ?? 8000;
  drawWorkloadNetwork(world, rng, opts.loss);
  const events: ToolEvent[] = [];
  /** Members acting on a lock now (granted, not yet released or lost). */
  const heldBy = new Set<string>();
  const log = (e: ToolEvent): void => {
    events.push(e);
    opts.onEvent?.(e);
    if (e.k === 'grant') heldBy.add(e.member);
    else if (e.k === 'grant-end') heldBy.delete(e.member);
  };
  const faults: string[] = [];
  const endpoints = Array.from({ length: n }, (_, i) => `n${i + 1}:7000`);
  const incarnations = new Map<string, number>();
  const members = new Map<string, ToolsMember>();
  const start = (ep: string): ToolsMember => {
    const inc = (incarnations.get(ep) ?? 0) + 1;
    incarnations.set(ep, inc);
    const contacts = [...members.values()].filter((m) => m.alive && m.endpoint !== ep).map((m) => m.endpoint);
    const m = new ToolsMember(ep, world, inc, contacts, log, world.forkRng(`work-${ep}-${inc}`));
    members.set(ep, m);
    return m;
  };
  /**
   * Would a majority of every group's current view stay alive and reachable without `victim`? A
   * node counts by members, not by place: a restarted node is not in the view until its new member
   * is admitted, and an excluded one until it rejoins. Losing a majority of the view before that
   * (the last member of a two-member view crashing while a restarted one still joins) ends the
   * group's primary partition for good: nothing may then promise liveness, so the nemesis never does it.
   */
  const leavesMajority = (victim: ToolsMember): boolean => {
    const up = [...members.values()].filter((m) => m.alive && m !== victim && m.endpoint !== strike.isolated);
    for (const groupOf of [(m: ToolsMember) => m.tools, (m: ToolsMember) => m.pb.group, (m: ToolsMember) => m.cc.group]) {
      let view: View | null = null;
      for (const m of members.values()) {
        const g = groupOf(m);
        if (m.alive && g.view.members.includes(g.localId) && (view === null || g.view.id > view.id)) view = g.view;
      }
      if (view === null) return false;
      const ids = new Set(up.map((m) => groupOf(m).localId));
      if (view.members.filter((id) => ids.has(id)).length * 2 <= view.members.length) return false;
    }
    return true;
  };
  const step = stepperOf(world);
  for (const ep of endpoints) {
    start(ep);
    await step(250);
  }
  await step(1500);
  const clientNode = new HorusNode(world.addNode('client:7000', '1').env, undefined, endpoints);
  let pbClient: GroupClient | null = null;
  let ccClient: GroupClient | null = null;
  try {
    pbClient = await settleWith(step, clientNode.client('pb', { attemptTimeoutMs: 600, timeoutMs: 120_000 }));
    ccClient = await settleWith(step, clientNode.client('cc', { attemptTimeoutMs: 1500, timeoutMs: 120_000 }));
  } catch {
    // No member answered the lookups: nothing to check for the clients.
  }
  /** Calls made, with the member that made them (null: the client, which never crashes): a crashed member's calls never settle. */
  const pending: { p: Promise<unknown>; owner: ToolsMember | null; done: boolean }[] = [];
  const track = (owner: ToolsMember | null, p: Promise<unknown>): void => {
    const e = { p, owner, done: false };
    void p.finally(() => (e.done = true));
    pending.push(e);
  };
  let ccId = 0;
  const t0 = world.now();
  const wl = world.forkRng('workload');
  const nemesis = world.forkRng('nemesis');
  const strike = new CrashOrIsolate(world, nemesis, faults, { restartMs: [500, 1500], healMs: [500, 2000] });
  let nextFault = t0 + 500 + nemesis.int(0, 1500);
  while (world.now() - t0 < duration) {
    // Faults: a crash (restarted 0.5-2 s later) or an isolation (healed 0.5-2.5 s later), a minority at a time.
    if (world.now() >= nextFault) {
      nextFault = world.now() + 800 + nemesis.int(0, 2000);
      const live = [...members.values()].filter((m) => m.alive);
      const down = n - live.length + (strike.isolated ? 1 : 0);
      if (down < Math.max(1, Math.floor((n - 1) / 2))) {
        // Half the time the victim is a lock holder: cut off or killed while it holds.
        const holders = live.filter((m) => heldBy.has(m.tools.localId));
        const victim = holders.length > 0 && nemesis.float() < 0.5 ? holders[0]! : live[nemesis.int(0, live.length - 1)]!;
        const crash = nemesis.float() < 0.6 || strike.isolated !== null;
        if (!leavesMajority(victim)) {
          // Primary partition cannot outlive the loss of a majority of its view: skip this fault.
          faults.push(`${world.now().toFixed(0)} spare ${victim.endpoint}`);
        } else if (crash) {
          const ep = victim.endpoint;
          strike.crash(
            ep,
            () => start(ep),
            () => {
              log({ k: 'crash', at: world.now(), node: ep, members: victim.memberIds });
              victim.alive = false;
            },
          );
        } else {
          strike.isolate(victim.endpoint);
        }
      }
    }
    // Workload: each live member does one thing now and then.
    for (const m of members.values()) {
      if (!m.alive || m.tools.view.id === 0 || wl.float() > 0.3) continue;
      const me = m.tools.localId;
      const r = wl.int(0, 9);
      if (r < 3) {
        const name = `L${wl.int(0, 1)}`;
        const hold = 10 + wl.int(0, 120);
        track(
          m,
          m.locks
            .lock(name, { timeoutMs: 1500 })
            .then(async (g) => {
              // The app acts from here on (up to a step after the grant: a loss in between is logged already).
              // The holder is the member id the grant was made to (the one its crash or loss names).
              if (!g.valid) return;
              log({ k: 'grant', at: world.now(), member: g.member, name, grant: g.token.grant, viewId: g.token.viewId });
              await new Promise<void>((res) => m.tools.timers.setTimer(hold, res));
              if (!g.valid || !m.alive) return; // lost (logged by onLost) or crashed (logged by the crash)
              log({ k: 'grant-end', at: world.now(), member: g.member, name, grant: g.token.grant, why: 'release' });
              await g.release();
            })
            .catch(() => {}),
        );
      } else if (r < 6) {
        track(
          m,
          m.map.set(`k${wl.int(0, 5)}`, wl.int(0, 1000)).catch(() => {}),
        );
      } else {
        log({ k: 'incr-sent', at: world.now(), member: me });
        track(
          m,
          m.counters
            .addAndGet(me, 1)
            .then((value) => log({ k: 'incr-ok', at: world.now(), member: me, value }))
            .catch(() => {}),
        );
      }
    }
    if (pbClient && wl.float() < 0.3) {
      track(
        null,
        pbClient
          .request('inc')
          .then((v) => log({ k: 'pb-reply', at: world.now(), value: v as number }))
          .catch(() => {}),
      );
    }
    if (ccClient && wl.float() < 0.2) {
      const id = ++ccId;
      log({ k: 'cc-request', at: world.now(), id });
      track(
        null,
        ccClient
          .request(id)
          .then((v) => log({ k: 'cc-reply', at: world.now(), id, digest: digestOf(v) }))
          .catch(() => {}),
      );
    }
    await step(50);
  }
  // Settle: faults are over; restarts due run; every request gets its answer.
  world.heal();
  const unsettled = (): number => pending.filter((e) => !e.done && (e.owner === null || e.owner.alive)).length;
  let waited = 0;
  while (unsettled() > 0 && waited < 60_000) {
    await step(100);
    waited += 100;
  }
  const left = unsettled();
  const settled = left === 0;
  await step(3000);
  const final = [...members.values()].filter((m) => m.alive && m.tools.view.members.includes(m.tools.localId));
  for (const m of final) {
    for (const [issuer, value] of m.counters.entries()) log({ k: 'counter-final', at: world.now(), member: m.tools.localId, issuer, value });
    if (ccClient)
      for (let id = 1; id <= ccId; id++) {
        const r = m.cc.resultOf(clientNode.id, id);
        log({ k: 'cc-final', at: world.now(), member: m.cc.group.localId, id, digest: r ? digestOf(r.value) : null, open: m.cc.openRequests });
      }
  }
  const v = new ViolationList();
  if (!settled) v.add('tools-liveness', `${left} tool calls of live members and the client did not settle within 60 s after the faults stopped`);
  checkTools(events, v);
  return {
    ...workloadReport(opts.seed, n, faults, events, v, world),
    ...(opts.verbose ? { logLines: world.logLines() } : {}),
  };
}

/** One seed of the tools workload as the seed runner reports it (plain data; never throws). */
export function runToolsSeed(seed: number, opts: Omit<ToolsScenarioOptions, 'seed'> = {}): Promise<WorkloadSeedOutcome> {
  return workloadSeed(seed, () => runToolsScenarioAsync({ ...opts, seed }));
}
