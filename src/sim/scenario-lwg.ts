import { createHash } from 'node:crypto';
import { HorusNode } from '../api/node.js';
import type { Group } from '../api/group.js';
import type { Order } from '../api/app-header.js';
import { messageName, type HistoryEvent } from '../core/history.js';
import type { Rng } from '../core/rng.js';
import type { NodeId } from '../core/node-id.js';
import type { StackSpec } from '../stack/stack.js';
import { LightweightGroups } from '../lwg/service.js';
import type { LightweightGroup } from '../lwg/lightweight-group.js';
import { checkVirtualSynchrony, nameHash } from './checkers/vsync.js';
import { checkOrder } from './checkers/order.js';
import { checkNoTwoPrimaries } from './checkers/primaries.js';
import { checkOneMemberPerNode } from './checkers/one-member.js';
import { ViolationList } from './checkers/violation.js';
import { SimWorld, type SimNode } from './sim-world.js';
import { WorldHistory } from './world-history.js';
import type { SeedOutcome } from './seed-runner.js';

export interface LwgScenarioOptions {
  /** Frame loss probability (default: drawn per seed, 1–4%). */
  loss?: number;
  /** Nodes (default: drawn per seed, 3..5). */
  nodes?: number;
  /** Virtual ms of traffic, LWG churn and faults before the system must settle (default 10,000). */
  durationMs?: number;
  verbose?: boolean;
}

export interface LwgScenarioResult {
  seed: number;
  nodes: number;
  hwgs: string[];
  lwgs: string[];
  faults: string[];
  sent: number;
  delivered: number;
  violations: ViolationList;
  historyHash: string;
  /** The recorded history (for replays and tests). */
  history: WorldHistory;
  crashed?: string;
  /** With `verbose`: the nodes' log lines, oldest first (the world keeps the last 100,000). */
  logLines?: string[];
}

/** Virtual ms after the faults stop within which every group must be whole again. */
const SETTLE_MS = 15_000;
const ORDERS: readonly Order[] = ['fifo', 'causal', 'total', 'group'];

/** One LWG as the sim's application holds it at one process: the set of message names delivered (its replicated state). */
class LwgApp {
  state = new Set<string>();
  digest = 0;
  /** A state arrived with the first view: the 'state' record is due at that view. */
  private stateArrived = false;
  /** The next view is this member's first. */
  private first = true;
  handle: LightweightGroup | null = null;

  constructor(
    readonly name: string,
    private readonly record: (view: number, count: number, digest: number, member: NodeId) => void,
    /** A first view with no state: the group was founded (anew) there. */
    private readonly founded: (view: number) => void,
  ) {}

  readonly handlers = {
    get: (): unknown => [...this.state],
    set: (s: unknown): void => {
      this.state = new Set(s as string[]);
      this.digest = 0;
      for (const n of this.state) this.digest = (this.digest + nameHash(n)) | 0;
      this.stateArrived = true;
    },
  };

  attach(g: LightweightGroup, member: () => NodeId): void {
    this.handle = g;
    g.on('message', (d) => {
      const n = messageName(d.sender, d.id);
      this.state.add(n);
      this.digest = (this.digest + nameHash(n)) | 0;
    });
    g.on('view', (v) => {
      if (this.stateArrived) this.record(v.id, this.state.size, this.digest, member());
      else if (this.first) this.founded(v.id);
      this.stateArrived = false;
      this.first = false;
    });
    g.on('excluded', () => {
      this.state = new Set();
      this.digest = 0;
      this.first = true;
    });
  }
}

/** One process: a node, one LightweightGroups service per HWG, and the LWGs it wants to be in. */
class Proc {
  readonly node: HorusNode;
  readonly services = new Map<string, LightweightGroups>();
  readonly hwgGroups = new Map<string, Group>();
  /** LWG name -> the app (present while this process is in, or joining, the LWG). */
  readonly apps = new Map<string, LwgApp>();
  alive = true;

