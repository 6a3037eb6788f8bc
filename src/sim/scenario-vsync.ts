import { createHash } from 'node:crypto';
import { HorusNode, type JoinOptions } from '../api/node.js';
import type { MergeInput } from '../api/merge.js';
import type { Group } from '../api/group.js';
import { messageName, type MemoryHistory } from '../core/history.js';
import type { Rng } from '../core/rng.js';
import { checkVirtualSynchrony, nameHash } from './checkers/vsync.js';
import { checkOrder } from './checkers/order.js';
import { checkNoTwoPrimaries } from './checkers/primaries.js';
import { checkOneMemberPerNode } from './checkers/one-member.js';
import { checkOneGroupPerName } from './checkers/one-group.js';
import { HorusError } from '../core/errors.js';
import { endpointOf } from '../core/node-id.js';
import { WorldHistory } from './world-history.js';
import { SecurityProbe } from './scenario-security.js';
import { ViolationList, type Violation } from './checkers/violation.js';
import { SimWorld } from './sim-world.js';
import type { StackSpec } from '../stack/stack.js';
import type { PartitionPolicy } from '../layers/partition-policy.js';
import type { SimNode } from './sim-world.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';

/** What an adversary sees of the run: the world, and the members as the harness knows them. */
export interface AdversaryContext {
  readonly world: SimWorld;
  readonly group: string;
  readonly endpoints: readonly string[];
  /** The members alive now: endpoint, member id, simulated process and its current view. */
  members(): { endpoint: string; id: NodeId; node: SimNode; view: View }[];
  /** Workload and faults stop at this virtual time; so must the adversary. */
  readonly until: number;
}

/** Forged traffic interleaved with the workload (see adversary.ts). */
export interface Adversary {
  /** Schedule its traffic on the world. Called once, before the run. */
  start(ctx: AdversaryContext): void;
  /** What it lately sent to `node`: explains a failure at that node. */
  explain(node: NodeId): string[];
  /** True for a member id the adversary speaks as (its own): the checker does not vouch for what it "sent". */
  speaksAs(member: NodeId): boolean;
}

export interface VsyncScenarioOptions {
  seed: number;
  /** Frame loss probability (default: drawn per seed, 1–5%). */
  loss?: number;
  /** Nodes taking part (default: drawn per seed, 3..7). */
  nodes?: number;
  /** Virtual ms of traffic and faults before the system must settle (default 14,000). */
  durationMs?: number;
  /** Forged traffic alongside the workload. */
  adversary?: Adversary;
  /** Start every node at one instant, joining by name (default: drawn per seed, 1 in 4). */
  startTogether?: boolean;
  /** 'pki': the group encrypts (CRYPT, a key per view), admits only the scenario's own nodes (ACL), and an outsider tries to join and is refused. */
  security?: 'off' | 'pki';
  /**
   * The partition policy (default majority): 'quorum' a static quorum of a majority of all the scenario's
   * nodes, 'weights' 1–3 per node, 'partitionable' every side goes on and the sides merge (checked for
   * extended virtual synchrony; the state is merged as the union of both sides' messages).
   */
  policy?: 'majority' | 'quorum' | 'weights' | 'partitionable';
  verbose?: boolean;
}

export interface VsyncScenarioResult {
  seed: number;
  nodes: number;
  views: number;
  sent: number;
  delivered: number;
  faults: string[];
  violations: Violation[];
  violationCount: number;
  historyHash: string;
  traceHash: string;
  virtualMs: number;
  /** The exception that stopped the run (with the node that threw), if one did. */
  crashed?: string;
  /**
   * Virtual ms from the last heal (when the faults stop) until every live node was in one unblocked
   * view of all of them (to within 10 ms); null if that never happened before the end. For a
   * partitionable group: when the last side had merged.
   */
  wholeAfterHealMs: number | null;
  /** With `verbose`: the nodes' log lines, oldest first (the world keeps the last 100,000). */
  logLines?: string[];
  /** Adversary runs: what it sent lately to the node that threw or contained a fault. */
  notes: string[];
}

const GROUP = 'vs';

