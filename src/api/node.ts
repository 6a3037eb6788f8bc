import { ContactPoints, type BootstrapOptions } from './contact-points.js';
import type { Discovery } from '../discovery/discovery.js';
import { z } from 'zod';
import { ConfigError, HorusError, ProtocolError } from '../core/errors.js';
import type { Env, Timer } from '../core/env.js';
import type { HistoryRecorder } from '../core/history.js';
import { InputGuard } from '../core/input-guard.js';
import { RateLimitedLog } from '../core/logger.js';
import { nodeOfMember, rejoinMemberId } from '../core/member-id.js';
import { endpointOf, type NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { FRAME_KIND_BATCH, MAX_GROUP_NAME_BYTES, readFrameGroup } from '../codec/frame.js';
import { type FrameBytes, PiecedFrame, canReadPieced } from '../codec/pieced-frame.js';
import { DEFAULT_STACK, DYNAMIC_STACK, withGroupSecurity } from '../layers/index.js';
import { withPartitionPolicy, type PartitionPolicy } from '../layers/partition-policy.js';
import { MergedKeys, type MergeHandler } from './merge.js';
import type { Acl } from '../security/acl.js';
import { MemoryMetrics, type Counter } from '../obs/metrics.js';
import { Stack, type FaultSite, type StackSpec } from '../stack/stack.js';
import { AnswerBudget } from './answer-budget.js';
import {
  DEFAULT_DIRECTORY_LIMITS,
  directoryLimitsSchema,
  directorySchema,
  encodeDirectory,
  FRAME_KIND_DIRECTORY,
  unpackDirectory,
  type DirectoryLimits,
  type DirectoryMessage,
  type GroupInfo,
} from './directory.js';
import { ClientEndpoint, FRAME_KIND_CLIENT, type ClientOptions, type GroupClient } from './client.js';
import { Group, type ExcludedEvent, type MergedEvent, type SendLimits, type StateHandlers } from './group.js';

export interface JoinOptions {
  /** Layers top first, e.g. 'GMS:STABLE:FC:FRAG:NAK:FD:COM', or a JSON list of { name, options }. */
  stack?: StackSpec;
  /**
   * A fixed membership: every member's `host:port`, in seniority order, this node included.
   * Members are then named by endpoint and the group has no membership layer.
   */
  members?: readonly string[];
  /** Create the group if no node we can reach knows it (default true). */
  create?: boolean;
  /** State transfer: a joiner's first view comes with a snapshot from an existing member. */
  state?: StateHandlers;
  /**
   * How long to ask seeds about the group before deciding it does not exist (ms, default 1500).
   * The wait ends sooner once every seed has answered; it runs up to twice as long while another
   * node that is looking for the group too, with a smaller id, is expected to found it.
   */
  lookupTimeoutMs?: number;
  /** While looking, the seeds are asked again this often (ms, default 150): a first ask may reach a seed not up yet. */
  lookupRetryMs?: number;
  /**
   * A member with seeds asks them (and nodes a merge hint names) about its group about this often (ms,
   * jittered to 0.5–1.5×; default 3000; 0: never), to find a second group of the same name and
   * merge the junior one into the senior one.
   */
  mergeProbeMs?: number;
  /** How a member that is excluded over and over waits before rejoining. */
  rejoinBackoff?: Partial<RejoinBackoff>;
  /** Bounds on sends held back while the group is blocked (see SendLimits). */
  sendLimits?: Partial<SendLimits>;
  /**
   * Who may join this group (names, public keys or roles of authenticated identities; see Acl),
   * checked by the coordinator: a refused joiner's join rejects with ERR_ACCESS_DENIED. Default:
   * everyone with a valid identity. Change it at run time with `group.setAcl`. Needs a dynamic group.
   */
  acl?: Acl;
  /** Encrypt the group's traffic (CRYPT just above NAK, a fresh key per view; see docs/security.md). Needs a dynamic group. */
  encrypt?: boolean;
  /**
   * Which side of a split may go on (primary partition): a majority of the last view (default), a
   * static quorum of at least `size` members, or weights per member endpoint. See docs/partitions.md.
   * Needs a dynamic group.
   */
  partition?: PartitionPolicy;
  /**
   * A partitionable group (`partition: { kind: 'partitionable' }`): how the states of two sides that
   * meet again are reconciled, on every member at the same point (see MergeHandler, mergePolicies).
   * Default: the senior side's state wins. Needs state handlers that give the state as one value.
   */
  merge?: MergeHandler;
}

/**
 * The rejoin back-off: the first exclusion rejoins at once; each further one within `windowMs` of
 * the last (and without having stayed `stableMs` in a view) waits twice as long, from `baseMs` up to `maxMs`.
 */
export interface RejoinBackoff {
  /** Wait before the second rejoin in a row (ms, default 250). */
  baseMs: number;
  /** Longest wait (ms, default 5000). */
  maxMs: number;
  /** An exclusion longer than this after the previous one starts a new count (ms, default 60,000). */
  windowMs: number;
  /** A membership that lasted this long starts a new count at its exclusion (ms, default 10,000). */
  stableMs: number;
}

export const DEFAULT_REJOIN_BACKOFF: RejoinBackoff = { baseMs: 250, maxMs: 5000, windowMs: 60_000, stableMs: 10_000 };

const rejoinBackoffSchema = z
  .object({
    baseMs: z.number().nonnegative(),
    maxMs: z.number().nonnegative(),
    windowMs: z.number().nonnegative(),
    stableMs: z.number().nonnegative(),
  })
  .partial()
  .strict();

const DEFAULT_LOOKUP_MS = 1500;
const DEFAULT_LOOKUP_RETRY_MS = 150;
/** Group names whose last member-id incarnation a node remembers (it joined that many distinct groups). */
const MAX_INCARNATIONS_REMEMBERED = 100_000;
const DEFAULT_MERGE_PROBE_MS = 3000;
/** Nodes one merge probe asks at most. */
const MAX_PROBE_TARGETS = 16;
/** A probe's answers are taken only this long after it was sent: an old answer says little of now. */
const PROBE_ANSWER_MS = 1000;
/** Merge hints act at most this often per group. */
const MERGE_HINT_MIN_INTERVAL_MS = 250;
/**
 * A partitionable group's member that rejoins and is let in by nobody this long (in merge probe
 * intervals, at least PARTITIONABLE_FOUND_MIN_MS) founds a side of its own: every side may go on,
 * and the probes merge it back. Without this, members that all left to rejoin would all wait for
 * each other to let them in.
 */
const PARTITIONABLE_FOUND_PROBES = 3;
const PARTITIONABLE_FOUND_MIN_MS = 3000;
/** A member that told a junior group's member that its group is senior stays in it this long (its join must find us). */
const MERGE_SENIOR_HOLD_MS = 10_000;
/** Other nodes looking for the same group that one lookup remembers. */
const MAX_CO_FOUNDERS = 64;

/** What a node is told when it starts, beyond its Env. */
export interface NodeLimits {
  /** Name service limits (what a peer can make this node hold or send). */
  directory?: Partial<DirectoryLimits>;
}

export const groupNameSchema = z
  .string()
  .min(1, 'a group name cannot be empty')
  .refine((s) => Buffer.byteLength(s) <= MAX_GROUP_NAME_BYTES, `a group name is at most ${MAX_GROUP_NAME_BYTES} bytes`)
  .refine((s) => !/[\u0000-\u001f]/.test(s), 'a group name cannot hold control characters');

/** How long a member that left keeps its stack running to finish the handover. */
const LEAVE_GRACE_MS = 1000;

interface GroupEntry {
  group: Group;
  stack: Stack;
  fixed: boolean;
  spec: StackSpec;
  joins: number;
  lastView: View | null;
  /** The join failed; the stack only finishes leaving. */
  failed?: boolean;
  /** Whom we first asked to let us in: asked again on a rejoin. */
  contacts: readonly string[];
  leaving: ((v: void) => void) | null;
  /** Times this group's stack threw and was rebuilt: the next rejoin waits longer. */
  faults: number;
  backoff: RejoinBackoff;
  /** Exclusions in a row, and when the last one came (see RejoinBackoff). */
  streak: number;
  lastExcludedAt: number;
  /** When this membership's first view came (null: not in a view yet). */
  memberSince: number | null;
  /** A rejoin waiting out its back-off. */
  rejoinTimer: Timer | null;
  mergeProbeMs: number;
  probeTimer: Timer | null;
  lastHintAt: number;
  /** Leaving a junior group of this name for a senior one: what we were, whom we join. */
  merging: { was: View; into: readonly NodeId[]; tries: number; carried?: { enc: number; state: Buffer } } | null;
  /** A partitionable group: nodes that left our views (a split's other side, perhaps), probed for a second live group. */
  lost: string[] | null;
  /** We told a junior group's member that ours is senior: we do not merge away before this (our clock). */
  seniorUntil: number;
  /** The nodes of the junior group we last told so (endpoints). */
  vouchedTo: ReadonlySet<string>;
}

/** A join looking for its group: what the seeds said, and who else is looking for it. */
interface Seeking {
  create: boolean;
  /** Latest answer per seed endpoint. */
  answers: Map<string, { info: GroupInfo | null; founding: NodeId | null }>;
  /** Nodes that asked us as would-be founders, and when (our clock). */
  askers: Map<NodeId, number>;
  staleMs: number;
}

/** A lookup of this node waiting for answers. */
interface PendingLookup {
  group: string;
  /** Endpoints asked: only they may answer. */
  asked: ReadonlySet<string>;
  answer: (info: GroupInfo | null, from: string, founding: NodeId | null, senior: boolean) => void;
}

/** First wait before a group whose stack threw is rejoined; doubles with each fault, to this cap. */
const FAULT_REJOIN_MS = 50;
const FAULT_REJOIN_MAX_MS = 10_000;

/**
 * One Horus endpoint: owns the transport, hands each incoming frame to the stack of the group it
 * names, answers directory lookups (the name service), and rebuilds a group's stack when its
 * member was excluded so that it rejoins as a new member. Runs the same on the real Env and the
 * simulator's.
 */
export class HorusNode {
  /** @internal Layer and node metrics, read by the admin endpoint's /metrics. */
  readonly metrics = new MemoryMetrics();
  private readonly groupsByName = new Map<string, GroupEntry>();
  /**
   * Per group name, the last member-id incarnation this node used (see rejoinMemberId). A new
   * membership never reuses an id: a group remembers the ids that left it and would turn a second
   * join under one of them away, one round trip and one back-off step per old id.
   */
  private readonly incarnations = new Map<string, number>();
  /** Groups whose join failed but whose stack is still leaving the view. */
  private readonly zombies = new Map<string, GroupEntry>();
  /** What this node has heard of groups it is not in. */
  private readonly directory = new Map<string, GroupInfo>();
  private readonly lookups = new Map<number, PendingLookup>();
  /** Joins still looking for their group, by name. */
  private readonly seeking = new Map<string, Seeking>();
  private nextReq = 1;
  private readonly badInput: RateLimitedLog;
  /** Directory input dropped (malformed, unsolicited, over a limit): horus_directory_dropped_total. @internal */
  readonly directoryGuard: InputGuard;
  /** Application messages dropped on the way up (non-members, unicasts, false orders): horus_app_dropped_total. @internal */
  readonly appGuard: InputGuard;
  private readonly directoryLimits: DirectoryLimits;
  private readonly answers: AnswerBudget;
  private readonly allAnswers: AnswerBudget;
  private readonly stackFaults: Counter;
  private readonly backpressure: Counter;
  private readonly iteratorOverflow: Counter;
  private readonly nodeFaults: Counter;
  private closed = false;
  /** Requests of this node's clients, and of clients of the groups it is in. */
  private readonly clientEndpoint: ClientEndpoint;
  private readonly contactPoints: ContactPoints;
  /** Founding waits for this many stable contact points (safe bootstrap), if set. */
  private bootstrap: BootstrapOptions | null = null;

  /** @internal Nodes come from `createNode()`. */
  constructor(
    /** @internal The clock, timers, randomness and transport this node runs on. */
    readonly env: Env,
    private readonly recorder?: HistoryRecorder,
    /** Nodes to ask about groups (`host:port`); a discovery source may add more (see `seeds`). */
    seeds: readonly string[] = [],
    limits: NodeLimits = {},
  ) {
    this.contactPoints = new ContactPoints(env, seeds, endpointOf(env.transport.localId));
    this.badInput = new RateLimitedLog(env.log, () => env.now());
    const dl = directoryLimitsSchema.safeParse(limits.directory ?? {});
    if (!dl.success) throw new ConfigError(`directory limits: ${z.prettifyError(dl.error)}`);
    this.directoryLimits = { ...DEFAULT_DIRECTORY_LIMITS, ...dl.data };
    this.directoryGuard = new InputGuard({ log: env.log, metrics: this.metrics, env }, 'DIRECTORY');
    this.appGuard = new InputGuard({ log: env.log, metrics: this.metrics, env }, 'APP');
    this.answers = new AnswerBudget(this.directoryLimits.answersPerSecond, () => env.now());
    this.allAnswers = new AnswerBudget(this.directoryLimits.answersPerSecondTotal, () => env.now());
    this.stackFaults = this.metrics.counter('horus_node_stack_faults_total', 'group stacks that threw and were torn down (the member rejoined)');
    this.backpressure = this.metrics.counter(
      'horus_app_backpressure_total',
      'sends refused with ERR_BACKPRESSURE: the sends held while blocked were at a limit',
    );
    this.iteratorOverflow = this.metrics.counter(
      'horus_app_iterator_overflow_total',
      'event iterators (group.events()/messages()) that fell more than maxBuffered events behind and failed with ERR_BACKPRESSURE',
    );
    this.nodeFaults = this.metrics.counter('horus_node_faults_total', 'errors thrown while the node routed a frame, contained');
    this.clientEndpoint = new ClientEndpoint({ env, metrics: this.metrics, group: (n) => this.group(n), lookup: (n, ms) => this.lookup(n, ms) });
    env.transport.onFrame((from, frame) =>
      this.onFrameContained(from, Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)),
    );
    env.transport.onPiecedFrame?.((from, pieces, length) =>
      // A group frame is read in its pieces; anything else (or a head cut short) is gathered first.
      this.onFrameContained(
        from,
        canReadPieced(pieces, length) && pieces[0]![0] === FRAME_KIND_BATCH ? new PiecedFrame(pieces, length) : Buffer.concat(pieces, length),
      ),
    );
  }

  /** Nodes asked about groups: the static seeds plus what the discovery source says now. */
  get seeds(): readonly string[] {
    return this.contactPoints.list;
  }

  /**
   * @internal Follow a discovery source (createNode's `discovery`): read now, then every
   * `intervalMs`; with `bootstrap`, a group is founded only once enough contact points are stable.
   */
  async useDiscovery(source: Discovery, intervalMs: number, bootstrap: BootstrapOptions | null): Promise<void> {
    this.bootstrap = bootstrap;
    await this.contactPoints.follow(source, intervalMs);
  }

  get id(): NodeId {
    return this.env.transport.localId;
  }

  get endpoint(): string {
    return endpointOf(this.id);
  }

  /** Nothing a frame does may kill the node: a group's stack contains its own faults, this the rest. */
  private onFrameContained(from: string, frame: FrameBytes): void {
    try {
      this.onFrame(from, frame);
    } catch (err) {
      this.nodeFaults.inc();
      const error = err instanceof Error ? err.message : String(err);
      this.recorder?.record({ k: 'fault', at: this.env.now(), node: this.id, group: '', error: `node frame routing: ${error}` });
      this.badInput.warn('contained an error while routing a frame', { from: String(from).slice(0, 256), error });
    }
  }

  /** `frame` in pieces is a group frame whose head lies in its first piece. */
  private onFrame(from: string, frame: FrameBytes): void {
    if (frame instanceof PiecedFrame) return this.onGroupFrame(from, frame.head, frame);
    if (frame.length > 0 && frame[0] === FRAME_KIND_CLIENT) return this.clientEndpoint.onFrame(from, frame);
    if (frame.length > 0 && frame[0] === FRAME_KIND_DIRECTORY) {
      const raw = unpackDirectory(frame, this.directoryLimits.maxFrameBytes);
      if ('error' in raw) {
        this.directoryGuard.drop(from, raw.error);
        return;
      }
      const m = this.directoryGuard.check(directorySchema(this.directoryLimits), raw.value, from, 'directory message');
      if (m) this.onDirectory(from, m);
      return;
    }
    this.onGroupFrame(from, frame, frame);
  }

  /** A frame for a group: `head` holds its kind and group name (the whole frame, or its first piece). */
  private onGroupFrame(from: string, head: Buffer, frame: FrameBytes): void {
    let parsed;
    try {
      parsed = readFrameGroup(head);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.metrics.counter('horus_node_malformed_frames_total', 'frames with no readable group').inc();
      this.badInput.warn('dropped frame with no readable group', { from, error: err.message });
      return;
    }
    const entry = this.groupsByName.get(parsed.group) ?? this.zombies.get(parsed.group);
    if (!entry) {
      this.metrics.counter('horus_node_unknown_group_frames_total', 'frames for groups this node is not in').inc();
      this.badInput.warn('dropped frame for a group this node is not in', { from, group: parsed.group });
      return;
    }
    entry.stack.receiveFrame(from, frame, parsed.offset);
  }

  // ---- name service ----

  private infoOf(name: string): GroupInfo | null {
    const e = this.groupsByName.get(name);
    if (e && !e.fixed && e.group.view.id > 0 && !e.merging) {
      return { group: name, viewId: e.group.view.id, members: [...e.group.view.members], live: this.isLive(e) };
    }
    const known = this.directory.get(name);
    return known ? { group: known.group, viewId: known.viewId, members: [...known.members] } : null;
  }

  /** In an installed view that is not blocked (flush, minority, rejoin), and staying in it. */
  private isLive(e: GroupEntry): boolean {
    return (
      !e.fixed &&
      !e.merging &&
      !e.leaving &&
      !e.failed &&
      e.rejoinTimer === null &&
      e.group.view.id > 0 &&
      e.group.view.members.includes(e.group.localId) &&
      e.group.blockedReasons.length === 0
    );
  }

  /**
   * Requests are answered within a per-peer budget, with bounded answers; answers are taken only
   * for a lookup of ours that is still waiting, from a node we asked, about the group we asked
   * for. What we learn is what we asked: nothing a peer volunteers is kept or passed on.
   */
  private onDirectory(from: string, m: DirectoryMessage): void {
    switch (m.t) {
      case 'lookup': {
        if (!this.mayAnswer(from)) return this.directoryGuard.drop(from, 'over the answer budget');
        const seeking = this.seeking.get(m.group);
        // Another node looking for the same group, that would found it: it counts in who founds.
        if (seeking && m.founding === true && (seeking.askers.has(from) || seeking.askers.size < MAX_CO_FOUNDERS)) seeking.askers.set(from, this.env.now());
        const info = this.infoOf(m.group);
        const founder = info === null && seeking ? this.founderOf(seeking) : null;
        const senior = m.view !== undefined && this.confirmSenior(m.group, from, m.view);
        this.env.transport.send(
          from,
          encodeDirectory({ t: 'info', req: m.req, group: m.group, info, ...(founder !== null ? { founding: founder } : {}), ...(senior ? { senior } : {}) }),
        );
        return;
      }
      case 'info': {
        const pending = this.lookups.get(m.req);
        if (!pending || !pending.asked.has(endpointOf(from)) || pending.group !== m.group || (m.info !== null && m.info.group !== m.group)) {
          return this.directoryGuard.drop(from, 'unsolicited directory answer', { req: m.req });
        }
        if (m.info) this.learn(from, m.info);
        pending.answer(m.info, from, m.founding ?? null, m.senior === true);
        return;
      }
      case 'merge':
        this.onMergeHint(from, m.group, m.members);
        return;
      case 'list': {
        if (!this.mayAnswer(from)) return this.directoryGuard.drop(from, 'over the answer budget');
        this.env.transport.send(from, this.listing(m.req));
        return;
      }
      case 'listing':
        // This node asks for no listings: any that comes is unsolicited, and is not kept.
        this.directoryGuard.drop(from, 'unsolicited directory listing', { groups: m.groups.length });
        return;
    }
  }

  private mayAnswer(peer: string): boolean {
    return this.answers.take(peer) && this.allAnswers.take('');
  }

  /** What we know of groups, within the listing limits (count and bytes). */
  private listing(req: number): Buffer {
    const names = new Set([...this.groupsByName.keys(), ...this.directory.keys()]);
    let groups: GroupInfo[] = [];
    for (const n of names) {
      if (groups.length >= this.directoryLimits.maxListed) break;
      const info = this.infoOf(n);
      if (info) groups.push(info);
    }
    let frame = encodeDirectory({ t: 'listing', req, groups });
    while (frame.length > this.directoryLimits.maxFrameBytes && groups.length > 0) {
      groups = groups.slice(0, Math.floor(groups.length / 2));
      frame = encodeDirectory({ t: 'listing', req, groups });
    }
    return frame;
  }

  private learn(from: string, info: GroupInfo): void {
    // Of a group we are in, we know better than any peer.
    if (this.groupsByName.has(info.group)) return;
    const known = this.directory.get(info.group);
    if (!known && this.directory.size >= this.directoryLimits.maxEntries) {
      this.directoryGuard.drop(from, 'directory full', { max: this.directoryLimits.maxEntries });
      return;
    }
    if (!known || known.viewId <= info.viewId) this.directory.set(info.group, { group: info.group, viewId: info.viewId, members: [...info.members] });
  }

  /** The node a looking join expects to found the group: the smallest id among those looking that it knows of. */
  private founderOf(s: Seeking): NodeId | null {
    const now = this.env.now();
    let best: NodeId | null = s.create ? this.id : null;
    const consider = (id: NodeId | null): void => {
      if (id !== null && (best === null || id < best)) best = id;
    };
    for (const a of s.answers.values()) consider(a.founding);
    for (const [id, at] of s.askers) {
      if (now - at <= s.staleMs) consider(id);
      else s.askers.delete(id);
    }
    return best;
  }

  private otherSeeds(): string[] {
    return [...new Set(this.seeds.map((s) => endpointOf(s)))].filter((s) => s !== this.endpoint);
  }

  /**
   * Look for a group through the seeds before joining or founding it. The seeds are asked again
   * every `retryMs` (a first ask may be lost to a seed that was not listening yet). The look ends
   * with the first view any seed knows; else once every seed has answered, or `waitMs` has passed,
   * and this node is the one to found it: of the nodes looking for the group at the same time that
   * it knows of (they say so in their asks and answers), the one with the smallest id founds and
   * the others wait for its group (up to `2 × waitMs`) and join it. Resolves null when no group was
   * found and this node may found it.
   */
  private seek(name: string, seeds: readonly string[], create: boolean, waitMs: number, retryMs: number): Promise<GroupInfo | null> {
    if (this.seeking.has(name) || this.seeking.size >= this.directoryLimits.maxOutstanding || this.lookups.size >= this.directoryLimits.maxOutstanding) {
      return Promise.reject(
        new HorusError('ERR_BACKPRESSURE', `too many directory lookups are already waiting for answers (limit ${this.directoryLimits.maxOutstanding})`),
      );
    }
    return new Promise((resolve) => {
      const s: Seeking = { create, answers: new Map(), askers: new Map(), staleMs: Math.max(3 * retryMs, 500) };
      this.seeking.set(name, s);
      const req = this.nextReq++;
      const start = this.env.now();
      let timer: Timer | null = null;
      let done = false;
      const finish = (info: GroupInfo | null): void => {
        if (done) return;
        done = true;
        this.lookups.delete(req);
        this.seeking.delete(name);
        timer?.cancel();
        resolve(info);
      };
      const decide = (): void => {
        let found: GroupInfo | null = null;
        for (const a of s.answers.values()) if (a.info && (!found || a.info.viewId > found.viewId)) found = a.info;
        found ??= this.infoOf(name);
        if (found) return finish(found);
        const founder = this.founderOf(s);
        const elapsed = this.env.now() - start;
        if (founder === null || founder === this.id) {
          if (elapsed >= waitMs || seeds.every((e) => s.answers.has(e))) finish(null);
        } else if (elapsed >= 2 * waitMs) {
          // The expected founder never showed its group: found it ourselves (a second group would be merged).
          finish(null);
        }
      };
      this.lookups.set(req, {
        group: name,
        asked: new Set(seeds),
        answer: (info, from, founding) => {
          s.answers.set(endpointOf(from), { info, founding });
          decide();
        },
      });
      const ask = (): void => {
        if (done) return;
        if (this.closed) return finish(null);
        for (const e of seeds) this.env.transport.send(e, encodeDirectory({ t: 'lookup', group: name, req, ...(create ? { founding: true } : {}) }));
        timer = this.env.setTimer(retryMs, () => {
          decide();
          ask();
        });
      };
      ask();
    });
  }

  /** Ask the seeds what they know of a group; resolves with the first positive answer, or null. */
  lookup(name: string, timeoutMs = 500): Promise<GroupInfo | null> {
    const seeds = [...new Set(this.seeds.map((s) => endpointOf(s)))].filter((s) => s !== this.endpoint);
    if (seeds.length === 0) return Promise.resolve(this.infoOf(name));
    if (this.lookups.size >= this.directoryLimits.maxOutstanding) {
      return Promise.reject(
        new HorusError(
          'ERR_BACKPRESSURE',
          `${this.lookups.size} directory lookups are already waiting for answers (limit ${this.directoryLimits.maxOutstanding})`,
        ),
      );
    }
    return new Promise((resolve) => {
      const req = this.nextReq++;
      let answered = 0;
      let timer: Timer | null = null;
      const finish = (info: GroupInfo | null): void => {
        this.lookups.delete(req);
        timer?.cancel();
        resolve(info);
      };
      const asked = new Set(seeds);
      const heard = new Set<string>();
      this.lookups.set(req, {
        group: name,
        asked,
        answer: (info, from) => {
          // One answer per seed: a seed repeating itself must not end the lookup early.
          if (heard.has(endpointOf(from))) return;
          heard.add(endpointOf(from));
          answered++;
          if (info) finish(info);
          else if (answered >= seeds.length) finish(this.infoOf(name));
        },
      });
      timer = this.env.setTimer(timeoutMs, () => finish(this.infoOf(name)));
      for (const s of seeds) this.env.transport.send(s, encodeDirectory({ t: 'lookup', group: name, req }));
    });
  }

  /**
   * A client of the group `name`, which this node need not be a member of: it finds the members
   * through the seeds (ERR_UNKNOWN_GROUP if none knows the group) and fails over between them.
   */
  client(name: string, opts?: ClientOptions): Promise<GroupClient> {
    return this.clientEndpoint.client(name, opts);
  }

  /** Groups this node is a member of, and those it has heard of. */
  groups(): { name: string; view: View; member: boolean }[] {
    const out: { name: string; view: View; member: boolean }[] = [...this.groupsByName.values()].map((e) => ({
      name: e.group.name,
      view: e.group.view,
      member: true,
    }));
    for (const [name, info] of this.directory) {
      if (!this.groupsByName.has(name)) out.push({ name, view: { group: name, id: info.viewId, members: info.members }, member: false });
    }
    return out;
  }

  group(name: string): Group | undefined {
    return this.groupsByName.get(name)?.group;
  }

  // ---- joining ----

  /**
   * Join a group by name. With `members`, the membership is fixed; otherwise the seeds are asked
   * who is in the group and the join goes through them (or the group is created, unless
   * `create: false`). Resolves once the first view (and state) is installed.
   */
  async join(name: string, opts: JoinOptions = {}): Promise<Group> {
    this.checkJoin(name);
    if (opts.members) return this.joinNow(name, opts);
    const waitMs = opts.lookupTimeoutMs ?? DEFAULT_LOOKUP_MS;
    const retryMs = opts.lookupRetryMs ?? DEFAULT_LOOKUP_RETRY_MS;
    if (!(waitMs >= 0) || !(retryMs > 0)) throw new ConfigError(`lookupTimeoutMs must be >= 0 and lookupRetryMs > 0 (got ${waitMs}, ${retryMs})`);
    let seeds = this.otherSeeds();
    let info = seeds.length === 0 ? this.infoOf(name) : await this.seek(name, seeds, opts.create !== false, waitMs, retryMs);
    if (!info && this.bootstrap && opts.create !== false) {
      // Safe bootstrap: found only once every expected node is known and the list is stable, then
      // look again (all of them look at once, and the smallest id founds).
      await this.contactPoints.whenBootstrapped(this.bootstrap, () => this.closed);
      seeds = this.otherSeeds();
      info = seeds.length === 0 ? this.infoOf(name) : await this.seek(name, seeds, true, waitMs, retryMs);
    }
    this.checkJoin(name);
    const contacts = info ? info.members.filter((m) => nodeOfMember(m) !== this.id) : [];
    if (contacts.length === 0 && opts.create === false) {
      throw new HorusError(
        'ERR_UNKNOWN_GROUP',
        `no reachable node knows a group named ${JSON.stringify(name)} (asked ${this.seeds.length} seed(s)); pass create: true to found it`,
      );
    }
    const g = this.joinNow(name, { ...opts, contacts });
    return g.ready;
  }

  private checkJoin(name: string): void {
    if (this.closed) throw new HorusError('ERR_CLOSED', 'node is closed');
    const parsedName = groupNameSchema.safeParse(name);
    if (!parsedName.success) throw new HorusError('ERR_INVALID_ARGUMENT', `bad group name: ${parsedName.error.issues.map((i) => i.message).join('; ')}`);
    if (this.groupsByName.has(name)) throw new HorusError('ERR_INVALID_ARGUMENT', `already a member of group ${name}`);
  }

  /**
   * Join without waiting: the group is returned at once and `group.ready` settles when its first
   * view is in. `contacts` are members to ask (none: found the group). The simulator uses this.
   */
  joinNow(name: string, opts: JoinOptions & { contacts?: readonly string[] } = {}): Group {
    this.checkJoin(name);
    if (opts.members) return this.joinFixed(name, opts, opts.members);
    const joins = this.nextIncarnation(name);
    const localId = rejoinMemberId(this.id, joins);
    const entry = this.newEntry(name, localId, null, opts, false, opts.contacts ?? []);
    entry.joins = joins;
    this.groupsByName.set(name, entry);
    this.buildStack(entry, localId);
    const contacts = opts.contacts ?? [];
    if (contacts.length === 0) entry.stack.downEvent({ type: 'CREATE' });
    else entry.stack.downEvent({ type: 'JOIN', contacts });
    return entry.group;
  }

  private nextIncarnation(name: string): number {
    const n = (this.incarnations.get(name) ?? 0) + 1;
    // Delete first: the map keeps insertion order, so the oldest-used names go when it is full.
    this.incarnations.delete(name);
    if (this.incarnations.size >= MAX_INCARNATIONS_REMEMBERED) this.incarnations.delete(this.incarnations.keys().next().value!);
    this.incarnations.set(name, n);
    return n;
  }

  /** A group and its bookkeeping, before any stack exists. */
  private newEntry(name: string, localId: NodeId, view: View | null, opts: JoinOptions, fixed: boolean, contacts: readonly string[]): GroupEntry {
    const bo = rejoinBackoffSchema.safeParse(opts.rejoinBackoff ?? {});
    if (!bo.success) throw new ConfigError(`rejoinBackoff of group ${name}: ${z.prettifyError(bo.error)}`);
    const mergeProbeMs = opts.mergeProbeMs ?? DEFAULT_MERGE_PROBE_MS;
    if (!(mergeProbeMs >= 0)) throw new ConfigError(`mergeProbeMs of group ${name} must be >= 0, got ${mergeProbeMs}`);
    const entry: GroupEntry = {
      group: null as unknown as Group,
      stack: null as unknown as Stack,
      fixed,
      spec: withPartitionPolicy(withGroupSecurity(opts.stack ?? (fixed ? DEFAULT_STACK : DYNAMIC_STACK), opts), opts.partition),
      joins: 1,
      lastView: null,
      contacts,
      leaving: null,
      faults: 0,
      backoff: { ...DEFAULT_REJOIN_BACKOFF, ...bo.data },
      streak: 0,
      lastExcludedAt: -Infinity,
      memberSince: null,
      rejoinTimer: null,
      mergeProbeMs,
      probeTimer: null,
      lastHintAt: -Infinity,
      merging: null,
      seniorUntil: -Infinity,
      vouchedTo: new Set(),
      lost: null,
    };
    if (opts.partition?.kind === 'partitionable') {
      if (opts.state && 'getChunks' in opts.state)
        throw new ConfigError(`group ${name}: a partitionable group reconciles its sides' states as values: give state.get/set, not a stream`);
      entry.lost = [];
    } else if (opts.merge) throw new ConfigError(`group ${name}: a merge handler needs partition: { kind: 'partitionable' }`);
    entry.group = new Group(name, localId, view, this.recorder, () => this.env.now(), this.hooksFor(entry), opts.state ?? null, opts.sendLimits);
    entry.group.timers = this.env;
    entry.group.log = this.env.log.child({ group: name });
    entry.group.guard = this.appGuard;
    entry.group.backpressure = this.backpressure;
    entry.group.iteratorOverflow = this.iteratorOverflow;
    if (entry.lost) entry.group.partitionable = { handler: opts.merge ?? null, keys: new MergedKeys() };
    return entry;
  }

  private buildStack(entry: GroupEntry, localId: NodeId): void {
    const name = entry.group.name;
    const stack: Stack = new Stack(
      entry.spec,
      {
        env: this.env,
        group: name,
        localId,
        log: this.env.log.child({ group: name, member: localId }),
        metrics: this.metrics.forGroup(name),
      },
      entry.group,
      (err, site) => this.onStackFault(entry, stack, localId, err, site),
    );
    entry.stack = stack;
    entry.group.attach(stack, localId);
    stack.start();
  }

  /**
   * A group's stack threw and is dead (it runs and sends nothing more). The fault is recorded (the
   * simulator fails such a seed), the application hears of it, and the member comes back as a new
   * member of a dynamic group, after a pause that grows with each fault; a fixed group is closed.
   * The node's other groups are not touched.
   */
  private onStackFault(entry: GroupEntry, stack: Stack, member: NodeId, err: unknown, site: FaultSite): void {
    const name = entry.group.name;
    const message = err instanceof Error ? err.message : String(err);
    this.stackFaults.inc();
    this.recorder?.record({ k: 'fault', at: this.env.now(), node: member, group: name, error: `${site}: ${message}` });
    this.env.log.error('group stack failed; contained', { group: name, member, site, error: message, stack: err instanceof Error ? err.stack : undefined });
    stack.stop();
    if (this.zombies.get(name) === entry) {
      this.zombies.delete(name);
      return;
    }
    if (this.closed || entry.stack !== stack || this.groupsByName.get(name) !== entry) return;
    const error = new HorusError('ERR_INTERNAL', `group ${name}: its protocol stack failed (${site}: ${message}); the stack was torn down`, { cause: err });
    if (entry.leaving) {
      entry.group.reportError(error);
      entry.leaving();
      return;
    }
    if (entry.fixed) {
      this.groupsByName.delete(name);
      this.forgetMetrics(name);
      entry.group.reportError(error);
      entry.group.fail(error);
      return;
    }
    entry.faults++;
    entry.group.upEvent({ type: 'BLOCKED', reason: 'joining' });
    entry.group.reportError(error);
    const delay = Math.min(FAULT_REJOIN_MAX_MS, FAULT_REJOIN_MS * 2 ** Math.min(entry.faults - 1, 16));
    this.env.setTimer(delay, () => {
      if (this.closed || entry.leaving || entry.stack !== stack || this.groupsByName.get(name) !== entry) return;
      this.env.log.warn('rejoining group as a new member after a stack fault', { group: name, faults: entry.faults });
      this.rejoin(entry);
    });
  }

  private hooksFor(entry: GroupEntry): import('./group.js').GroupHooks {
    return {
      leave: (g) => this.leaveGroup(g),
      viewInstalled: (g, v) => {
        if (entry.lost) this.noteLost(entry, entry.lastView, v);
        entry.lastView = v;
        entry.memberSince ??= this.env.now();
        if (entry.merging && v.members.includes(g.localId)) {
          const merged: MergedEvent = { was: entry.merging.was, joined: v };
          if (entry.merging.carried) g.sendMergeRecord(entry.merging.was, entry.merging.carried);
          entry.merging = null;
          this.env.log.warn('merged into the senior group of the same name', { group: g.name, was: merged.was.members.length, joined: v.members.length });
          g.notify('merged', merged);
        }
        // Only a node with seeds probes (a node without seeds is told by hints): none else pays for it.
        if (entry.probeTimer === null && !entry.fixed && entry.mergeProbeMs > 0 && (this.otherSeeds().length > 0 || (entry.lost?.length ?? 0) > 0))
          this.scheduleProbe(entry);
      },
      mergeMarker: (g, into, carried) => {
        if (entry.merging || this.groupsByName.get(g.name) !== entry) return;
        this.leaveForSenior(entry, into, carried);
      },
      ended: (g, ev) => {
        if (ev.type === 'LEFT' && entry.failed) {
          this.teardown(entry);
          this.zombies.delete(g.name);
          return;
        }
        if (ev.type === 'LEFT') {
          // Keep the stack a moment so the leaver can finish handing over (its INSTALL, retransmissions).
          const stack = entry.stack;
          this.env.setTimer(LEAVE_GRACE_MS, () => {
            stack.downEvent({ type: 'STOP' });
            stack.stop();
          });
          entry.leaving?.();
          return;
        }
        // Refused by the group's access-control list (on a rejoin, after an ACL change left us out):
        // asking again would be refused again, so the group ends here as a failed first join does.
        const denied = ev.type === 'JOIN_FAILED' && ev.error.code === 'ERR_ACCESS_DENIED';
        if (ev.type === 'JOIN_FAILED' && (!entry.lastView || denied)) {
          // The stack may still have to leave the view cleanly: keep it reachable until it says LEFT.
          entry.failed = true;
          this.groupsByName.delete(g.name);
          this.zombies.set(g.name, entry);
          this.env.setTimer(10_000, () => {
            if (this.zombies.get(g.name) === entry) {
              this.teardown(entry);
              this.zombies.delete(g.name);
              this.forgetMetrics(g.name);
            }
          });
          if (denied && entry.lastView) {
            g.reportError(ev.error);
            g.fail(ev.error);
          } else g.failReady(ev.error);
          return;
        }
        if (entry.leaving || this.closed) {
          this.teardown(entry);
          entry.leaving?.();
          return;
        }
        if (entry.rejoinTimer !== null) return; // already waiting to rejoin
        // Excluded (or a rejoin failed): come back as a new member, with state, after the back-off.
        const delay = ev.type === 'EXCLUDED' ? this.backOff(entry) : 0;
        this.env.log.warn('rejoining group as a new member', { group: g.name, reason: ev.type, member: g.localId, attempt: entry.streak, delayMs: delay });
        const excluded: ExcludedEvent = { ...ev, attempt: Math.max(1, entry.streak), rejoinDelayMs: delay };
        g.notify('excluded', excluded);
        if (entry.merging && ev.type === 'JOIN_FAILED' && ++entry.merging.tries >= 2) entry.merging = null; // the senior group is gone: rejoin as usual
        if (delay === 0) return this.rejoin(entry);
        this.teardown(entry);
        entry.group.upEvent({ type: 'BLOCKED', reason: 'joining' });
        const stack = entry.stack;
        entry.rejoinTimer = this.env.setTimer(delay, () => {
          entry.rejoinTimer = null;
          if (this.closed || entry.leaving || entry.stack !== stack || this.groupsByName.get(g.name) !== entry) return;
          this.rejoin(entry);
        });
      },
    };
  }

  /**
   * One more exclusion: how long to wait before rejoining. The count starts again when the
   * membership lasted `stableMs` or the last exclusion is older than `windowMs`.
   */
  private backOff(entry: GroupEntry): number {
    const b = entry.backoff;
    const now = this.env.now();
    if ((entry.memberSince !== null && now - entry.memberSince >= b.stableMs) || now - entry.lastExcludedAt > b.windowMs) entry.streak = 0;
    entry.streak++;
    entry.lastExcludedAt = now;
    return entry.streak <= 1 ? 0 : Math.min(b.maxMs, b.baseMs * 2 ** Math.min(entry.streak - 2, 30));
  }

  private rejoin(entry: GroupEntry): void {
    this.teardown(entry);
    entry.rejoinTimer?.cancel();
    entry.rejoinTimer = null;
    entry.joins = this.nextIncarnation(entry.group.name);
    entry.memberSince = null;
    const localId = rejoinMemberId(this.id, entry.joins);
    this.buildStack(entry, localId);
    // Merging: only the senior group's members, lest the junior group take us back.
    const last = entry.merging ? [] : (entry.lastView?.members ?? []);
    const more = entry.merging ? entry.merging.into : [...entry.contacts, ...this.seeds];
    const others = [...last.map((m) => nodeOfMember(m)), ...more.map((m) => nodeOfMember(m))].map((m) => endpointOf(m)).filter((e) => e !== this.endpoint);
    const contacts = [...new Set(others)];
    entry.group.upEvent({ type: 'BLOCKED', reason: 'joining' });
    if (contacts.length === 0) entry.stack.downEvent({ type: 'CREATE' });
    else {
      entry.stack.downEvent({ type: 'JOIN', contacts });
      if (entry.lost && !entry.merging) this.foundIfNobodyLetsUsIn(entry);
    }
  }

  /** Partitionable: if this rejoin is still waiting after a while, found a side of our own (see PARTITIONABLE_FOUND_PROBES). */
  private foundIfNobodyLetsUsIn(entry: GroupEntry): void {
    const stack = entry.stack;
    const joins = entry.joins;
    const ms = Math.max(PARTITIONABLE_FOUND_MIN_MS, PARTITIONABLE_FOUND_PROBES * entry.mergeProbeMs);
    this.env.setTimer(ms, () => {
      const g = entry.group;
      // Only this very join, still running: not one torn down to wait out a back-off (a rejoin is due).
      if (this.closed || entry.leaving || entry.merging || entry.rejoinTimer !== null || entry.joins !== joins) return;
      if (entry.stack !== stack || this.groupsByName.get(g.name) !== entry) return;
      if (g.view.members.includes(g.localId)) return; // let in
      this.env.log.warn('nobody let this partitionable member back in: founding a side of its own', { group: g.name, member: g.localId, waitedMs: ms });
      this.teardown(entry);
      entry.joins++;
      entry.memberSince = null;
      this.buildStack(entry, rejoinMemberId(this.id, entry.joins));
      entry.group.upEvent({ type: 'BLOCKED', reason: 'joining' });
      entry.stack.downEvent({ type: 'CREATE' });
    });
  }

  private teardown(entry: GroupEntry): void {
    entry.stack.downEvent({ type: 'STOP' });
    entry.stack.stop();
  }

  // ---- one group per name: finding and merging a second group of the same name ----

  private scheduleProbe(entry: GroupEntry): void {
    const ms = entry.mergeProbeMs * (0.5 + this.env.rng.float());
    entry.probeTimer = this.env.setTimer(ms, () => {
      if (this.closed || this.groupsByName.get(entry.group.name) !== entry || entry.leaving) {
        entry.probeTimer = null;
        return;
      }
      this.probe(entry, entry.lost ? [...this.seeds, ...entry.lost] : this.seeds);
      this.scheduleProbe(entry);
    });
  }

  /**
   * Ask nodes outside our view what they know of our group. An answer describing a live group of
   * the same name whose nodes are all outside our view is a second group: the junior one merges.
   */
  private probe(entry: GroupEntry, targets: readonly string[]): void {
    if (!this.isLive(entry) || this.lookups.size >= this.directoryLimits.maxOutstanding) return;
    const name = entry.group.name;
    const mine = new Set(entry.group.view.members.map((m) => endpointOf(nodeOfMember(m))));
    const ask = [...new Set(targets.map((t) => endpointOf(nodeOfMember(t))))].filter((e) => e !== this.endpoint && !mine.has(e)).slice(0, MAX_PROBE_TARGETS);
    if (ask.length === 0) return;
    const req = this.nextReq++;
    this.lookups.set(req, {
      group: name,
      asked: new Set(ask),
      answer: (info, from, _founding, senior) => {
        if (info && this.groupsByName.get(name) === entry) this.onProbeAnswer(entry, info, from, senior);
      },
    });
    this.env.setTimer(PROBE_ANSWER_MS, () => this.lookups.delete(req));
    const view = [...entry.group.view.members];
    for (const e of ask) this.env.transport.send(e, encodeDirectory({ t: 'lookup', group: name, req, view }));
  }

  /**
   * A member of a group of our name asks about ours, showing its view. If ours is live, shares no
   * node with its group and is senior by the rule, we say so — and stay in ours for a while, so
   * that the junior one, which moves only on such a word, always finds us there; two groups whose
   * views changed between the two probes can then never move into each other at once.
   */
  private confirmSenior(name: string, from: string, theirs: readonly NodeId[]): boolean {
    const entry = this.groupsByName.get(name);
    if (!entry || !this.isLive(entry)) return false;
    const mine = entry.group.view.members;
    if (!theirs.some((m) => nodeOfMember(m) === from)) return false; // it speaks for its own group only
    const ours = new Set(mine.map((m) => endpointOf(nodeOfMember(m))));
    if (theirs.some((m) => ours.has(endpointOf(nodeOfMember(m)))) || !isSeniorGroup(mine, theirs)) return false;
    entry.seniorUntil = this.env.now() + MERGE_SENIOR_HOLD_MS;
    entry.vouchedTo = new Set(theirs.map((m) => endpointOf(nodeOfMember(m))));
    return true;
  }

  private onProbeAnswer(entry: GroupEntry, theirs: GroupInfo, from: string, senior: boolean): void {
    if (theirs.live !== true || !this.isLive(entry)) return;
    // First-hand only: a member answering for its own group (a node cannot vouch for others' groups).
    if (!theirs.members.some((m) => nodeOfMember(m) === from)) return;
    const mine = entry.group.view;
    const ours = new Set(mine.members.map((m) => endpointOf(nodeOfMember(m))));
    // A node in both: the same group seen at two moments (a partition, a view change): nothing to merge.
    if (theirs.members.some((m) => ours.has(endpointOf(nodeOfMember(m))))) return;
    if (isSeniorGroup(theirs.members, mine.members)) {
      // Partitionable (where groups of one name abound during flapping): the junior group we vouched to
      // is now in this one, which says it is senior, so it holds still itself: it can no longer move into ours.
      if (entry.lost && theirs.members.some((m) => entry.vouchedTo.has(endpointOf(nodeOfMember(m))))) entry.seniorUntil = -Infinity;
      // Only on the senior member's own word (see confirmSenior), and not while we vouched for ours.
      if (senior && this.env.now() >= entry.seniorUntil) this.mergeInto(entry, theirs.members);
    } else {
      // We are the senior one: tell the junior members, who check it themselves.
      for (const n of juniorNodes(theirs.members)) this.env.transport.send(n, encodeDirectory({ t: 'merge', group: mine.group, members: [...mine.members] }));
    }
  }

  /** Nodes that were in `before` and are not in `now` join the lost list; nodes back in a view leave it. */
  private noteLost(entry: GroupEntry, before: View | null, now: View): void {
    const lost = entry.lost!;
    const inNow = new Set(now.members.map((m) => endpointOf(nodeOfMember(m))));
    for (const m of before?.members ?? []) {
      const e = endpointOf(nodeOfMember(m));
      if (!inNow.has(e) && e !== this.endpoint && !lost.includes(e)) lost.push(e);
    }
    entry.lost = lost.filter((e) => !inNow.has(e)).slice(-MAX_PROBE_TARGETS);
  }

  /** Leave our (junior) group and join the senior one as a new member, with its state. */
  private mergeInto(entry: GroupEntry, into: readonly NodeId[]): void {
    // A partitionable group's junior side moves as one, at one point of its sequence (src/api/merge.ts).
    if (entry.lost) return entry.group.startMerge(into);
    const was = entry.group.view;
    this.env.log.warn('a senior group of the same name exists: merging into it', { group: was.group, was: was.members.length, into: into.length });
    // The rest of our group hears of it first (links are FIFO), while our member still answers.
    for (const n of juniorNodes(was.members))
      if (n !== this.id) this.env.transport.send(n, encodeDirectory({ t: 'merge', group: was.group, members: [...into] }));
    this.leaveForSenior(entry, into);
  }

  /** Leave the junior group for the senior one (members `into`); a partitionable group carries its state. */
  private leaveForSenior(entry: GroupEntry, into: readonly NodeId[], carried?: { enc: number; state: Buffer }): void {
    const was = entry.group.view;
    entry.merging = { was, into: [...into], tries: 0, ...(carried ? { carried } : {}) };
    // This member leaves the junior group (its stack goes quiet now): the history says so.
    this.recorder?.record({ k: 'ended', at: this.env.now(), node: entry.group.localId, group: was.group, how: 'left' });
    this.rejoin(entry);
  }

  /** A peer says a senior group of our name exists: ask its members ourselves (nothing is taken on trust). */
  private onMergeHint(from: string, name: string, members: readonly NodeId[]): void {
    const entry = this.groupsByName.get(name);
    if (!entry || entry.fixed) return this.directoryGuard.drop(from, 'merge hint for a group this node is not in');
    // Hints are taken from our seeds and the members of our view only: a stranger cannot send us probing.
    const trusted = this.seeds.some((s) => endpointOf(s) === endpointOf(from)) || entry.group.view.members.some((m) => nodeOfMember(m) === from);
    if (!trusted) return this.directoryGuard.drop(from, 'merge hint from a node that is neither a seed nor a member');
    const now = this.env.now();
    if (now - entry.lastHintAt < MERGE_HINT_MIN_INTERVAL_MS || !this.mayAnswer(from)) return this.directoryGuard.drop(from, 'merge hints too often');
    entry.lastHintAt = now;
    this.probe(entry, members);
  }

  private joinFixed(name: string, opts: JoinOptions, list: readonly string[]): Group {
    const members = list.map((m) => endpointOf(m));
    if (new Set(members).size !== members.length) throw new ConfigError(`member list of ${name} repeats a member`);
    const localId = this.endpoint;
    if (!members.includes(localId)) throw new HorusError('ERR_NOT_MEMBER', `${localId} is not in the fixed member list of ${name}`);
    const view: View = { group: name, id: 1, members };
    const entry = this.newEntry(name, localId, view, opts, true, []);
    this.buildStack(entry, localId);
    this.groupsByName.set(name, entry);
    entry.stack.downEvent({ type: 'VIEW', view });
    entry.group.installView(view);
    return entry.group;
  }

  private async leaveGroup(g: Group): Promise<void> {
    const entry = this.groupsByName.get(g.name);
    if (!entry || entry.group !== g) return;
    entry.probeTimer?.cancel();
    if (entry.rejoinTimer !== null) {
      // Waiting out a rejoin back-off: there is no membership to leave.
      entry.rejoinTimer.cancel();
      entry.rejoinTimer = null;
      this.teardown(entry);
    } else if (entry.fixed || entry.stack.faulted) {
      // A dead stack cannot say goodbye: the others will find it gone.
      this.teardown(entry);
    } else {
      await new Promise<void>((resolve) => {
        let timer: Timer | null = null;
        entry.leaving = () => {
          timer?.cancel();
          resolve();
        };
        // A leave must end even if the rest of the group is unreachable.
        timer = this.env.setTimer(5000, () => {
          this.teardown(entry);
          resolve();
        });
        entry.stack.downEvent({ type: 'LEAVE' });
      });
    }
    this.groupsByName.delete(g.name);
    this.forgetMetrics(g.name);
    g.markLeft();
  }

  /** A group this node is no longer in (nor leaving): its gauges no longer count in the node's. */
  private forgetMetrics(name: string): void {
    if (!this.groupsByName.has(name) && !this.zombies.has(name)) this.metrics.forgetGroup(name);
  }

  async close(): Promise<void> {
    this.contactPoints.stop();
    this.clientEndpoint.close();
    for (const e of this.groupsByName.values()) e.probeTimer?.cancel();
    if (this.closed) return;
    for (const e of [...this.groupsByName.values()]) await e.group.leave();
    this.closed = true;
    await this.env.transport.close();
  }

  /** Stop at once without leaving anything cleanly (the simulator's crash, tests). */
  halt(): void {
    this.closed = true;
    for (const e of this.groupsByName.values()) {
      e.probeTimer?.cancel();
      e.rejoinTimer?.cancel();
    }
    for (const e of this.groupsByName.values()) this.teardown(e);
  }
}

/**
 * The seniority rule both groups compute alike: the larger view, then the smaller coordinator id.
 * Two groups of one name that meet have no node in common, so this never ties.
 */
export function isSeniorGroup(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return a.length > b.length;
  return (a[0] ?? '') < (b[0] ?? '');
}

/** The nodes of a view's members, each once, at most MAX_PROBE_TARGETS. */
function juniorNodes(members: readonly NodeId[]): NodeId[] {
  return [...new Set(members.map((m) => nodeOfMember(m)))].slice(0, MAX_PROBE_TARGETS);
}