  constructor(
    readonly sim: SimNode,
    readonly history: WorldHistory,
    hwgs: readonly string[],
    contacts: string[],
    stack: StackSpec,
    /** A group was founded (anew) at this view: its history starts over there (see epochs). */
    private readonly founded: (lwg: string, view: number) => void,
  ) {
    this.node = new HorusNode(sim.env, history);
    for (const h of hwgs) {
      const svc = new LightweightGroups({ history, now: () => sim.env.now() });
      const g = this.node.joinNow(h, { contacts, stack, state: svc.hwgState });
      svc.attach(g);
      this.services.set(h, svc);
      this.hwgGroups.set(h, g);
    }
  }

  memberId(hwg: string): NodeId {
    return this.hwgGroups.get(hwg)!.localId;
  }

  joinLwgs(hwg: string, names: readonly string[]): void {
    const svc = this.services.get(hwg)!;
    // Not one still being left (its handle stays until the leave is through).
    const fresh = names.filter((n) => !this.apps.has(n) && svc.group(n) === undefined);
    if (fresh.length === 0) return;
    const apps = fresh.map(
      (n) =>
        new LwgApp(
          n,
          (view, count, digest, member) => this.history.record({ k: 'state', at: 0, node: member, group: n, view, count, digest }),
          (view) => this.founded(n, view),
        ),
    );
    for (const a of apps) this.apps.set(a.name, a);
    const byName = new Map(apps.map((a) => [a.name, a]));
    // Listeners go on before the first view: the handles exist at once, inside joinMany.
    const p = svc.joinMany(fresh, { state: (n) => byName.get(n)!.handlers });
    for (const a of apps) a.attach(svc.group(a.name)!, () => this.memberId(hwg));
    p.catch(() => {});
  }

  leaveLwg(name: string): void {
    const a = this.apps.get(name);
    if (!a?.handle || a.handle.status !== 'member') return;
    this.apps.delete(name);
    void a.handle.leave();
  }
}

function warmed(r: Rng): Rng {
  for (let i = 0; i < 8; i++) r.float();
  return r;
}

/**
 * Light-weight groups under faults: 3–5 nodes share one or two heavy-weight groups, each carrying
 * 3–6 light-weight groups. Every node joins a few LWGs (in one batch), then joins and leaves LWGs
 * throughout the run while all members send in every order (fifo, causal, total, group; some safe),
 * and a nemesis crashes (the node restarts as a new incarnation and joins its LWGs again), pauses,
 * isolates and partitions off minorities. After the faults stop, every live node must be in one
 * view of each HWG and of each LWG it wants, with every message of the final views delivered. The
 * virtual-synchrony and order checkers run over each HWG and over each LWG.
 */