/** The scenario's nodes' endpoints. */
function endpointsOf(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `n${i + 1}:7000`);
}
/** Every ordering in the workload: FIFO, causal and total. */
const ORDER_MIX = ['fifo', 'causal', 'total'] as const;

/** The sim's application: the set of message names it holds, as its replicated state. */
class Member {
  node: HorusNode;
  /** Null while a join by name (HorusNode.join) is still asking the seeds. */
  group: Group | null = null;
  state = new Set<string>();
  digest = 0;
  alive = true;
  /** It founded the group (its first view is its own): no state arrives with that view. */
  private founder: boolean;
  private first = true;

  constructor(
    readonly sim: SimNode,
    private readonly history: MemoryHistory,
    contacts: string[] | null,
    stack: StackSpec,
    /** Messages from these senders are not part of the state (the adversary's own member). */
    private readonly ignored: (sender: NodeId) => boolean = () => false,
    /** Join by name through these seeds (the name service) instead of being handed contacts. */
    seeds: string[] = [],
    /** A partitionable group: its sides merge, the states as the union of their messages. */
    private readonly partitionable = false,
  ) {
    this.node = new HorusNode(sim.env, history, seeds);
    this.founder = contacts !== null && contacts.length === 0;
    const more: JoinOptions = partitionable ? { partition: { kind: 'partitionable' }, merge: unionOfSides, mergeProbeMs: MERGE_PROBE_MS } : {};
    if (contacts === null) {
      // The group object exists once the lookups are done (a microtask turn): `attach` picks it up.
      this.node.join(GROUP, { stack, state: this.stateHandlers(), ...more }).catch(() => {});
      return;
    }
    this.attach(this.node.joinNow(GROUP, { contacts, stack, state: this.stateHandlers(), ...more }));
  }

  /** The member id it has now (its process id until its group exists). */
  get memberId(): NodeId {
    return this.group?.localId ?? this.sim.id;
  }

  /** Joined by name: take the group once HorusNode.join created it. True once it has one. */
  poll(): boolean {
    if (this.group !== null) return true;
    const g = this.node.group(GROUP);
    if (g === undefined) return false;
    // Founded at once (its view is in already), or asked a member (its first view comes with state).
    this.founder = g.view.id > 0;
    this.first = !this.founder;
    this.attach(g);
    return true;
  }

  private stateHandlers(): { get: () => unknown; set: (s: unknown) => void } {
    return {
      get: () => [...this.state],
      set: (s) => {
        this.state = new Set(s as string[]);
        this.digest = 0;
        for (const n of this.state) this.digest = (this.digest + nameHash(n)) | 0;
      },
    };
  }

  private attach(group: Group): void {
    this.group = group;
    group.on('message', (d) => {
      if (this.ignored(d.src)) return;
      const name = messageName(d.src, d.id);
      this.state.add(name);
      this.digest = (this.digest + nameHash(name)) | 0;
    });
    group.on('view', (v) => {
      if (this.first && !this.founder)
        this.history.record({ k: 'state', at: this.sim.env.now(), node: group.localId, group: GROUP, view: v.id, count: this.state.size, digest: this.digest });
      this.first = false;
    });
    group.on('excluded', () => {
      this.first = true;
      this.state = new Set();
      this.digest = 0;
    });
    // The state right after reconciling a side: the checker compares it across the merged members.
    group.on('merge', (ev) =>
      this.history.record({
        k: 'state',
        at: this.sim.env.now(),
        node: group.localId,
        group: GROUP,
        view: ev.view.id,
        count: this.state.size,
        digest: this.digest,
      }),
    );
  }
}

/** How often a partitionable group's members look for the other sides of a split (virtual ms). */
const MERGE_PROBE_MS = 1000;

/** The sim app's merge: both sides' messages (a deterministic union, in name order). */
const unionOfSides = ({ mine, theirs }: MergeInput): unknown => [...new Set([...(mine as string[]), ...(theirs as string[])])].sort();

/** A forked stream past its first draws, which differ little from seed to seed (xoroshiro128+ warms up slowly). */
function warmed(r: Rng): Rng {
  for (let i = 0; i < 8; i++) r.float();
  return r;
}

