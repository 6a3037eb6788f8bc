import { HorusNode } from '../api/node.js';
import type { Group } from '../api/group.js';
import { MemoryHistory } from '../core/history.js';
import type { StackSpec } from '../stack/stack.js';
import { checkOneMemberPerNode } from './checkers/one-member.js';
import { checkOrder } from './checkers/order.js';
import { checkNoTwoPrimaries } from './checkers/primaries.js';
import { checkVirtualSynchrony } from './checkers/vsync.js';
import { ViolationList, type Violation } from './checkers/violation.js';
import { SimWorld } from './sim-world.js';
import { historyHashOf } from './workload-kit.js';
import { largeSummaryOf } from './large-summary.js';
import type { SeedOutcome } from './seed-runner.js';

export interface LargeScenarioOptions {
  seed: number;
  /** Group size (default 100). */
  nodes?: number;
  /** Members crashed at one instant (default 10, at most a minority). */
  crash?: number;
  /** Frame loss probability (default: drawn per seed, up to 1%). */
  loss?: number;
  /** false: FD beats all-to-all and STABLE gossips all-to-all whatever the size (to compare). */
  relayed?: boolean;
  verbose?: boolean;
}

export interface LargeScenarioResult {
  seed: number;
  nodes: number;
  faults: string[];
  sent: number;
  delivered: number;
  violations: Violation[];
  violationCount: number;
  historyHash: string;
  virtualMs: number;
  /** Virtual ms until all `nodes` members were in one view. */
  formMs: number;
  /** Virtual ms from the crash until every survivor installed the view without the crashed. */
  reformMs: number;
  /** Views installed (by the survivors) between the crash and that view. */
  viewChanges: number;
  /** Frames the network carried per heartbeat interval while the group was idle (before the crash). */
  idleFramesPerInterval: number;
  /** Frames sent from the crash to the new view, less the survivors' idle rate over that time: the view change's own cost. */
  viewChangeFrames: number;
}

const GROUP = 'large';
const HEARTBEAT_MS = 50;
const SUSPECT_MS = 800;

/**
 * Large groups (issue 15, item 2): N members form one group (one founder, the others join it at
 * once: GMS folds the joins into a few view changes), some senders abcast while 10 members crash
 * at one instant, the survivors re-form, and the vsync checkers read the history. FD relays its
 * beats and STABLE aggregates its digests from 16 members up (their defaults), so the idle cost
 * and the view change's frame count grow as n, not n²; both are reported.
 */