export function runLwgScenario(seed: number, opts: LwgScenarioOptions = {}): LwgScenarioResult {
  const world = new SimWorld(seed, { verbose: opts.verbose ?? false, clockDrift: 0.01 });
  const rng = world.rng;
  const n = opts.nodes ?? rng.int(3, 5);
  const loss = opts.loss ?? 0.01 + rng.float() * 0.03;
  world.setNetwork({ loss, duplicate: rng.float() * 0.01, jitterMs: rng.float() * 2, delayMs: 0.3 + rng.float() * 2 });
  const tcp = warmed(world.forkRng('tcp-cut'));
  world.setNetwork({ cutResetMs: 1000 + tcp.float() * 9000, reconnectBackoffMaxMs: tcp.float() * 3000 });
  const history = new WorldHistory(world);
  const suspectMs = 300 + rng.int(0, 300);
  const stack: StackSpec = [
    'TOTAL',
    'SAFE',
    { name: 'GMS', options: { retryMs: 40, flushTimeoutMs: suspectMs * 2, foldMs: rng.int(0, 30), joinTimeoutMs: 20_000 } },
    { name: 'STABLE', options: { gossipIntervalMs: 50 } },
    { name: 'FC', options: { maxCredits: 64 * 1024 + rng.int(0, 512 * 1024) } },
    { name: 'FRAG', options: { fragSize: 2048 + rng.int(0, 8192) } },
    { name: 'NAK', options: { xmitIntervalMs: 10 + rng.int(0, 20) } },
    { name: 'FD', options: { heartbeatIntervalMs: 25, suspectTimeoutMs: suspectMs } },
    'COM',
  ];
  const hwgs = rng.chance(0.5) ? ['hwg-a'] : ['hwg-a', 'hwg-b'];
  const lwgsOf = new Map(hwgs.map((h) => [h, Array.from({ length: rng.int(3, 6) }, (_, i) => `${h}/lwg${i}`)]));
  const hwgOf = new Map<string, string>();
  for (const [h, ls] of lwgsOf) for (const l of ls) hwgOf.set(l, h);
  const allLwgs = [...hwgOf.keys()];
  const endpoints = Array.from({ length: n }, (_, i) => `n${i + 1}:7000`);
  const incarnation = new Map<string, number>();
  const procs = new Map<string, Proc>();
  const faults: string[] = [];
  const plan = warmed(world.forkRng('lwg-plan'));
  /** LWG -> the views at which it was founded (anew, after every member had left or failed). */
  const foundings = new Map<string, Set<number>>();

  const liveEndpoints = (): string[] => endpoints.filter((e) => procs.get(e)?.alive);
  const start = (endpoint: string, contacts: string[]): void => {
    const inc = (incarnation.get(endpoint) ?? 0) + 1;
    incarnation.set(endpoint, inc);
    const p = new Proc(world.addNode(endpoint, String(inc)), history, hwgs, contacts, stack, (l, v) => {
      let f = foundings.get(l);
      if (!f) foundings.set(l, (f = new Set()));
      f.add(v);
    });
    procs.set(endpoint, p);
    // Its first LWGs, in one batch per HWG, once it is in the HWG (joinMany waits for that itself).
    for (const h of hwgs) {
      const ls = lwgsOf.get(h)!;
      const mine = ls.filter(() => plan.chance(0.6));
      p.joinLwgs(h, mine.length > 0 ? mine : [ls[plan.int(0, ls.length - 1)]!]);
    }
  };
  start(endpoints[0]!, []);
  for (let i = 1; i < n; i++) {
    const e = endpoints[i]!;
    world.scheduler.schedule(50 + rng.float() * 800, () =>
      start(
        e,
        liveEndpoints().filter((x) => x !== e),
      ),
    );
  }

  const sendUntil = opts.durationMs ?? 10_000;
  // Traffic: every member of every LWG sends now and then, in every order.
  const traffic = rng.fork('traffic');
  const tick = (): void => {
    if (world.now() > sendUntil) return;
    for (const p of procs.values()) {
      if (!p.alive || p.sim.status !== 'up') continue;
      for (const a of p.apps.values()) {
        const g = a.handle;
        if (g === null || g.status !== 'member' || !traffic.chance(0.3)) continue;
        const order = ORDERS[traffic.int(0, ORDERS.length - 1)]!;
        const big = traffic.chance(0.02);
        void g.cast(order, Buffer.alloc(big ? traffic.int(3000, 20000) : traffic.int(1, 64), 7), { safe: traffic.chance(0.1) }).catch(() => {});
      }
    }
    world.scheduler.schedule(10 + traffic.float() * 30, tick);
  };
  world.scheduler.schedule(1000, tick);

  // LWG churn: a node joins an LWG it is not in, or leaves one it is in.
  const churn = warmed(world.forkRng('lwg-churn'));
  for (let t = 1500; t < sendUntil - 1000; t += 200 + churn.float() * 600) {
    const who = churn.int(0, n - 1);
    const lwg = allLwgs[churn.int(0, allLwgs.length - 1)]!;
    const leave = churn.chance(0.5);
    world.scheduler.schedule(t, () => {
      const p = procs.get(endpoints[who]!);
      if (!p?.alive || p.sim.status !== 'up') return;
      if (p.apps.has(lwg)) {
        if (leave) p.leaveLwg(lwg);
      } else p.joinLwgs(hwgOf.get(lwg)!, [lwg]);
    });
  }

  /** How many more members may go without taking a majority from any HWG view a live member is in. */
  const spare = (): number => {
    let s = Infinity;
    for (const h of hwgs) {
      const alive = new Set([...procs.values()].filter((p) => p.alive).map((p) => p.memberId(h)));
      for (const p of procs.values()) {
        if (!p.alive) continue;
        const v = p.hwgGroups.get(h)!.view;
        if (v.id === 0) continue;
        s = Math.min(s, v.members.filter((m) => alive.has(m)).length - (Math.floor(v.members.length / 2) + 1));
      }
    }
    return s;
  };

  // The nemesis: one fault at a time.
  const nem = rng.fork('nemesis');
  let netBusy = false;
  for (let t = 1800; t < sendUntil - 2500; t += 2000 + nem.float() * 1200) {
    const kind = nem.int(0, 4);
    const pick = nem.float();
    const dur = suspectMs * 2 + nem.float() * 1500;
    world.scheduler.schedule(t, () => {
      const live = liveEndpoints();
      if (live.length === 0) return;
      const victim = live[Math.floor(pick * live.length)]!;
      switch (kind) {
        case 0:
        case 1: {
          if (spare() < 1) return;
          faults.push(`${Math.round(world.now())} crash ${victim}`);
          const p = procs.get(victim)!;
          p.alive = false;
          for (const h of hwgs) history.record({ k: 'crash', at: 0, node: p.memberId(h) });
          world.crash(victim);
          world.scheduler.schedule(1500 + nem.float() * 1500, () =>
            start(
              victim,
              liveEndpoints().filter((x) => x !== victim),
            ),
          );
          return;
        }
        case 2: {
          faults.push(`${Math.round(world.now())} pause ${victim} ${Math.round(dur)}ms`);
          const p = procs.get(victim)!;
          for (const h of hwgs) history.record({ k: 'pause', at: 0, node: p.memberId(h) });
          world.pause(victim);
          world.scheduler.schedule(dur, () => {
            for (const h of hwgs) history.record({ k: 'resume', at: 0, node: p.memberId(h) });
            world.resume(victim);
          });
          return;
        }
        case 3: {
          if (netBusy) return;
          const minority = live.filter((e) => e !== victim).slice(0, Math.max(0, Math.floor((live.length - 1) / 2) - 1));
          minority.push(victim);
          faults.push(`${Math.round(world.now())} partition [${minority}] ${Math.round(dur)}ms`);
          netBusy = true;
          world.partition([minority, endpoints.filter((e) => !minority.includes(e))]);
          world.scheduler.schedule(dur, () => {
            netBusy = false;
            world.heal();
          });
          return;
        }
        default: {
          if (netBusy) return;
          faults.push(`${Math.round(world.now())} isolate ${victim} ${Math.round(dur / 3)}ms`);
          netBusy = true;
          world.isolate(victim);
          world.scheduler.schedule(dur / 3, () => {
            netBusy = false;
            world.heal();
          });
        }
      }
    });
  }

  let crashed: string | undefined;
  try {
    world.runUntil(sendUntil);
    world.setNetwork({ loss: 0, duplicate: 0 });
    world.heal();
    world.runUntil(sendUntil + SETTLE_MS);
  } catch (err) {
    crashed = `${world.running ?? 'the harness'} threw at ${world.now()}: ${(err as Error).stack ?? String(err)}`;
  }

  const violations = new ViolationList();
  if (crashed !== undefined) violations.add('crash', crashed);
  const events = history.events;
  for (const h of hwgs) {
    checkVirtualSynchrony(events, h, violations);
    checkOrder(events, h, violations);
    checkNoTwoPrimaries(events, h, violations);
    checkOneMemberPerNode(events, h, violations);
  }
  // An LWG whose members all left or failed is founded anew by its next joiner, with no state: each
  // founding starts an epoch of its own, checked apart (view ids go on across them).
  const epochEvents = splitEpochs(events, foundings);
  for (const l of allLwgs) {
    const starts = [...(foundings.get(l) ?? [])].sort((a, b) => a - b);
    for (const name of starts.length > 0 ? starts.map((s) => `${l}@${s}`) : [l]) {
      checkVirtualSynchrony(epochEvents, name, violations);
      checkOrder(epochEvents, name, violations);
      checkOneMemberPerNode(epochEvents, name, violations);
    }
  }
  if (crashed === undefined) checkLiveness();
  for (const p of procs.values()) void p.node.close();

  const hash = createHash('sha256');
  for (const ev of events) hash.update(JSON.stringify(ev)).update('\n');
  return {
    seed,
    nodes: n,
    hwgs,
    lwgs: allLwgs,
    faults,
    sent: events.filter((e) => e.k === 'send').length,
    delivered: events.filter((e) => e.k === 'deliver').length,
    violations,
    historyHash: hash.digest('hex'),
    history,
    ...(crashed !== undefined ? { crashed } : {}),
    ...(opts.verbose ? { logLines: world.logLines() } : {}),
  };

  function checkLiveness(): void {
    const live = [...procs.values()].filter((p) => p.alive && p.sim.status === 'up');
    for (const h of hwgs) {
      const views = new Set(live.map((p) => `${p.hwgGroups.get(h)!.view.id}:${p.hwgGroups.get(h)!.view.members.join(',')}`));
      if (views.size !== 1) violations.add('liveness', `${h}: live members ended in different views: ${[...views].join(' | ')}`);
      for (const p of live) {
        const d = p.services.get(h)!.stats.dropped;
        for (const [reason, count] of Object.entries(d))
          if (count > 0)
            violations.add(
              'lwg-dropped',
              `${p.memberId(h)} dropped ${count} light-weight group input(s) of ${h} as ${reason} (last: ${p.services.get(h)!.lastDrop})`,
            );
      }
    }
    for (const l of allLwgs) {
      const h = hwgOf.get(l)!;
      const want = live.filter((p) => p.apps.has(l));
      const views = new Set<string>();
      for (const p of want) {
        const g = p.apps.get(l)!.handle!;
        views.add(`${g.view.id}:${g.view.members.join(',')}`);
        if (g.status !== 'member') violations.add('liveness', `${p.memberId(h)} wants ${l} and ended ${g.status}`);
        if (g.pendingSends > 0) violations.add('liveness', `${p.memberId(h)} still holds ${g.pendingSends} sends of ${l}`);
      }
      if (views.size > 1) violations.add('liveness', `${l}: live members ended in different views: ${[...views].join(' | ')}`);
      const final = want[0]?.apps.get(l)!.handle!.view;
      if (final === undefined) continue;
      const ids = want.map((p) => p.memberId(h)).sort();
      if ([...final.members].sort().join(',') !== ids.join(','))
        violations.add('liveness', `${l}: final view ${final.id} is [${final.members.join(',')}], the live members that want it are [${ids.join(',')}]`);
      const sentFinal = events.filter((e) => e.k === 'send' && e.group === l && e.view === final.id).map((e) => (e as { msg: string }).msg);
      for (const p of want)
        for (const m of sentFinal) if (!p.apps.get(l)!.state.has(m)) violations.add('liveness', `${p.memberId(h)} never delivered ${m} of ${l}'s final view`);
    }
  }
}