/** How often (virtual ms) the run looks whether the group is whole again after the last heal. */
const WHOLE_POLL_MS = 10;

/** Virtual ms after the last heal (when faults stop) within which the group must be whole again. */
export const SETTLE_MS = 15_000;

/**
 * One seeded run of dynamic membership under faults: nodes join one by one (or, in some seeds, all
 * start at one instant and join by name through the name service), all send fbcasts concurrently,
 * and a nemesis crashes (then restarts as a new incarnation), pauses past the failure timeout,
 * partitions off a minority, flaps partitions (the sets change every 0.5–4 s, several times, then
 * heal), crashes the coordinator in the middle of a view change, and has members leave and rejoin —
 * never taking down a majority at once, so that progress stays possible. Cut links hold their
 * frames as TCP does and reset after a timeout drawn per seed (1–20 s). After the faults stop,
 * every live node must end in one view and every message a survivor sent must be delivered. The
 * checkers read the recorded history.
 *
 * Seeds that start their nodes together need microtask turns while the nodes join (HorusNode.join
 * awaits its lookups): run them with runVsyncScenarioAsync; this synchronous form refuses them.
 */
export function runVsyncScenario(opts: VsyncScenarioOptions): VsyncScenarioResult {
  const run = setUpVsyncScenario(opts);
  if (run.needsTurns)
    throw new HorusError('ERR_INVALID_ARGUMENT', `seed ${opts.seed} starts its nodes together (joins by name): replay it with runVsyncScenarioAsync`);
  return run.finish();
}

/** The scenario, for every seed: lets promises settle while nodes started together join by name. */
export async function runVsyncScenarioAsync(opts: VsyncScenarioOptions): Promise<VsyncScenarioResult> {
  const run = setUpVsyncScenario(opts);
  while (run.needsTurns && !run.joined()) {
    if (!run.advance(1)) break;
    await new Promise<void>((r) => setImmediate(r));
  }
  return run.finish();
}

interface ScenarioRun {
  /** Nodes start together and join by name: promises must settle between steps until they joined. */
  readonly needsTurns: boolean;
  /** Every live node joined by name has its group. */
  joined(): boolean;
  /** Run `ms` of virtual time; false once the run has crashed or reached the end of its traffic. */
  advance(ms: number): boolean;
  /** Run to the end, settle and check. */
  finish(): VsyncScenarioResult;
}