export function runLargeScenario(opts: LargeScenarioOptions): LargeScenarioResult {
  const world = new SimWorld(opts.seed, { verbose: opts.verbose ?? false });
  const rng = world.rng;
  const n = opts.nodes ?? 100;
  const crashCount = Math.min(opts.crash ?? 10, Math.floor((n - 1) / 2));
  world.setNetwork({ loss: opts.loss ?? rng.float() * 0.01, duplicate: rng.float() * 0.005, jitterMs: rng.float(), delayMs: 0.2 + rng.float() });
  const stack: StackSpec = [
    'TOTAL',
    { name: 'GMS', options: { retryMs: 40, flushTimeoutMs: SUSPECT_MS * 2, foldMs: 20 + rng.int(0, 30), joinTimeoutMs: 60_000 } },
    { name: 'STABLE', options: { gossipIntervalMs: HEARTBEAT_MS, ...(opts.relayed === false ? { aggregateFrom: 1_000_000 } : {}) } },
    { name: 'FC', options: { maxCredits: 256 * 1024 } },
    'FRAG',
    { name: 'NAK', options: { xmitIntervalMs: 20 } },
    { name: 'FD', options: { heartbeatIntervalMs: HEARTBEAT_MS, suspectTimeoutMs: SUSPECT_MS, ...(opts.relayed === false ? { relayFrom: 1_000_000 } : {}) } },
    'COM',
  ];
  const history = new MemoryHistory();
  const endpoints = Array.from({ length: n }, (_, i) => `n${i + 1}:7000`);
  const groups: Group[] = [];
  const nodes: HorusNode[] = [];
  for (const [i, ep] of endpoints.entries()) {
    const node = new HorusNode(world.addNode(ep, '1').env, history);
    nodes.push(node);
    groups.push(node.joinNow(GROUP, { stack, contacts: i === 0 ? [] : [endpoints[0]!] }));
  }
  const faults: string[] = [];
  const alive = new Set(endpoints.map((_, i) => i));
  /** Every live member has installed one view of exactly the live members. */
  const agreed = (): boolean => {
    let id: number | null = null;
    for (const i of alive) {
      const v = groups[i]!.view;
      if (v.members.length !== alive.size) return false;
      if (id === null) id = v.id;
      else if (v.id !== id) return false;
    }
    return true;
  };
  const runUntil = (cond: () => boolean, limitMs: number): boolean => {
    const end = world.now() + limitMs;
    while (world.now() < end) {
      if (cond()) return true;
      world.runFor(20);
    }
    return cond();
  };

  const formed = runUntil(agreed, 30_000 + n * 100);
  const formMs = world.now();
  if (!formed) faults.push(`the group did not form in ${Math.round(formMs)} virtual ms`);
  // Idle cost: frames per heartbeat interval, measured over 40 intervals of a quiet group.
  world.runFor(SUSPECT_MS);
  const idleFrom = world.stats.sent;
  world.runFor(40 * HEARTBEAT_MS);
  const idleFramesPerInterval = (world.stats.sent - idleFrom) / 40;

  // Traffic up to the crash: a few senders abcast for 450 ms (some still unstable when it comes).
  const wl = rng.fork('workload');
  const senders = Array.from({ length: Math.min(10, n) }, () => wl.int(0, n - 1));
  const start = world.now();
  for (const s of senders)
    for (let k = 0; k < 5; k++)
      nodes[s]!.env.setTimer(wl.float() * 450, () => {
        if (alive.has(s)) groups[s]!.abcast({ from: s, k }).catch(() => {});
      });

  // Crash `crashCount` members at one instant, half a second in (the coordinator may be one).
  world.runFor(500);
  const order = endpoints.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = wl.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const victims = order.slice(0, crashCount);
  const viewsBefore = new Map<number, number>([...alive].map((i) => [i, groups[i]!.view.id]));
  const crashAt = world.now();
  const framesAtCrash = world.stats.sent;
  for (const v of victims) {
    history.record({ k: 'crash', at: world.now(), node: groups[v]!.localId });
    world.crash(endpoints[v]!);
    alive.delete(v);
  }
  faults.push(`crash ${victims.map((v) => endpoints[v]).join(' ')} at ${Math.round(crashAt - start)} ms into the traffic`);
  const reformed = runUntil(agreed, 30_000);
  const reformMs = world.now() - crashAt;
  const framesDuring = world.stats.sent - framesAtCrash;
  if (!reformed) faults.push(`the survivors did not agree on a view ${Math.round(reformMs)} virtual ms after the crash`);
  const survivor = [...alive][0]!;
  const viewChanges = groups[survivor]!.view.id - (viewsBefore.get(survivor) ?? 0);
  // Net of the beats the survivors send meanwhile (the idle cost is linear in the members: scaled to them).
  const idleMeanwhile = ((idleFramesPerInterval * alive.size) / n) * (reformMs / HEARTBEAT_MS);
  const viewChangeFrames = Math.max(0, Math.round(framesDuring - idleMeanwhile));

  // Settle: every message sent by a survivor is delivered; then the checkers read the history.
  world.runFor(3000);
  const violations = new ViolationList();
  if (!formed) violations.add('liveness', faults[0]!);
  if (!reformed) violations.add('liveness', faults[faults.length - 1]!);
  checkVirtualSynchrony(history.events, GROUP, violations);
  checkOrder(history.events, GROUP, violations);
  checkNoTwoPrimaries(history.events, GROUP, violations);
  checkOneMemberPerNode(history.events, GROUP, violations);
  for (const ev of history.events)
    if (ev.k === 'fault') violations.add('fault', `${ev.node} contained a failure of its ${ev.group} stack at ${ev.at}: ${ev.error}`);
  for (const i of alive)
    if (groups[i]!.pendingSends > 0) violations.add('liveness', `${endpoints[i]} still holds ${groups[i]!.pendingSends} unsent messages after the view change`);
  for (const node of nodes) void node.close();
  let sent = 0;
  let delivered = 0;
  for (const e of history.events) {
    if (e.k === 'send') sent++;
    else if (e.k === 'deliver') delivered++;
  }
  return {
    seed: opts.seed,
    nodes: n,
    faults,
    sent,
    delivered,
    violations: violations.items,
    violationCount: violations.total,
    historyHash: historyHashOf(history.events),
    virtualMs: world.now(),
    formMs,
    reformMs,
    viewChanges,
    idleFramesPerInterval,
    viewChangeFrames,
  };
}

/** One seed as the seed runner reports it, with the figures as its summary line. */
export function runLargeSeed(seed: number, opts: Omit<LargeScenarioOptions, 'seed'> = {}): SeedOutcome {
  const r = runLargeScenario({ seed, ...opts });
  return { seed, violationCount: r.violationCount, violations: r.violations.slice(0, 5), historyHash: r.historyHash, summary: largeSummaryOf(r) };
}