/**
 * The history with each LWG event's group renamed `<lwg>@<founding view>` for the epoch its view
 * falls in (views before the first recorded founding go with it: a founding at view 1 always is).
 */
function splitEpochs(events: readonly HistoryEvent[], foundings: ReadonlyMap<string, ReadonlySet<number>>): HistoryEvent[] {
  const starts = new Map([...foundings].map(([l, f]) => [l, [...f].sort((a, b) => a - b)]));
  const epochOf = (group: string, view: number): string | null => {
    const s = starts.get(group);
    if (s === undefined) return null;
    let e = s[0]!;
    for (const x of s) if (x <= view) e = x;
    return `${group}@${e}`;
  };
  const out: HistoryEvent[] = [];
  for (const ev of events) {
    if ((ev.k === 'view' || ev.k === 'send' || ev.k === 'deliver' || ev.k === 'state') && starts.has(ev.group)) {
      out.push({ ...ev, group: epochOf(ev.group, ev.view)! });
    } else out.push(ev);
  }
  return out;
}

/** One seed's verdict, for the seed runner. */
export function runLwgSeed(seed: number, opts: LwgScenarioOptions = {}): SeedOutcome {
  const r = runLwgScenario(seed, opts);
  const out: SeedOutcome = { seed, violationCount: r.violations.total, violations: r.violations.items.slice(0, 5), historyHash: r.historyHash };
  if (r.crashed !== undefined) out.crashed = r.crashed;
  return out;
}