function setUpVsyncScenario(opts: VsyncScenarioOptions): ScenarioRun {
  // Clocks run up to 1% fast or slow: the lease margin (promise 7b) must cover it.
  const world = new SimWorld(opts.seed, { verbose: opts.verbose ?? false, clockDrift: 0.01 });
  const rng = world.rng;
  const n = opts.nodes ?? rng.int(3, 7);
  const loss = opts.loss ?? 0.01 + rng.float() * 0.04;
  world.setNetwork({ loss, duplicate: rng.float() * 0.01, jitterMs: rng.float() * 2, delayMs: 0.3 + rng.float() * 2 });
  // Streams of their own, so that the draws above and the nemesis stay what they were per seed.
  const tcp = warmed(world.forkRng('tcp-cut'));
  // A connection cut by a partition may sit in TCP back-off much longer than our failure timeout.
  world.setNetwork({ cutResetMs: 1000 + tcp.float() * 19_000 });
  // After a heal, a connection that reset waits for its sender's reconnect back-off (the TCP transport's is up to 5 s).
  world.setNetwork({ reconnectBackoffMaxMs: tcp.float() * 5000 });
  const together = opts.startTogether ?? warmed(world.forkRng('start-together')).chance(0.25);
  // Stamped with real (world) time: the two-primaries check compares instants across nodes.
  const history = new WorldHistory(world);
  const suspectMs = 300 + rng.int(0, 300);
  const secure = opts.security === 'pki';
  // Its own stream: a secure run draws the same workload, faults and timings as an open one.
  const probe = secure ? new SecurityProbe(world, GROUP, world.forkRng('security')) : null;
  const policy = partitionPolicyOf(opts.policy, endpointsOf(n), world.forkRng('partition-policy'));
  const withPolicy = policy ? { partition: policy } : {};
  const stack: StackSpec = [
    'TOTAL',
    'CAUSAL',
    'SAFE',
    {
      name: 'GMS',
      options: {
        retryMs: 40,
        flushTimeoutMs: suspectMs * 2,
        foldMs: rng.int(0, 30),
        joinTimeoutMs: 20_000,
        ...(secure ? { groupKeys: true, acl: { join: endpointsOf(n).map((e) => ({ name: e })) } } : {}),
        ...withPolicy,
      },
    },
    { name: 'STABLE', options: { gossipIntervalMs: 50 } },
    { name: 'FC', options: { maxCredits: 64 * 1024 + rng.int(0, 512 * 1024) } },
    { name: 'FRAG', options: { fragSize: 2048 + rng.int(0, 8192) } },
    ...(secure ? ['CRYPT'] : []),
    { name: 'NAK', options: { xmitIntervalMs: 10 + rng.int(0, 20) } },
    { name: 'FD', options: { heartbeatIntervalMs: 25, suspectTimeoutMs: suspectMs, ...withPolicy } },
    'COM',
  ];
  const endpoints = endpointsOf(n);
  const incarnation = new Map<string, number>();
  const members = new Map<string, Member>(); // endpoint -> current process
  const faults: string[] = [];

  /** `contacts` null: join by name, with every other endpoint as a seed. */
  const start = (endpoint: string, contacts: string[] | null): void => {
    const inc = (incarnation.get(endpoint) ?? 0) + 1;
    incarnation.set(endpoint, inc);
    const sim = world.addNode(endpoint, String(inc));
    const adversary = opts.adversary;
    const seeds = contacts === null ? endpoints.filter((e) => e !== endpoint) : [];
    members.set(
      endpoint,
      new Member(sim, history, contacts, stack, adversary ? (src) => adversary.speaksAs(src) : undefined, seeds, policy?.kind === 'partitionable'),
    );
  };
  const liveEndpoints = (): string[] => endpoints.filter((e) => members.get(e)?.alive);
  const contactsFor = (self: string): string[] => liveEndpoints().filter((e) => e !== self);
  /** Live members whose group exists (all but nodes still asking the name service). */
  const inGroup = (): (Member & { group: Group })[] => [...members.values()].filter((m): m is Member & { group: Group } => m.alive && m.group !== null);
  /** Every live node is in the group, all in one view of all of them, none blocked. */
  const whole = (): boolean => {
    const up = [...members.values()].filter((m) => m.alive && m.sim.status === 'up');
    const v = up[0]?.group?.view;
    if (!v) return false;
    return (
      v.members.length === up.length &&
      up.every((m) => m.group !== null && m.group.view.id === v.id && m.group.blockedReasons.length === 0 && v.members.includes(m.group.localId))
    );
  };
  let wholeAfterHealMs: number | null = null;

  if (together) {
    // Every node starts at one instant and joins by name: the seeds know nothing yet.
    faults.push('0 all nodes start together and join by name');
    for (const e of endpoints) start(e, null);
  } else {
    // The first node founds the group; the others join over the first second.
    start(endpoints[0]!, []);
    for (let i = 1; i < n; i++) {
      const e = endpoints[i]!;
      world.scheduler.schedule(50 + rng.float() * 1000, () => start(e, contactsFor(e)));
    }
  }

  // Every live member sends at random times throughout the run.
  const sendUntil = opts.durationMs ?? 14_000;
  const traffic = (r: Rng): void => {
    const tick = (): void => {
      if (world.now() > sendUntil) return;
      for (const m of inGroup()) {
        if (m.sim.status !== 'up' || m.group.view.id === 0) continue;
        if (r.chance(0.5)) {
          const big = r.chance(0.03);
          // Now and then a gbcast: each one rides a view change, so they are rare.
          const order = r.chance(0.01) ? 'group' : ORDER_MIX[r.int(0, ORDER_MIX.length - 1)]!;
          const size = big ? r.int(3000, 30000) : r.int(1, 100);
          void m.group.cast(order, probe ? probe.payload(size) : Buffer.alloc(size, 1), { safe: r.chance(0.1) });
        }
      }
      world.scheduler.schedule(5 + r.float() * 20, tick);
    };
    world.scheduler.schedule(1200, tick);
  };
  traffic(rng.fork('traffic'));

  // Whose cut the network is: a partition heals only its own cut, and none starts while a flap runs.
  let netOwner = 0;
  let nextOwner = 1;
  const cut = (groups: string[][]): number => {
    world.partition(groups);
    netOwner = nextOwner++;
    return netOwner;
  };
  const healIfMine = (owner: number): void => {
    if (netOwner !== owner) return;
    netOwner = 0;
    world.heal();
  };
  let flapping = false;
  /** Partition sets that change every 0.5–4 s, several times in a row, then heal. */
  const flap = (r: Rng, at: number): void => {
    const changes = r.int(3, 6);
    flapping = true;
    const steps: string[] = [];
    let owner = 0;
    const step = (i: number): void => {
      if (i > 0 && netOwner !== owner) {
        flapping = false;
        return;
      }
      if (i === changes || world.now() >= sendUntil - 500) {
        faults.push(`${Math.round(at)} flap ${steps.join(' / ')} then heal at ${Math.round(world.now())}`);
        flapping = false;
        healIfMine(owner);
        return;
      }
      // Two or three sides, each endpoint on a side drawn at random.
      const k = r.chance(0.3) ? 3 : 2;
      const sides: string[][] = Array.from({ length: k }, () => []);
      for (const e of endpoints) sides[r.int(0, k - 1)]!.push(e);
      const groups = sides.filter((g) => g.length > 0);
      steps.push(groups.map((g) => g.map((e) => e.split(':')[0]).join(',')).join('|'));
      owner = cut(groups);
      world.scheduler.schedule(500 + r.float() * 3500, () => step(i + 1));
    };
    step(0);
  };

  /**
   * How many more members may go without taking away the majority of any view a live member is in
   * (a view change may be half installed): each view's live members, less its majority.
   */
  const spareMembers = (): number => {
    const aliveIds = new Set([...members.values()].filter((m) => m.alive).map((m) => m.memberId));
    let spare = Infinity;
    for (const m of inGroup()) {
      if (m.group.view.id === 0) continue;
      const v = m.group.view;
      const alive = v.members.filter((x) => aliveIds.has(x)).length;
      spare = Math.min(spare, alive - (Math.floor(v.members.length / 2) + 1));
    }
    return spare;
  };

  // The nemesis: one fault at a time, spaced so that each can be resolved before the next.
  const nem = rng.fork('nemesis');
  // Flapping has a stream of its own, so that the other faults of a seed stay as they were.
  const flaps = warmed(world.forkRng('flap'));
  let t = 1800;
  while (t < sendUntil - 3000) {
    const at = t;
    const kind = nem.int(0, 6);
    const flapHere = flaps.chance(0.15);
    // The issue's jam: the coordinator cut off from everyone for long (TCP back-off), then healed.
    const longCutHere = !flapHere && flaps.chance(0.1);
    world.scheduler.schedule(at, () => {
      const live = liveEndpoints();
      if (live.length === 0) return;
      if (flapHere && !flapping && netOwner === 0) return flap(flaps, at);
      if (longCutHere && !flapping && netOwner === 0) {
        const c = inGroup().find((m) => m.group.view.id > 0 && m.group.view.members[0] === m.group.localId);
        if (c === undefined) return;
        const target = endpointOf(c.sim.id);
        const dur = Math.min(5000 + flaps.float() * 10_000, sendUntil - 500 - world.now());
        faults.push(`${Math.round(at)} isolate coordinator ${target} ${Math.round(dur)}ms`);
        const owner = cut([[target]]);
        world.scheduler.schedule(dur, () => healIfMine(owner));
        return;
      }
      const victim = live[nem.int(0, live.length - 1)]!;
      const coordinator = (() => {
        for (const m of inGroup()) {
          const v = m.group.view;
          if (v.id > 0 && v.members[0] === m.group.localId) return endpointOf(m.sim.id);
        }
        return live[0]!;
      })();
      switch (kind) {
        case 0: // crash, and come back later as a new incarnation
        case 1: {
          const target = kind === 1 ? coordinator : victim;
          // Never take away the majority of any view a live member is in (a view change may be half
          // installed): count each view's live members.
          const spare = spareMembers();
          if (spare < 1) return;
          faults.push(`${Math.round(at)} crash ${target}${kind === 1 ? ' (coordinator)' : ''}`);
          members.get(target)!.alive = false;
          history.record({ k: 'crash', at: world.now(), node: members.get(target)!.memberId });
          world.crash(target);
          world.scheduler.schedule(1500 + nem.float() * 2000, () => start(target, contactsFor(target)));
          // Sometimes the next coordinator fails too, in the middle of the change.
          if (kind === 1 && nem.chance(0.5) && spare >= 2) {
            const next = live.find((e) => e !== target);
            if (next) {
              world.scheduler.schedule(suspectMs + 20 + nem.float() * 60, () => {
                if (!members.get(next)?.alive) return;
                faults.push(`${Math.round(world.now())} crash ${next} (next coordinator)`);
                members.get(next)!.alive = false;
                history.record({ k: 'crash', at: world.now(), node: members.get(next)!.memberId });
                world.crash(next);
                world.scheduler.schedule(2000 + nem.float() * 1000, () => start(next, contactsFor(next)));
              });
            }
          }
          return;
        }
        case 2: {
          const dur = suspectMs * 2 + nem.float() * 1500;
          faults.push(`${Math.round(at)} pause ${victim} ${Math.round(dur)}ms`);
          const paused = members.get(victim)!.memberId;
          history.record({ k: 'pause', at: world.now(), node: paused });
          world.pause(victim);
          world.scheduler.schedule(dur, () => {
            history.record({ k: 'resume', at: world.now(), node: paused });
            world.resume(victim);
          });
          return;
        }
        case 3: {
          if (flapping) return;
          // Cut a minority off; it must block, then rejoin after the heal.
          const shuffled = live.slice();
          for (let i = shuffled.length - 1; i > 0; i--) {
            const j = nem.int(0, i);
            [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
          }
          const minority = shuffled.slice(0, Math.max(1, Math.floor((shuffled.length - 1) / 2)));
          const dur = suspectMs * 2 + nem.float() * 2000;
          faults.push(`${Math.round(at)} partition [${minority}] ${Math.round(dur)}ms`);
          const owner = cut([minority, endpoints.filter((e) => !minority.includes(e))]);
          world.scheduler.schedule(dur, () => healIfMine(owner));
          return;
        }
        case 4: {
          // Split into halves with no majority anywhere, e.g. 2/2: nobody may install a view.
          if (flapping || live.length % 2 !== 0 || live.length < 4) return;
          const half = live.slice(0, live.length / 2);
          const dur = suspectMs * 2 + nem.float() * 1000;
          faults.push(`${Math.round(at)} split [${half}] ${Math.round(dur)}ms`);
          const owner = cut([half, endpoints.filter((e) => !half.includes(e))]);
          world.scheduler.schedule(dur, () => healIfMine(owner));
          return;
        }
        case 5: {
          // A clean leave, then a rejoin.
          const m = members.get(victim)!;
          if (m.group === null || m.group.view.id === 0) return;
          // It is crashed 1.5 s later, left or not (a minority cannot install its leave): the same rule as a crash.
          if (spareMembers() < 1) return;
          faults.push(`${Math.round(at)} leave ${victim}`);
          m.alive = false;
          void m.group.leave().then(() => {});
          world.scheduler.schedule(1500, () => {
            history.record({ k: 'crash', at: world.now(), node: m.memberId });
            world.crash(victim);
            start(victim, contactsFor(victim));
          });
          return;
        }
        default: {
          const dur = 200 + nem.float() * 400;
          if (flapping) return;
          faults.push(`${Math.round(at)} isolate ${victim} ${Math.round(dur)}ms`);
          world.isolate(victim);
          const owner = nextOwner++;
          netOwner = owner;
          world.scheduler.schedule(dur, () => healIfMine(owner));
        }
      }
    });
    t += 2200 + nem.float() * 1200;
  }

  // After the adversary: the probe's tap chains to its hook.
  const startProbe = (): void => probe?.start(stack, () => liveEndpoints(), sendUntil);
  opts.adversary?.start({
    world,
    group: GROUP,
    endpoints,
    until: sendUntil,
    members: () =>
      inGroup()
        .filter((m) => m.sim.status !== 'crashed')
        .map((m) => ({ endpoint: endpointOf(m.sim.id), id: m.group.localId, node: m.sim, view: m.group.view })),
  });

  startProbe();

  let crashed: string | undefined;
  const notes: string[] = [];
  /** Run `fn` (the world); false if it threw, or had thrown before. */
  const guarded = (fn: () => void): boolean => {
    if (crashed !== undefined) return false;
    try {
      fn();
      return true;
    } catch (err) {
      // A thrown exception anywhere fails the seed; say which process threw and what it last received.
      const at = world.running;
      crashed = `${at !== null ? `${at} threw` : 'the harness threw'} at ${world.now()}: ${(err as Error).stack ?? String(err)}`;
      if (at !== null && opts.adversary) for (const n of opts.adversary.explain(at)) notes.push(`${at} last got from the adversary: ${n}`);
      return false;
    }
  };
  const pollAll = (): boolean => [...members.values()].every((m) => !m.alive || m.sim.status === 'crashed' || m.poll());

  return {
    needsTurns: together,
    joined: pollAll,
    advance: (ms) => world.now() < sendUntil && guarded(() => world.runUntil(Math.min(sendUntil, world.now() + ms))),
    finish: () => {
      pollAll();
      guarded(() => {
        world.runUntil(sendUntil);
        // The faults stop: the last heal. Within SETTLE_MS the group must be whole again.
        world.setNetwork({ loss: 0, duplicate: 0 });
        netOwner = 0;
        world.heal();
        // How long after the heal the group is whole again (every live member in one unblocked view):
        // for a partitionable group, when the last side merged.
        const healAt = world.now();
        while (world.now() < sendUntil + SETTLE_MS) {
          world.runUntil(Math.min(sendUntil + SETTLE_MS, world.now() + WHOLE_POLL_MS));
          if (wholeAfterHealMs === null && whole()) wholeAfterHealMs = world.now() - healAt;
        }
      });
      return check();
    },
  };

  function check(): VsyncScenarioResult {
    const violations = new ViolationList();
    // A crash is a violation like any other, so that whoever counts violations sees it.
    if (crashed !== undefined) violations.add('crash', crashed);
    // Two groups of one name (the name service's business, issue 9 item 3): whatever follows from it
    // is counted apart, as 'two-groups/<kind>'.
    // (Partitionable: two groups of one name are the sides of a split until they merge; liveness below says they did.)
    const extended = policy?.kind === 'partitionable';
    if (!extended && checkOneGroupPerName(history.events, GROUP, violations)) violations.consequencesOf('two-groups');
    // The adversary's member may equivocate (say different things to different members under one
    // sequence number): nobody can agree on what it "sent", so the checkers judge the honest traffic.
    const adversary = opts.adversary;
    const judged = adversary
      ? history.events.filter((e) => !((e.k === 'deliver' && adversary.speaksAs(e.sender)) || (e.k === 'send' && adversary.speaksAs(e.node))))
      : history.events;
    checkVirtualSynchrony(judged, GROUP, violations, { extended });
    checkOrder(judged, GROUP, violations, { extended });
    if (!extended) checkNoTwoPrimaries(judged, GROUP, violations, adversary ? (m) => adversary.speaksAs(m) : undefined);
    checkOneMemberPerNode(judged, GROUP, violations);
    probe?.check(history.events, violations);
    if (opts.adversary) {
      for (const ev of history.events) {
        if (ev.k !== 'fault' || notes.length > 20) continue;
        for (const n of opts.adversary.explain(ev.node)) notes.push(`${ev.node} (fault at ${ev.at}) last got from the adversary: ${n}`);
      }
    }
    if (crashed !== undefined) return finish(violations);
    // Liveness: after the faults, every live member is in one view with all the others, unblocked.
    for (const m of members.values())
      if (m.alive && m.sim.status === 'up' && m.group === null) violations.add('liveness', `${m.sim.id} never got past asking the name service`);
    const live = inGroup().filter((m) => m.sim.status === 'up');
    const views = new Set(live.map((m) => `${m.group.view.id}:${m.group.view.members.join(',')}`));
    if (views.size !== 1) violations.add('liveness', `live members ended in different views: ${[...views].join(' | ')}`);
    const finalView = live[0]?.group.view;
    for (const m of live) {
      if (finalView && !finalView.members.includes(m.group.localId))
        violations.add('liveness', `${m.group.localId} is alive but not in the final view ${finalView.id}`);
      if (m.group.blockedReasons.length > 0 || m.group.pendingSends > 0)
        violations.add('liveness', `${m.group.localId} is still blocked (${m.group.blockedReasons.join(',')}) with ${m.group.pendingSends} pending sends`);
    }
    // Explain a member left behind by what the adversary sent its process.
    if (opts.adversary && notes.length === 0) {
      for (const m of live) {
        if (finalView?.members.includes(m.group.localId) && m.group.blockedReasons.length === 0) continue;
        for (const n of opts.adversary.explain(m.sim.id)) notes.push(`${m.sim.id} (left behind) got from the adversary: ${n}`);
        break;
      }
    }
    if (finalView && finalView.members.length !== live.length)
      violations.add('liveness', `final view ${finalView.id} has ${finalView.members.length} members, ${live.length} are alive`);
    // Every message sent in the final view by a live member reached every live member.
    if (finalView) {
      // What the adversary's member "sent" is its own business: it may have forged over its real messages.
      const sentFinal = history.events
        .filter(
          (e) =>
            e.k === 'send' &&
            e.group === GROUP &&
            e.view === finalView.id &&
            // (Partitionable: another side may have had a view of that id; the final view's members sent in it.)
            (!extended || finalView.members.includes(e.node)) &&
            !(opts.adversary?.speaksAs(e.node) ?? false),
        )
        .map((e) => (e as { msg: string }).msg);
      for (const m of live)
        for (const msg of sentFinal) if (!m.state.has(msg)) violations.add('liveness', `${m.group.localId} never delivered ${msg} of the final view`);
    }

    return finish(violations);
  }

  function finish(violations: ViolationList): VsyncScenarioResult {
    const h = createHash('sha256');
    for (const ev of history.events) h.update(JSON.stringify(ev)).update('\n');
    return {
      ...(crashed !== undefined ? { crashed } : {}),
      notes,
      seed: opts.seed,
      nodes: n,
      views: new Set(history.events.filter((e) => e.k === 'view').map((e) => (e as { view: number }).view)).size,
      sent: history.events.filter((e) => e.k === 'send').length,
      delivered: history.events.filter((e) => e.k === 'deliver').length,
      faults,
      violations: violations.items,
      violationCount: violations.total,
      historyHash: h.digest('hex'),
      traceHash: world.traceHash(),
      virtualMs: world.now(),
      wholeAfterHealMs,
      ...(opts.verbose ? { logLines: world.logLines() } : {}),
    };
  }
}

/** The scenario's partition policy: its own random stream, so the rest of a seed draws what it did. */
function partitionPolicyOf(kind: VsyncScenarioOptions['policy'], endpoints: readonly string[], r: Rng): PartitionPolicy | null {
  if (kind === 'quorum') return { kind: 'quorum', size: Math.floor(endpoints.length / 2) + 1 };
  if (kind === 'weights') return { kind: 'weights', weights: Object.fromEntries(endpoints.map((e) => [e, r.int(1, 3)])) };
  if (kind === 'partitionable') return { kind: 'partitionable' };
  return null;
}
