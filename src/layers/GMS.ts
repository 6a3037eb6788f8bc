import { z } from 'zod';
import { memberSet } from '../core/member-set.js';
import { lazyJson } from '../core/logger.js';
import { every, type Timer } from '../core/env.js';
import type { Digest, DownEvent, UpEvent } from '../core/events.js';
import { Message, MsgFlag, OrderCode } from '../core/message.js';
import { nodeOfMember, replacedMemberOf } from '../core/member-id.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { pack, unpack } from '../codec/payload.js';
import { messageFromBytes } from '../codec/message-codec.js';
import { Layer, type LayerContext, type LayerLink } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import type { Counter, Gauge } from '../core/metrics.js';
import { InputGuard, MAX_WIRE_INT } from '../core/input-guard.js';
import { chooseProposal, resendDue, silentParticipants, stepOverdue, type CoordFlush } from './gms/flush.js';
import { Gbcasts } from './gms/gbcast.js';
import { endpointOfMember, JoinAdmission, joinRequestTargets, membershipSeq, nonceFrom, staleJoin } from './gms/joins.js';
import {
  sharedBodySchemas,
  cmpAttempt,
  G,
  GMS_HEADER,
  sameMembers,
  type Attempt,
  type Body,
  type BodySchemas,
  type FlushOkBody,
  type InstallBody,
  type Proposal,
} from './gms/messages.js';
import { refusal, STALE, type Hearing } from './gms/sender-rules.js';
import { StateTransfer } from './gms/state-transfer.js';
import type { StateSource } from '../core/state-stream.js';
import { ViewKeys, type SealedKeys } from './gms/view-keys.js';
import { VersionedSet } from './gms/versioned-set.js';
import { partitionPolicySchema, Quorum } from './partition-policy.js';
import { aclAdmits, aclSchema, ERR_ACCESS_DENIED, identityOf, type Acl } from '../security/acl.js';
import { isApplicationMulticast, markRefusedSend, SendAcl } from '../security/send-acl.js';

export { GMS_HEADER } from './gms/messages.js';

const options = z.object({
  /** How often joins, flush steps and installs are retried while unanswered. */
  retryMs: z.number().positive().default(100),
  /** Members that do not answer a flush step within this are suspected. */
  flushTimeoutMs: z.number().positive().default(1500),
  /** Wait this long after the first membership event, to fold concurrent ones into one view. */
  foldMs: z.number().nonnegative().default(10),
  /**
   * Give up joining after this long with no view, unless the coordinator that admitted us says the
   * view change taking us in is still under way (then within 2 × flushTimeoutMs of its last word,
   * and never after 3 × joinTimeoutMs).
   */
  joinTimeoutMs: z.number().positive().default(10_000),
  /** Largest state chunk a provider sends: one message, a view of the snapshot (clamped to what the layers below carry whole). */
  stateChunkBytes: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /**
   * Most payload bytes of the group's messages a joiner queues while its state streams in; beyond
   * them flow control (FC) grants no more credit until the state is installed, so senders block.
   */
  maxHeldUpBytes: z
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
  /** Most state chunks in flight per joiner. */
  stateWindow: z.number().int().positive().default(64),
  /** Most state bytes in flight per joiner (the bandwidth-delay product of a member-to-member path). */
  stateWindowBytes: z
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024),
  /** Largest state a joiner accepts; a bigger one fails the join with ERR_STATE_TRANSFER (below 2^32 - 1: acks carry byte offsets). */
  maxStateBytes: z
    .number()
    .int()
    .positive()
    .max(MAX_WIRE_INT - 1)
    .default(1024 * 1024 * 1024),
  /** Largest state chunk a joiner accepts (at least our own stateChunkBytes: providers must not send bigger ones). */
  maxStateChunkBytes: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** Most members a view, proposal or digest from a peer may name. */
  maxMembers: z.number().int().min(2).max(65_536).default(1024),
  /** Most gbcasts the coordinator holds for the next view change (and a proposal may carry). */
  maxPendingGbcasts: z.number().int().positive().default(1024),
  /** Most join requests waiting for the joiner's answer to its challenge. */
  maxPendingJoinChallenges: z.number().int().positive().default(64),
  /** A join challenge not answered within this is forgotten. */
  joinChallengeTimeoutMs: z.number().positive().default(3000),
  /** Largest step a flush attempt number may take past the highest one seen (an attempt near 2^32 would wedge the group). */
  maxAttemptStep: z
    .number()
    .int()
    .positive()
    .default(1 << 20),
  /** A fresh key per view, sealed to each member in the view change, handed down to CRYPT (groups whose traffic is encrypted). */
  groupKeys: z.boolean().default(false),
  /** Who may join (and send): see src/security/acl.ts. Absent: everyone with a valid identity. Changed at run time by gbcast. */
  acl: aclSchema.optional(),
  /** Which sets of a view's members may change it (FD must be given the same; see partition-policy.ts; default majority). */
  partition: partitionPolicySchema.optional(),
});
export type GmsOptions = z.infer<typeof options>;

type Status = 'idle' | 'joining' | 'member' | 'leaving' | 'gone';

/**
 * Group membership with virtual synchrony. The coordinator (most senior unsuspected member)
 * folds joins, leaves and suspicions into one view change and runs a flush:
 *  1. FLUSH_START: members stop sending, freeze delivery and report what they hold (their digest)
 *     and any proposal they already accepted; a member promises to ignore older attempts.
 *  2. CUT: the coordinator picks the proposal (an accepted one if any member has one — the new
 *     coordinator must finish what a failed one may have decided), or a fresh one whose cut is the
 *     most anyone holds; every survivor delivers exactly up to the cut, fetching gaps from holders.
 *  3. INSTALL: once all survivors reached the cut, the new view goes to its members; the state
 *     provider snapshots at that instant and streams the snapshot to joiners.
 * Every step needs a majority of the previous view (primary partition); a minority stays blocked
 * and, once it hears from a later view that excluded it, rejoins as a new member.
 */
export class GMS extends Layer {
  readonly name = 'GMS';
  private status: Status = 'idle';
  private view: View | null = null;
  private contacts: readonly string[] = [];
  private joinStarted = 0;
  /** Joiner: the coordinator that admitted us said its view change is under way: we wait until then (see onJoinWait). */
  private joinWaitUntil = -Infinity;
  /** Coordinator: when we last told the joiners of a running flush to wait on. */
  private lastJoinWait = -Infinity;
  private lastJoinReq = -Infinity;
  /** How many rounds of join requests this join has sent (see joinRequestTargets). */
  private joinReqRound = 0;
  private readonly suspects = new VersionedSet<NodeId>();
  private pendingJoins: NodeId[] = [];
  private readonly pendingLeaves = new Set<NodeId>();
  private workSince: number | null = null;
  private maxN = 0;
  private promised: Attempt | null = null;
  private accepted: { a: Attempt; p: Proposal } | null = null;
  /**
   * Joiner: the flush of view `view` we answered though we never installed it (its INSTALL was
   * lost and its coordinator died before resending it): what we promised and accepted there.
   */
  private joinerFlush: { view: number; promised: Attempt; accepted: { a: Attempt; p: Proposal } | null } | null = null;
  private frozen = false;
  private frozenAt = 0;
  private lastFlushReq = 0;
  /** Some member is frozen by an attempt that died with its coordinator: a view change must finish it. */
  private needFlush = false;
  private readonly gb = new Gbcasts();
  /** Leaving only to come back as a new member (our state never arrived). */
  private rejoinAfterLeave = false;
  /** Who first told us a later view left us out, and when (see toldExcluded). */
  private excludedBy: { by: NodeId; at: number } | null = null;
  private awaitingCut: Attempt | null = null;
  private flush: CoordFlush | null = null;
  /** The members FD suspects now (a subset of `suspects`, which also holds our own, from silence in a flush). */
  private readonly fdSuspects = new Set<NodeId>();
  /**
   * Members of the view whose process has since asked, from its own connection, to join under a later
   * membership of its own (`node~n+1`): it tore this one down first, so it can never answer or take
   * part in another primary view. They count neither way in the partition rule (see mayChange): without this,
   * a view whose members mostly left to rejoin could never move on (each step needs a majority of it).
   */
  private readonly replaced = new VersionedSet<NodeId>();
  private readonly quorum: Quorum;
  /** The last minority check at a tick, and what it was computed from (see holdsQuorum). */
  private quorumCheck: { view: View; suspects: number; replaced: number; holds: boolean } | null = null;
  /** When each member of the view first appeared in a view of ours (our clock): see noteReplaced. */
  private readonly memberSeenAt = new Map<NodeId, number>();
  private minority = false;
  /** FD says we hold no lease from a majority of the view: we stop sending and delivering. */
  private outOfLease = false;
  /** Whether the application was told we are in a minority (suspicions or no lease). */
  private minorityShown = false;
  /** Out of lease: what came from below for the application, in order, until the lease returns (dropped if excluded). */
  private leaseHeld: (Message | View)[] | null = null;
  /** Leases we gave members a pending view leaves out run until then (our clock): our Done waits for it. */
  private doneNotBefore = 0;
  private doneTimer: Timer | null = null;
  /** Members of view `viewId` whose leases we revoked for a flush of it (see shortenLeaseWait). */
  private leaseRevoked: { viewId: number; members: Set<NodeId> } = { viewId: -1, members: new Set() };
  /** A flush due soon after a suspicion, sooner than the next tick (see flushSoon). */
  private flushSoonTimer: Timer | null = null;
  /** Joiner: when we first answered a challenge in this join (every member installs our first view after it). */
  private joinAnsweredAt: number | null = null;
  /** Views this coordinator installed and is still delivering to members that have not acked. */
  private installing: { body: InstallBody; unacked: Set<NodeId>; lastSend: number; tries: number } | null = null;
  private readonly state: StateTransfer;
  private readonly guard: InputGuard;
  private readonly schemas: BodySchemas;
  /** Coordinator: joins waiting for the joiner's answer. */
  private readonly admission: JoinAdmission;
  /** Joiner: who challenged us (the coordinators that may install our first view). */
  private readonly challengers = new Set<string>();
  /**
   * Joiner: the coordinator whose challenge we answered, and when it last challenged us. We answer no
   * other one until it has been silent for a while: two coordinators that both admit us (the two sides
   * of a partitionable group, or a stale coordinator and the current one) would make us a member of two
   * views at once, each waiting for us in its flushes.
   */
  private answeredTo: { coord: string; at: number } | null = null;
  /** While a joiner waits for its state (or a view is being installed): messages, and later views, in order. */
  private held: (Message | View)[] | null = null;
  /** Payload bytes of the messages in `held`, and whether flow control was told to stop granting credit for them. */
  private heldBytes = 0;
  private creditHeld = false;
  private get heldUp(): (Message | View)[] | null {
    return this.held;
  }
  /** A new (or no) queue: what the old one counted is released or gone, so flow control may grant again. */
  private set heldUp(h: (Message | View)[] | null) {
    this.held = h;
    this.heldBytes = 0;
    if (this.creditHeld) {
      this.creditHeld = false;
      this.below.downEvent({ type: 'HOLD_CREDIT', hold: false });
    }
  }
  /**
   * Queue a message while the application may not see it yet. Over maxHeldUpBytes, flow control
   * stops granting credit, so the senders block rather than this queue growing (nothing is dropped).
   */
  private holdUp(msg: Message): void {
    this.held!.push(msg);
    this.heldBytes += msg.payload.length;
    if (!this.creditHeld && this.heldBytes > this.opts.maxHeldUpBytes) {
      this.creditHeld = true;
      this.below.downEvent({ type: 'HOLD_CREDIT', hold: true });
    }
  }
  private timer: Timer | null = null;
  private readonly mViews: Counter;
  private readonly mFlushMs: Gauge;
  private readonly mFlushes: Counter;
  private flushBeganAt = 0;
  /** With groupKeys: our key-agreement key pair and the sealed keys of our view. */
  private readonly keys: ViewKeys | null;
  /** The access-control list in force (changed by gbcast, at the same point at every member). */
  private acl: Acl | undefined;
  /** Its send list: application multicasts of members it refuses are marked, and dropped on delivery. */
  private readonly sendAcl: SendAcl;

  constructor(
    ctx: LayerContext,
    private readonly opts: GmsOptions,
  ) {
    super(ctx);
    this.mViews = ctx.metrics.counter('horus_gms_views_total', 'views installed');
    this.mFlushes = ctx.metrics.counter('horus_gms_flushes_total', 'flush attempts started as coordinator');
    this.mFlushMs = ctx.metrics.gauge('horus_gms_last_flush_ms', 'duration of the last view change seen by this member');
    this.guard = new InputGuard(ctx, 'GMS');
    this.schemas = sharedBodySchemas(opts);
    this.keys = opts.groupKeys ? new ViewKeys(ctx.env, ctx.group, ctx.localId) : null;
    this.acl = opts.acl;
    this.quorum = new Quorum(opts.partition);
    this.sendAcl = new SendAcl(ctx.env, opts.acl);
    this.admission = new JoinAdmission(
      { maxPendingChallenges: opts.maxPendingJoinChallenges, challengeTimeoutMs: opts.joinChallengeTimeoutMs, maxRememberedGone: opts.maxMembers },
      nonceFrom(ctx.env.rng),
    );
    this.state = new StateTransfer(
      {
        env: ctx.env,
        log: ctx.log,
        send: (to, t, body) => this.send(to, t, body),
        down: (m) => this.below.down(m),
        complete: (first, state) => this.installWithState(first, state),
        drop: (from, reason) => this.guard.drop(from, reason),
        isMember: (from) => this.inView(from),
        fail: (message) => this.failJoin('ERR_STATE_TRANSFER', message),
        // The application end may take the bytes as they arrive (streaming state handlers).
        openSink: (viewId, size) => {
          const ev: UpEvent = { type: 'STATE_INCOMING', viewId, size, sink: null };
          this.above.upEvent(ev);
          return ev.sink ?? null;
        },
        maxPayloadBytes: () => this.wholePayloadBelow(),
        metrics: ctx.metrics,
      },
      opts,
    );
  }

  /** What the layers below carry in one message (state chunks stay within it). */
  private payloadBelow = Infinity;

  override payloadLimit(below: number): number {
    this.payloadBelow = below;
    return below;
  }

  /**
   * Largest payload that crosses the layers below as one message: a fragmenting layer (FRAG,
   * which says `fragSize`) would copy a larger one into parts and back. State chunks stay within it.
   */
  private wholePayloadBelow(): number {
    let limit = this.payloadBelow;
    for (let l: LayerLink = this.below; l instanceof Layer; l = l.below) {
      const frag = (l as { fragSize?: unknown }).fragSize;
      // FRAG passes a message whole while its payload and 256 bytes of headers fit one fragment.
      if (typeof frag === 'number') limit = Math.min(limit, frag - 256);
    }
    return limit;
  }

  override start(): void {
    this.timer = every(this.env, this.opts.retryMs, () => this.tick());
  }

  override stop(): void {
    this.timer?.cancel();
    this.doneTimer?.cancel();
    this.flushSoonTimer?.cancel();
  }

  private get me(): NodeId {
    return this.ctx.localId;
  }

  private coordinator(): NodeId | null {
    if (!this.view) return null;
    return this.view.members.find((m) => !this.suspects.has(m)) ?? null;
  }

  private get isCoordinator(): boolean {
    return this.coordinator() === this.me;
  }

  // ---- messages and events from above ----

  override down(msg: Message): void {
    if (msg.order === OrderCode.Group && msg.dest === null) {
      this.gbcast(msg);
      return;
    }
    // Frozen: nothing more may enter this view (the flush fixed its contents). The application is
    // blocked already; this stops layers above, e.g. TOTAL announcing an order the cut leaves out.
    if (this.frozen && msg.dest === null) return;
    this.below.down(msg);
  }

  override downEvent(ev: DownEvent): void {
    switch (ev.type) {
      case 'CREATE': {
        this.status = 'member';
        const v: View = { group: this.ctx.group, id: 1, members: [this.me] };
        this.keys?.founding(v);
        this.installLocal(v);
        return;
      }
      case 'JOIN':
        this.status = 'joining';
        this.contacts = ev.contacts;
        this.joinStarted = this.env.now();
        this.joinWaitUntil = -Infinity;
        this.joinAnsweredAt = null;
        this.answeredTo = null;
        this.joinReqRound = 0;
        this.above.upEvent({ type: 'BLOCKED', reason: 'joining' });
        this.sendJoinReq();
        return;
      case 'LEAVE':
        if (this.status !== 'member') {
          this.status = 'gone';
          this.above.upEvent({ type: 'LEFT' });
          return;
        }
        this.beginLeave();
        return;
      default:
        this.below.downEvent(ev);
    }
  }

  // ---- events from below ----

  override upEvent(ev: UpEvent): void {
    switch (ev.type) {
      case 'SUSPECT':
        if (this.view !== null && memberSet(this.view.members).has(ev.member) && ev.member !== this.me) {
          this.suspects.add(ev.member);
          this.fdSuspects.add(ev.member);
          this.noteWork();
          this.flushSoon();
          this.shortenLeaseWait();
          this.restartIfWaitingOn(ev.member);
        }
        return;
      case 'UNSUSPECT':
        // A replaced member's node is alive and talking, as its new membership: that traffic (named
        // by node, so by the old member id when that was the node's first) is no sign of the old one.
        if (this.replaced.has(ev.member)) return;
        this.suspects.delete(ev.member);
        this.fdSuspects.delete(ev.member);
        return;
      case 'STRANGER':
        // A node still talking as a member of an older view that excluded it: tell it.
        if (this.view && this.status === 'member' && ev.viewId < this.view.id) this.send(ev.member, G.NotMember, { view: this.view.id });
        return;
      case 'FLUSH_REACHED':
        this.log.trace('reached', { awaiting: lazyJson(this.awaitingCut) });
        if (this.awaitingCut) {
          const a = this.awaitingCut;
          this.awaitingCut = null;
          this.sendDone(a);
        }
        return;
      case 'LEASE_LOST':
      case 'LEASE_OK':
        this.onLease(ev.type === 'LEASE_OK');
        return;
      default:
        this.above.upEvent(ev);
    }
  }

  override up(msg: Message): void {
    const t = msg.pop(GMS_HEADER);
    if (t === undefined) {
      if (this.sendAcl.restricts && isApplicationMulticast(msg) && !this.sendAcl.admits(msg.src)) {
        this.guard.drop(msg.src, 'message from a member the access-control list does not let send');
        markRefusedSend(msg);
      }
      if (this.heldUp) this.holdUp(msg);
      // Leaving only to rejoin: the application never saw this membership, so it sees none of it.
      else if (this.rejoinAfterLeave) return;
      else if (this.status === 'member' || this.status === 'leaving') this.deliverUp(msg);
      return;
    }
    if (t === G.StateChunk) {
      // A chunk for an earlier membership of this process (another member id) is not ours.
      if (msg.dest === this.me) this.state.onChunk(msg.src, msg);
      return;
    }
    let body: unknown;
    try {
      body = unpack(msg.payload);
    } catch {
      this.guard.drop(msg.src, 'unreadable GMS body', { t });
      return;
    }
    this.onControl(t, msg.src, body, false);
  }

  // ---- control messages ----

  private send(to: NodeId, t: G, body: unknown, payload?: Buffer): void {
    const m = new Message(to, payload ?? pack(body), MsgFlag.Unreliable);
    m.push(GMS_HEADER, t);
    if (to === this.me) {
      m.src = this.me;
      this.onControl(t, this.me, body, true);
      return;
    }
    this.below.down(m);
  }

  /** The checked body of a control message, or null after counting the drop. */
  private checked<T extends G>(t: T, b: unknown, from: NodeId): Body<T> | null {
    return this.guard.check(this.schemas[t] as unknown as z.ZodType<Body<T>>, b, from, `GMS ${G[t]}`);
  }

  /** Is `from` a member of our current view? */
  private inView(from: NodeId): boolean {
    return this.view !== null && memberSet(this.view.members).has(from);
  }

  /** What the sender rules (gms/sender-rules.ts) read of our state. */
  private hearing(): Hearing {
    return {
      me: this.me,
      view: this.view,
      joining: this.status === 'joining',
      flushParticipants: this.flush?.participants ?? null,
      highestAttempt: Math.max(this.maxN, this.promised?.n ?? 0),
      challengers: this.challengers,
      contacts: this.contacts,
      stateProvider: this.state.provider,
      joinerPromise: this.joinerFlush?.promised ?? null,
      awaitsState: (viewId) => this.state.awaits(viewId),
      maxMembers: this.opts.maxMembers,
      maxAttemptStep: this.opts.maxAttemptStep,
    };
  }

  /**
   * Every body is checked against its schema before anything changes, and each kind is honoured
   * only from whom the protocol expects it: a member speaks only for itself. Our own messages
   * (`local`) were built here and skip the checks.
   */
  private onControl(t: G, from: NodeId, b: unknown, local: boolean): void {
    this.log.trace('gms in', { t, from, body: lazyJson(b) });
    if (t === G.StateChunk) return; // binary: handled before unpacking
    if (local) return this.dispatch(t, from, b as never);
    const body = this.checked(t, b, from);
    if (body === null) return;
    const refused = refusal(this.hearing(), t, from, body);
    if (refused !== null) {
      if (refused !== STALE) this.guard.drop(from, refused, { t, viewId: this.view?.id ?? 0 });
      return;
    }
    this.dispatch(t, from, body as never);
  }

  private dispatch<T extends G>(t: T, from: NodeId, body: Body<T>): void {
    switch (t) {
      case G.JoinReq: {
        const x = body as Body<G.JoinReq>;
        return this.onJoinReq(from, x.member, x.kx);
      }
      case G.JoinChallenge:
        return this.onJoinChallenge(from, (body as Body<G.JoinChallenge>).nonce);
      case G.JoinAnswer: {
        const x = body as Body<G.JoinAnswer>;
        return this.onJoinAnswer(from, x.member, x.nonce, x.kx);
      }
      case G.Denied: {
        const x = body as Body<G.Denied>;
        if (this.status === 'joining' && !this.view && x.member === this.me)
          this.failJoin(ERR_ACCESS_DENIED, `the group's access-control list refuses this node: ${x.reason}`);
        return;
      }
      case G.AclSet:
        return; // only inside a gbcast (refused before)
      case G.JoinWait:
        if (this.status === 'joining' && !this.view && (body as Body<G.JoinWait>).member === this.me)
          this.joinWaitUntil = this.env.now() + this.opts.flushTimeoutMs * 2;
        return;
      case G.LeaveReq:
        return this.onLeaveReq((body as Body<G.LeaveReq>).member);
      case G.FlushStart: {
        const x = body as Body<G.FlushStart>;
        return this.onFlushStart(from, x.view, x.a);
      }
      case G.FlushOk:
        return this.onFlushOk(from, body as Body<G.FlushOk>);
      case G.FlushNack: {
        const n = (body as Body<G.FlushNack>).n;
        if (n > this.maxN) this.maxN = n;
        if (this.flush && this.flush.a.n <= n) this.restartFlush();
        return;
      }
      case G.Cut: {
        const x = body as Body<G.Cut>;
        return this.onCut(from, x.view, x.a, x.p, x.frozen);
      }
      case G.Done:
        return this.onDone(from, (body as Body<G.Done>).a);
      case G.Install:
        return this.onInstall(from, body as Body<G.Install>);
      case G.InstallAck:
        if (this.installing && this.installing.body.view.id === (body as Body<G.InstallAck>).view) this.installing.unacked.delete(from);
        return;
      case G.NotMember: {
        const v = (body as Body<G.NotMember>).view;
        if (this.status === 'joining' && !this.view) {
          // Only a notice naming this join id: one meant for our previous membership (a member of
          // the group telling what it took for a stranger, our old self) says nothing of this one.
          if ((body as Body<G.NotMember>).member !== this.me) return;
          // A view admitted us, and a later one left us out, before we heard of either (its INSTALL
          // lost): this id is spent, no coordinator takes it again. Come back under a new one.
          this.log.info('told our join id was admitted and left out since: rejoining under a new id', { by: from, viewId: v });
          this.state.abandon();
          return this.excluded(v);
        }
        if (!this.view || v <= this.view.id) return;
        // Told by a process that has rejoined since: it speaks as the member of our view it replaced
        // (the one our view and the rules below know), lest our old view never hear from anyone again.
        const by = this.view.members.includes(from) ? from : (replacedMemberOf(this.view.members, from) ?? from);
        if (this.status === 'member') return this.quorum.kind === 'partitionable' ? this.toldOtherSide(by) : this.toldExcluded(by);
        // A member that was leaving is gone either way; one told so by one member alone leaves
        // cleanly, and goes at once only when another member says so too, or the leave takes too long.
        const told = this.excludedBy;
        if (this.status === 'leaving' && (told === null || told.by !== by || this.env.now() - told.at > this.opts.flushTimeoutMs * 2)) this.left();
        return;
      }
      case G.StateChunk:
        return; // handled before unpacking
      case G.StateAck: {
        const x = body as Body<G.StateAck>;
        this.state.onAck(from, x.view, x.next);
        return;
      }
      case G.FlushReq:
        if (this.view && (body as Body<G.FlushReq>).view === this.view.id && this.isCoordinator) {
          this.needFlush = true;
          this.noteWork();
        }
        return;
      case G.InstallReq:
        if (
          this.view &&
          (this.status === 'member' || this.status === 'leaving') &&
          (body as Body<G.InstallReq>).view === this.view.id - 1 &&
          memberSet(this.view.members).has(from)
        ) {
          this.send(from, G.Install, {
            view: { id: this.view.id, members: [...this.view.members] },
            stateFrom: null,
            ...(this.keys?.current ? { keys: this.keys.current } : {}),
          });
        }
        return;
      case G.Gbcast: {
        const x = body as Body<G.Gbcast>;
        if (!this.isCoordinator || this.gb.wasDelivered(x.key)) return;
        if (this.gb.pendingCount >= this.opts.maxPendingGbcasts) return this.guard.drop(from, 'too many gbcasts waiting for a view change');
        if (this.gb.accept(x.key, x.bytes)) this.noteWork();
        return;
      }
      case G.StateFail: {
        const x = body as Body<G.StateFail>;
        if (this.state.awaits(x.view)) this.failJoin('ERR_STATE_TRANSFER', x.message);
        return;
      }
    }
  }

  // ---- joining ----

  private sendJoinReq(): void {
    this.lastJoinReq = this.env.now();
    // A challenger counts while we would answer no other coordinator (see onJoinChallenge).
    const a = this.answeredTo;
    const challenger = a !== null && this.env.now() - a.at < this.opts.flushTimeoutMs * 2 ? a.coord : null;
    // Our key-agreement key rides along: a coordinator that hears this request on our own
    // authenticated connection admits us without a challenge (see onJoinReq). A request sent is
    // before any view that admits us, as an answer to a challenge is: our lease may count from it.
    this.joinAnsweredAt ??= this.env.now();
    const kx = this.keys ? { kx: this.keys.publicKey } : {};
    for (const c of joinRequestTargets(this.contacts, this.joinReqRound++, challenger)) this.send(c, G.JoinReq, { member: this.me, ...kx });
  }

  private sendLeaveReq(): void {
    const c = this.coordinator();
    if (c && c !== this.me) this.send(c, G.LeaveReq, { member: this.me });
  }

  /**
   * Anyone may ask for a process to join (a joiner knows only its seeds). The coordinator admits the
   * joiner at once when the request came on the joiner's own connection and the transport proved by
   * certificate who sent it (pki; with group keys it carries the joiner's key-agreement key);
   * otherwise (forwarded by a member, psk, or security off) it challenges the joiner itself.
   */
  private onJoinReq(from: NodeId, member: NodeId, kx?: Uint8Array): void {
    if (this.status !== 'member' && this.status !== 'leaving') return;
    // A late copy (queued across a cut) for a membership that is over, or already replaced: drop it.
    if (this.staleJoinOf(from, member)) {
      // The joiner itself asks under an id a view admitted and a later one left out, before it heard
      // of either: it would ask for ever. Tell it (from the coordinator, which also challenged it) that
      // the id is spent; it comes back under a new one.
      if (nodeOfMember(from) === nodeOfMember(member) && this.admission.wentAway(member) && this.isCoordinator)
        this.send(member, G.NotMember, { view: this.view!.id, member });
      return;
    }
    // A process asking, from its own connection, to join under a new id has left its old membership
    // (told it was excluded, or restarted: one process holds a port): stop counting on that one, so
    // that a coordinator among them does not keep being asked for a join it will never run.
    if (nodeOfMember(from) === nodeOfMember(member)) {
      this.suspectOthersAt(member);
      this.noteReplaced(member);
    }
    const coord = this.coordinator();
    if (coord !== this.me) {
      if (coord) this.send(coord, G.JoinReq, { member });
      return;
    }
    if (memberSet(this.view!.members).has(member) || this.pendingJoins.includes(member)) {
      // Its INSTALL was lost: the install retry covers it.
      return;
    }
    // Not in a partitionable group: there each side's coordinator could admit the same joiner from its
    // request alone (or from a copy the cut held back until it healed, after the joiner got in on the
    // other side), and the joiner would be a member of two views of one number at once. The challenge
    // is answered only while joining, and to one coordinator at a time (see answeredTo).
    if (this.quorum.kind !== 'partitionable' && this.spokeForItself(from, member) && (!this.keys || kx !== undefined) && !this.otherProcessAt(member)) {
      // A challenge sent before this copy arrived (for a forwarded one) is answered by this request.
      this.admission.withdraw(member);
      return this.admit(from, member, kx);
    }
    const nonce = this.admission.challenge(member, this.env.now());
    if (nonce === null) return this.guard.drop(from, 'too many joins waiting for their answer', { member });
    if (this.admission.sendDue(member, this.env.now(), this.opts.retryMs)) this.send(member, G.JoinChallenge, { nonce });
  }

  /** Joiner: a coordinator asks us to prove we are here. */
  private onJoinChallenge(from: NodeId, nonce: number): void {
    if (this.status !== 'joining') return;
    const now = this.env.now();
    if (this.answeredTo !== null && this.answeredTo.coord !== from && now - this.answeredTo.at < this.opts.flushTimeoutMs * 2) return;
    this.answeredTo = { coord: from, at: now };
    if (!this.challengers.has(from) && this.challengers.size >= 16) this.challengers.clear();
    this.challengers.add(from);
    this.joinAnsweredAt ??= this.env.now();
    this.send(from, G.JoinAnswer, { member: this.me, nonce, ...(this.keys ? { kx: this.keys.publicKey } : {}) });
  }

  /** Coordinator: the joiner answered from its own connection: now it may join. */
  private onJoinAnswer(from: NodeId, member: NodeId, nonce: number, kx: Uint8Array | undefined): void {
    if ((this.status !== 'member' && this.status !== 'leaving') || !this.isCoordinator) return;
    if (memberSet(this.view!.members).has(member) || this.pendingJoins.includes(member)) return; // an answer to a resent challenge
    if (this.staleJoinOf(from, member)) return;
    const challengedAt = this.admission.challengedAt(member);
    if (!this.admission.answer(from, member, nonce)) return this.guard.drop(from, 'join answer without its challenge', { member });
    this.admit(from, member, kx, challengedAt);
  }

  /**
   * Whether our view holds a member of another process (another node id) at `member`'s endpoint: a
   * restart. Only a challenge answered after we issued it orders the two processes (see
   * noteReplaced); a request alone may be a late copy, so such a joiner is challenged.
   */
  private otherProcessAt(member: NodeId): boolean {
    const ep = endpointOfMember(member);
    const node = nodeOfMember(member);
    return this.view!.members.some((m) => endpointOfMember(m) === ep && nodeOfMember(m) !== node);
  }

  /**
   * Whether `from` is `member`'s own node and the transport proved it: a certificate that allows
   * that node id (pki). A claimed id is not enough to skip the challenge, nor is psk, where every
   * holder of the secret may claim any id: the challenge goes to the id's own endpoint.
   */
  private spokeForItself(from: NodeId, member: NodeId): boolean {
    if (nodeOfMember(from) !== nodeOfMember(member)) return false;
    const t = this.env.transport;
    const proved = typeof t.peerIdentity === 'function' ? t.peerIdentity(nodeOfMember(from)) : null;
    return proved !== null && proved.mode !== 'psk';
  }

  /**
   * Coordinator: `member` proved, from its own (authenticated) connection, that it is there and
   * wants in (its answer to our challenge, or its own request). `challengedAt`: when the challenge
   * it answered was issued.
   */
  private admit(from: NodeId, member: NodeId, kx: Uint8Array | undefined, challengedAt?: number): void {
    this.admission.answeredAs(member);
    // Is it let in?
    const refused = this.refusedByAcl(member);
    if (refused !== null) {
      this.guard.drop(from, 'join refused by the access-control list', { member });
      this.send(member, G.Denied, { member, reason: refused });
      return;
    }
    if (this.keys) {
      if (kx === undefined) return this.guard.drop(from, 'join answer without a key-agreement key (this group encrypts)', { member });
      this.keys.noteJoiner(member, kx);
    }
    // One member per node: this join replaces any other one of its endpoint still pending.
    const ep = endpointOfMember(member);
    this.pendingJoins = this.pendingJoins.filter((j) => endpointOfMember(j) !== ep);
    this.pendingJoins.push(member);
    this.admission.noteView([...this.view!.members, ...this.pendingJoins]);
    // Any other member at its endpoint is over (an older membership, or a process that died there).
    this.suspectOthersAt(member);
    this.noteReplaced(member, challengedAt);
    this.noteWork();
  }

  /** Drop (and count) a join request or answer for a membership that is over or already replaced. */
  private staleJoinOf(from: NodeId, member: NodeId): boolean {
    // Pending joins count as members here: a join admitted and gone again before we look is still seen leaving.
    this.admission.noteView([...this.view!.members, ...this.pendingJoins]);
    const why = staleJoin(member, [...this.view!.members, ...this.pendingJoins], (m) => this.admission.wentAway(m));
    if (why === null) return false;
    this.guard.drop(from, why, { member });
    return true;
  }

  /**
   * `member` asked, from its own connection, to join: an earlier membership of its process in our
   * view is over for good (a process rejoins as `node~n+1` only after tearing `node~n` down).
   * `challengedAt`: it answered a challenge we issued then, so its process held the endpoint after
   * that time; a member of another incarnation there that was in our view before then held it
   * earlier, and a node binds its port once: that process has exited. (A member first seen after
   * the challenge proves nothing: the answer may be a late copy from the older process.)
   */
  private noteReplaced(member: NodeId, challengedAt?: number): void {
    const node = nodeOfMember(member);
    const seq = membershipSeq(member);
    const ep = endpointOfMember(member);
    let grew = false;
    for (const m of this.view!.members) {
      if (m === this.me) continue;
      const over =
        nodeOfMember(m) === node
          ? membershipSeq(m) < seq
          : challengedAt !== undefined && endpointOfMember(m) === ep && (this.memberSeenAt.get(m) ?? Infinity) < challengedAt;
      if (over) {
        if (!this.replaced.has(m)) grew = true;
        this.replaced.add(m);
        this.suspects.add(m);
      }
    }
    // A coordinator blocked as a minority may now hold a majority of the members that can answer:
    // it tries again at once rather than at its flush attempt's timeout.
    if (grew && this.minority && this.flush !== null && this.isCoordinator) this.restartFlush();
  }

  /**
   * Whether `present` may act for view `v` (see partition-policy.ts); members known replaced count
   * neither way. Safe because a replaced member never answers anyone: any two sets that each hold the
   * rule over the members that may answer still share a member, whatever each coordinator knows of
   * the replaced ones.
   */
  private mayChange(v: View, present: (m: NodeId) => boolean): boolean {
    return this.quorum.mayChange(v.members, present, this.replaced);
  }

  /** `member` is the one at its endpoint now: suspect every other member of the view there (never us). */
  private suspectOthersAt(member: NodeId): void {
    const ep = endpointOfMember(member);
    for (const m of this.view!.members) if (m !== member && m !== this.me && endpointOfMember(m) === ep) this.suspects.add(m);
  }

  /** Only the leaving member itself may ask to leave (checked before): it resends to the current coordinator each tick, so nobody forwards. */
  private onLeaveReq(member: NodeId): void {
    if (this.view === null || !memberSet(this.view.members).has(member) || this.coordinator() !== this.me) return;
    this.pendingLeaves.add(member);
    this.noteWork();
  }

  /** Membership work (a join, leave, suspicion, gbcast or flush request) is waiting: a coordinator starts soon. */
  private noteWork(): void {
    if (this.workSince === null) this.workSince = this.env.now();
    if (this.isCoordinator) this.flushSoon();
  }

  /**
   * A coordinator starts the flush once foldMs has gathered what comes with the first event, rather
   * than at its next tick (up to retryMs, 100 ms: the most of a join's or leave's time before).
   */
  private flushSoon(delay = this.foldDelay()): void {
    if (this.flushSoonTimer !== null) return;
    this.flushSoonTimer = this.env.setTimer(delay, () => {
      this.flushSoonTimer = null;
      if ((this.status !== 'member' && this.status !== 'leaving') || !this.view || !this.isCoordinator || this.flush !== null) return;
      if (!this.hasWork() || this.workSince === null) return;
      // Early for this work (the timer was set for earlier work, or a real timer fired a little
      // before env.now() says foldMs passed: libuv counts from the loop's cached time): wait out
      // the rest rather than leave it to the next tick (up to retryMs later).
      const rest = this.foldDelay() - (this.env.now() - this.workSince);
      if (rest > 0) this.flushSoon(Math.max(rest, 1));
      else this.startFlush();
    });
  }

  /**
   * How long to gather work before a flush: foldMs when it includes a suspicion or a member's
   * request for a flush (members that fail together are suspected some ms apart, and a flush whose
   * participants include one not yet suspected waits for its answer until it times out); none for
   * joins, leaves and gbcasts alone: those that arrive while the flush collects its replies are
   * still taken into its proposal (chooseProposal reads them then), so waiting only delays the change.
   */
  private foldDelay(): number {
    if (this.needFlush || this.frozen) return this.opts.foldMs;
    for (const m of this.view?.members ?? []) if (this.suspects.has(m)) return this.opts.foldMs;
    return 0;
  }

  private hasWork(): boolean {
    if (!this.view) return false;
    if (this.pendingJoins.length > 0 || this.pendingLeaves.size > 0 || this.needFlush || this.gb.hasPending) return true;
    if (this.frozen && this.flush === null) return true;
    for (const m of this.view.members) if (this.suspects.has(m)) return true;
    return false;
  }

  // ---- coordinator: flush ----

  private startFlush(): void {
    const v = this.view!;
    this.log.debug('flush started', {
      viewId: v.id,
      suspects: [...this.suspects].join(' '),
      joins: this.pendingJoins.join(' '),
      leaves: [...this.pendingLeaves].join(' '),
    });
    this.maxN = Math.max(this.maxN, this.promised?.n ?? 0) + 1;
    const a: Attempt = { n: this.maxN, coord: this.me };
    const participants = v.members.filter((m) => !this.suspects.has(m));
    const now = this.env.now();
    if (!this.frozen) this.flushBeganAt = now;
    this.flush = {
      a,
      participants,
      oks: new Map(),
      phase: 'start',
      startedAt: now,
      lastSend: now,
      resends: 0,
      lastAnswerAt: now,
      proposal: null,
      dones: new Set(),
    };
    this.mFlushes.inc();
    for (const p of participants) this.send(p, G.FlushStart, { view: v.id, a });
    this.tellJoinersToWait(now);
  }

  /**
   * Coordinator, while a flush runs: the joiners it may take in (pending, or named in its proposal)
   * hear that it is under way, so that a slow view change (tens of members sharing a few cores: 5-20 s)
   * does not outlast their joinTimeoutMs. A joiner that gives up just before its install is named
   * by a view it never installs: one more view change to remove it, and its retry under a new id
   * another, each as slow (large-64, session 11 and 12).
   */
  private tellJoinersToWait(now: number): void {
    const f = this.flush;
    if (f === null) return;
    this.lastJoinWait = now;
    const inView = memberSet(this.view!.members);
    const joiners = new Set(this.pendingJoins);
    for (const m of f.proposal?.members ?? []) if (!inView.has(m) || f.proposal!.fresh?.includes(m) === true) joiners.add(m);
    for (const j of joiners) this.send(j, G.JoinWait, { member: j });
  }

  /**
   * Coordinator: FD suspects `m` while our flush's first step still waits for its answer. That step
   * would wait out flushTimeoutMs and then start over without it; start over now instead (after
   * foldMs, so that members failing together are dropped in one restart). Members killed together
   * are proven gone some ms apart (the first refused dial starts the flush, the others' come ~100 ms
   * later): the flush that began for the first waited 4 s (large-64's flushTimeoutMs) for the rest.
   * Once per suspicion (FD reports each once), and only in the first step: a member that answered
   * it has accepted nothing yet, and one suspected before the attempt is no participant of it.
   */
  private restartIfWaitingOn(m: NodeId): void {
    const f = this.flush;
    if (f === null || f.phase !== 'start' || !this.isCoordinator || !f.participants.includes(m) || f.oks.has(m)) return;
    this.env.setTimer(this.opts.foldMs, () => {
      if (this.flush !== f || f.phase !== 'start' || this.status === 'gone') return;
      if (!silentParticipants(f).some((p) => this.fdSuspects.has(p))) return;
      this.log.debug('flush restarted: a member it waits for is suspected', { viewId: this.view?.id ?? 0, suspected: m });
      this.restartFlush();
    });
  }

  private restartFlush(): void {
    this.flush = null;
    if (this.isCoordinator && this.status !== 'gone') this.startFlush();
  }

  private onFlushStart(from: NodeId, viewId: number, a: Attempt): void {
    if (this.status === 'joining' && !this.view) return this.onJoinerFlushStart(from, viewId, a);
    if (!this.view || (this.status !== 'member' && this.status !== 'leaving')) return;
    if (viewId < this.view.id) {
      // The coordinator is behind: it missed our install; resend it if we are its installer's peer.
      const installed = { id: this.view.id, members: [...this.view.members], ...(this.keys?.current ? { keys: this.keys.current } : {}) };
      this.send(from, G.FlushOk, { view: viewId, a, digest: [], accepted: null, installed });
      return;
    }
    if (viewId > this.view.id) {
      // The group moved on while our INSTALL was lost (its coordinator died): ask for it.
      this.send(from, G.InstallReq, { view: this.view.id });
      return;
    }
    if (this.promised && cmpAttempt(a, this.promised, this.view.members) < 0) {
      this.send(from, G.FlushNack, { n: this.promised.n });
      return;
    }
    this.promised = a;
    if (a.n > this.maxN) this.maxN = a.n;
    // A more senior coordinator took over: stop running our own attempt.
    if (this.flush && a.coord !== this.me) this.flush = null;
    const digest = this.freeze();
    const kx = this.keys ? { kx: this.keys.publicKey } : {};
    this.send(from, G.FlushOk, { view: viewId, a, digest: [...digest], accepted: this.accepted, hasState: !this.state.receiving, ...kx });
  }

  /**
   * Joiner: a coordinator flushes view `viewId`, which admitted us, but its INSTALL never reached us
   * (its coordinator died before resending it). Without our vote that view may have no majority
   * left, and nobody else can give us its install with a state of its start. So we answer as a
   * member that holds nothing of the view and no state ("fresh"): we vote and promise like any
   * member, and the next view takes us in as a joiner, with a state of its own start.
   */
  private onJoinerFlushStart(from: NodeId, viewId: number, a: Attempt): void {
    // With group keys the attempt's cut is sealed with the view's key, which we do not have: we could promise but never finish.
    if (this.keys) return;
    const jf = this.joinerFlush;
    if (jf && (viewId < jf.view || (viewId === jf.view && a.n <= jf.promised.n && (a.n !== jf.promised.n || a.coord !== jf.promised.coord)))) {
      if (viewId === jf.view) this.send(from, G.FlushNack, { n: jf.promised.n });
      return;
    }
    const accepted = jf && viewId === jf.view ? jf.accepted : null;
    this.joinerFlush = { view: viewId, promised: a, accepted };
    if (a.n > this.maxN) this.maxN = a.n;
    this.log.debug('answering the flush of a view whose install never reached us', { viewId, coord: from });
    this.send(from, G.FlushOk, { view: viewId, a, digest: [], accepted, hasState: false, fresh: true });
  }

  /**
   * Joiner: the cut of the attempt we answered (see onJoinerFlushStart); we hold nothing to deliver, so
   * we are done at once. Also when the cut leaves us out (its coordinator suspects us): our answer may
   * be what made its majority, and without our DONE that cut could never be installed, yet every later
   * attempt must propose it again (it was accepted). Left out, we rejoin under a new id (told so).
   */
  private onJoinerCut(from: NodeId, viewId: number, a: Attempt, p: Proposal): void {
    const jf = this.joinerFlush;
    if (!jf || viewId !== jf.view || a.n !== jf.promised.n || a.coord !== jf.promised.coord) return;
    jf.accepted = { a, p };
    this.send(from, G.Done, { view: viewId, a });
  }

  /** Stop sending and delivering in this view; returns what we hold. */
  private freeze(): Digest {
    if (!this.frozen) {
      this.frozen = true;
      this.frozenAt = this.env.now();
      this.flushBeganAt = this.env.now();
      this.above.upEvent({ type: 'BLOCKED', reason: 'flush' });
    }
    const q: DownEvent = { type: 'FLUSH_FREEZE', digest: null };
    this.below.downEvent(q);
    return q.digest ?? new Map();
  }

  private onFlushOk(from: NodeId, body: FlushOkBody): void {
    const f = this.flush;
    // "Already in a later view" answers our own flush start only: from anyone else (or for another
    // attempt) it is a claim we cannot check, and acting on it would exclude us.
    const answersOurs = f !== null && body.a.n === f.a.n && body.a.coord === f.a.coord && f.participants.includes(from);
    if (body.installed && !answersOurs) {
      this.guard.drop(from, 'flush reply with an installed view that answers no attempt of ours');
      return;
    }
    if (body.installed && this.view && body.installed.id > this.view.id) {
      // Someone already installed the next view: the view was decided; adopt it.
      if (
        memberSet(body.installed.members).has(this.me) &&
        this.accepted &&
        sameMembers(this.accepted.p.members, body.installed.members) &&
        this.awaitingCut === null
      ) {
        this.flush = null;
        const v: View = { group: this.ctx.group, id: body.installed.id, members: body.installed.members };
        this.beginInstall(v, [], this.me, body.installed.keys);
      } else {
        this.excluded(body.installed.id);
      }
      return;
    }
    if (!f || f.phase !== 'start' || body.view !== this.view?.id || body.a.n !== f.a.n || body.a.coord !== f.a.coord || !f.participants.includes(from)) return;
    if (!f.oks.has(from)) f.lastAnswerAt = this.env.now();
    f.oks.set(from, body);
    if (f.participants.every((p) => f.oks.has(p))) this.proceed();
  }

  private proceed(): void {
    const f = this.flush!;
    const v = this.view!;
    const responders = v.members.filter((m) => f.oks.has(m));
    if (!this.mayChange(v, (m) => f.oks.has(m))) {
      this.setMinority(true);
      return;
    }
    this.setMinority(false);
    this.gb.forgetAllBut(v.members);
    let proposal = chooseProposal(v, f, responders, { joins: this.pendingJoins, leaves: this.pendingLeaves, gb: this.gb.undelivered() });
    // A fresh proposal (an accepted one is finished as it is, key included): the ACL it brings in force, and a new key.
    if (![...f.oks.values()].some((ok) => ok.accepted)) proposal = this.admitAndKey(v, f, proposal);
    // Fresh members are members: any the ACL or the keys left out are no longer named.
    const fresh = proposal.fresh?.filter((m) => proposal.members.includes(m));
    if (fresh !== undefined && fresh.length !== proposal.fresh!.length) {
      const { fresh: _gone, ...rest } = proposal;
      proposal = fresh.length > 0 ? { ...rest, fresh } : rest;
    }
    f.phase = 'cut';
    f.proposal = proposal;
    f.lastSend = this.env.now();
    f.startedAt = this.env.now();
    f.lastAnswerAt = f.startedAt;
    f.resends = 0;
    for (const r of responders) this.send(r, G.Cut, { view: v.id, a: f.a, p: proposal, frozen: responders });
  }

  private onCut(from: NodeId, viewId: number, a: Attempt, p: Proposal, frozen?: readonly NodeId[]): void {
    if (this.status === 'joining' && !this.view) return this.onJoinerCut(from, viewId, a, p);
    if (!this.view || viewId !== this.view.id || (this.status !== 'member' && this.status !== 'leaving')) return;
    if (this.promised && cmpAttempt(a, this.promised, this.view.members) < 0) {
      this.send(from, G.FlushNack, { n: this.promised.n });
      return;
    }
    this.promised = a;
    this.accepted = { a, p };
    this.freeze();
    this.revokeLeases(p, frozen);
    this.awaitingCut = a;
    this.below.downEvent({ type: 'FLUSH_CUT', cut: new Map(p.cut), holders: new Map(p.holders) });
  }

  private onDone(from: NodeId, a: Attempt): void {
    const f = this.flush;
    this.log.trace('done', { from, a: lazyJson(a), f: lazyJson(f ? { phase: f.phase, n: f.a.n, dones: f.dones } : 'none') });
    // Only participants that answered this attempt count toward its end.
    if (!f || f.phase !== 'cut' || a.n !== f.a.n || a.coord !== f.a.coord || !f.oks.has(from)) return;
    if (!f.dones.has(from)) f.lastAnswerAt = this.env.now();
    f.dones.add(from);
    const v = this.view!;
    const needed = f.proposal!.members.filter((m) => memberSet(v.members).has(m) && f.oks.has(m));
    if (needed.every((m) => f.dones.has(m)) && this.mayChange(v, (m) => f.dones.has(m))) {
      const next: View = { group: this.ctx.group, id: v.id + 1, members: f.proposal!.members };
      this.gb.lastProposal = f.proposal!.gb ?? [];
      this.flush = null;
      // The state provider: the most senior survivor that holds the state itself.
      const nextSet = memberSet(next.members);
      const provider = v.members.find((m) => nextSet.has(m) && f.oks.get(m)?.hasState === true) ?? this.me;
      // Members that never installed v (see onJoinerFlushStart) come in as joiners: the proposal names them.
      const fresh = (f.proposal!.fresh ?? []).filter((m) => nextSet.has(m));
      this.beginInstall(next, [...f.oks.keys()], provider, f.proposal!.keys, fresh);
    }
  }

  /** Coordinator: install `next` here and deliver it to its members (and tell those left out). */
  private beginInstall(next: View, alsoTell: NodeId[] = [], provider: NodeId = this.me, keys?: SealedKeys, fresh: NodeId[] = []): void {
    const old = this.view!;
    const oldSet = memberSet(old.members);
    const joiners = next.members.filter((m) => !oldSet.has(m) || fresh.includes(m));
    const body: InstallBody = {
      view: { id: next.id, members: [...next.members] },
      stateFrom: joiners.length > 0 ? provider : null,
      ...(keys ? { keys } : {}),
      ...(fresh.length > 0 ? { fresh } : {}),
    };
    const targets = new Set<NodeId>([...next.members, ...alsoTell, ...old.members.filter((m) => !this.suspects.has(m))]);
    targets.delete(this.me);
    this.installing = { body, unacked: new Set(next.members.filter((m) => m !== this.me)), lastSend: this.env.now(), tries: 0 };
    this.pendingJoins = this.pendingJoins.filter((j) => !memberSet(next.members).has(j));
    for (const m of old.members) if (!memberSet(next.members).has(m)) this.pendingLeaves.delete(m);
    for (const t of targets) this.send(t, G.Install, body);
    this.onInstall(this.me, body);
  }

  private onInstall(from: NodeId, body: InstallBody): void {
    const next: View = { group: this.ctx.group, id: body.view.id, members: body.view.members };
    if (from !== this.me) this.send(from, G.InstallAck, { view: next.id });
    if (this.status === 'joining') {
      if (!memberSet(next.members).has(this.me)) return;
      // The install of a view whose flush we answered without it (see onJoinerFlushStart): too late,
      // the next view takes us in (our empty digest is in that flush's cut: we must not send in it).
      if (this.joinerFlush && next.id <= this.joinerFlush.view) return;
      if (this.keys && !this.keys.install(next, body.keys)) {
        this.guard.drop(from, 'install without a key sealed to us');
        return;
      }
      this.status = 'member';
      this.challengers.clear();
      if (body.stateFrom) {
        this.state.expect(next, body.stateFrom);
        this.heldUp = [];
        // Installing the view below now lets the new view's traffic reach us while state streams in.
        this.viewDown(next);
        this.view = next;
        return;
      }
      this.installLocal(next);
      return;
    }
    if (!this.view || next.id <= this.view.id) return;
    if (next.id > this.view.id + 1) {
      // We missed a whole view: we cannot have delivered what its members did.
      this.excluded(next.id);
      return;
    }
    if (!memberSet(next.members).has(this.me)) {
      if (this.status === 'leaving') this.left();
      else this.excluded(next.id);
      return;
    }
    // Only a member that reached this view's cut may install it.
    if (from !== this.me && (!this.accepted || !sameMembers(this.accepted.p.members, next.members) || this.awaitingCut !== null)) {
      this.excluded(next.id);
      return;
    }
    if (this.keys && !this.keys.install(next, body.keys ?? this.accepted?.p.keys)) {
      // A view we cannot read: leave it as a member that cannot take part, and come back as a new one.
      this.log.error('view installed without a key sealed to this member', { viewId: next.id, from });
      this.excluded(next.id);
      return;
    }
    const current = memberSet(this.view!.members);
    const joiners = next.members.filter((m) => !current.has(m) || body.fresh?.includes(m) === true);
    // What we held out of lease is inside the cut everyone delivers: it goes first.
    this.releaseLeaseHeld();
    // gbcasts go last in the old view: after the cut, before the view change, in proposal order.
    this.deliverGbcasts(from === this.me ? (this.accepted?.p.gb ?? this.gb.lastProposal) : (this.accepted?.p.gb ?? []));
    const provide = body.stateFrom === this.me && joiners.length > 0;
    const { snapshot, snapshotError } = this.installLocal(next, provide);
    if (provide) this.state.provide(joiners, next.id, snapshot, snapshotError);
  }

  /**
   * Install `v` at this member: lower layers first, then the application. A state provider gets
   * the snapshot from the application as the view reaches it — after the layers above have
   * delivered the rest of the old view (TOTAL's leftovers), before anything of the new one.
   */
  private installLocal(v: View, provide = false): { snapshot: Buffer | StateSource | null; snapshotError: Error | null } {
    if (this.rejoinAfterLeave) this.leaseHeld = this.outOfLease ? [] : null;
    else this.releaseLeaseHeld();
    const leaseSince = this.leaseSince();
    const old = this.view;
    this.view = v;
    // Remember who this view left out, so a late join in their name is refused at any coordinator.
    // Joins still pending (answered while this view's flush ran, after its proposal) are not left
    // out: taken for gone, each was refused its next request and rejoined under a new id, two more
    // view changes (large-64: a batch of joiners, each costing seconds at 40 members).
    this.admission.noteView([...v.members, ...this.pendingJoins.filter((j) => !memberSet(v.members).has(j))]);
    this.promised = null;
    this.accepted = null;
    this.joinerFlush = null;
    this.awaitingCut = null;
    this.frozen = false;
    this.needFlush = false;
    this.flush = null;
    this.workSince = null;
    // FD starts its suspicions afresh with each view (and repeats any that still hold): so do we.
    this.suspects.clear();
    this.fdSuspects.clear();
    for (const m of [...this.replaced]) if (!memberSet(v.members).has(m)) this.replaced.delete(m);
    // A replaced member carried into this view (by a proposal accepted before we knew) stays suspected.
    for (const m of this.replaced) this.suspects.add(m);
    for (const m of [...this.memberSeenAt.keys()]) if (!memberSet(v.members).has(m)) this.memberSeenAt.delete(m);
    for (const m of v.members) if (!this.memberSeenAt.has(m)) this.memberSeenAt.set(m, this.env.now());
    this.pendingJoins = this.pendingJoins.filter((j) => !memberSet(v.members).has(j));
    for (const m of [...this.pendingLeaves]) if (!memberSet(v.members).has(m)) this.pendingLeaves.delete(m);
    if (this.hasWork()) this.noteWork();
    this.mViews.inc();
    if (old) this.mFlushMs.set(this.env.now() - this.flushBeganAt);
    this.log.info('view installed', { viewId: v.id, members: v.members.join(' ') });
    if (this.rejoinAfterLeave) {
      // On our way out to rejoin: lower layers follow the group, the application sees nothing.
      this.below.downEvent({ type: 'VIEW', view: v, leaseSince });
      return { snapshot: null, snapshotError: provide ? new Error('this member is leaving to rejoin') : null };
    }
    if (this.state.receiving && this.heldUp !== null) {
      // Still waiting for the state of an earlier view: the application sees this view after it.
      this.heldUp.push(v);
      this.below.downEvent({ type: 'VIEW', view: v, leaseSince });
      return { snapshot: null, snapshotError: provide ? new Error('this member is still receiving its own state') : null };
    }
    // Hold messages of the new view that lower layers replay while we tell the application.
    const held: (Message | View)[] = this.heldUp ?? [];
    this.heldUp = held;
    this.below.downEvent({ type: 'VIEW', view: v, leaseSince });
    const ev: UpEvent = { type: 'VIEW', view: v, provide, snapshot: null, snapshotError: null };
    this.above.upEvent(ev);
    this.heldUp = null;
    this.setMinority(false);
    this.endViewChangeBlocks();
    this.release(held);
    return { snapshot: ev.snapshot ?? null, snapshotError: ev.snapshotError ?? null };
  }

  private release(held: (Message | View)[]): void {
    for (const item of held) {
      if (this.leaseHeld !== null) this.leaseHeld.push(item);
      else if (item instanceof Message) this.above.up(item);
      else this.above.upEvent({ type: 'VIEW', view: item });
    }
  }

  // ---- access control and group keys ----

  /** Why the ACL in force does not let this member send to the group, or null if it does. */
  sendRefusal(): string | null {
    if (this.sendAcl.admits(this.me)) return null;
    const id = identityOf(this.env, nodeOfMember(this.me));
    return id === undefined ? 'this node has no authenticated identity' : `identity ${JSON.stringify(id.name.slice(0, 128))} is not on the send list`;
  }

  /** Why the ACL in force (`acl`) refuses `member` as a member, or null if it admits it. */
  private refusedByAcl(member: NodeId, acl: Acl | undefined = this.acl): string | null {
    const id = identityOf(this.env, nodeOfMember(member));
    if (aclAdmits(acl, 'join', id)) return null;
    return id === undefined ? 'no authenticated identity' : `identity ${JSON.stringify(id.name.slice(0, 128))} is not on the list`;
  }

  /** The ACL a proposal's gbcasts bring in force (the last change it carries), or the current one. */
  private aclAfter(p: Proposal): Acl | undefined {
    let acl = this.acl;
    for (const [, bytes] of p.gb ?? []) {
      const next = aclOfGbcast(bytes);
      if (next !== null) acl = next;
    }
    return acl;
  }

  /**
   * A fresh proposal: members the ACL in force after it no longer admits are left out (excluded by
   * this very change), and with group keys, the next view's key is drawn and sealed to each member
   * (one whose key-agreement key we lack is left out: it could not read the view).
   */
  private admitAndKey(v: View, f: CoordFlush, p: Proposal): Proposal {
    const acl = this.aclAfter(p);
    let members = acl === undefined ? p.members : p.members.filter((m) => m === this.me || this.refusedByAcl(m, acl) === null);
    if (members.length !== p.members.length) {
      this.log.info('view change leaves out members the access-control list refuses', { out: p.members.filter((m) => !memberSet(members).has(m)).join(' ') });
      this.forgetRefusedJoins(p.members, members);
    }
    if (!this.keys) return members === p.members ? p : { ...p, members };
    const keys = this.keys;
    const sealed = keys.seal(v.id + 1, members, (m) => f.oks.get(m)?.kx ?? keys.joinerKey(m));
    if (sealed.unknown.length > 0) {
      this.log.warn('view change leaves out members with no key-agreement key', { out: sealed.unknown.join(' ') });
      members = members.filter((m) => !sealed.unknown.includes(m));
      this.forgetRefusedJoins(p.members, members);
    }
    return { ...p, members, keys: sealed.keys };
  }

  /**
   * Joins the proposal leaves out (`proposed` less `kept`: refused) are no longer pending, so the
   * view's install counts them gone, as before pending joins were kept out of that count.
   */
  private forgetRefusedJoins(proposed: readonly NodeId[], kept: readonly NodeId[]): void {
    const keep = memberSet(kept);
    const out = new Set(proposed.filter((m) => !keep.has(m)));
    this.pendingJoins = this.pendingJoins.filter((j) => !out.has(j));
  }

  /** A gbcast ACL change, delivered here at the same point as at every member. */
  private applyAcl(msg: Message): void {
    const acl = aclOfGbcast(msg);
    if (acl === null) return this.guard.drop(msg.src, 'malformed access-control list in a gbcast');
    this.acl = acl;
    this.sendAcl.set(acl);
    this.log.info('access-control list changed', { by: msg.src });
  }

  // ---- gbcast: ordered against every message and every view change ----

  private gbcast(msg: Message): void {
    this.gb.submit(this.me, msg);
    this.sendGbcasts();
  }

  private sendGbcasts(): void {
    const c = this.coordinator();
    if (!c || this.gb.own.size === 0) return;
    for (const [key, bytes] of this.gb.own) this.send(c, G.Gbcast, { key, bytes });
  }

  /**
   * The gbcasts of a view change, delivered at its install like the rest of the old view: held with
   * it while a joiner waits for its state, and none to an application that sees nothing of this
   * membership (leaving only to rejoin), as for `up`. Handed up regardless, they reached a joiner
   * whose state never came in the view of its previous membership (seed 1723).
   */
  private deliverGbcasts(list: readonly [string, Buffer | Uint8Array][]): void {
    this.gb.deliver(list, (msg) => {
      if (msg.peek(GMS_HEADER) === G.AclSet) return this.applyAcl(msg);
      if (this.heldUp) this.holdUp(msg);
      else if (!this.rejoinAfterLeave) this.above.up(msg);
    });
  }

  // ---- state transfer (streaming lives in gms/state-transfer.ts) ----

  /** The joiner's state arrived: its first view goes up with it, then whatever followed. */
  private installWithState(first: View, state: Buffer | null): void {
    this.mViews.inc();
    const held = this.heldUp ?? [];
    this.heldUp = held;
    this.above.upEvent({ type: 'VIEW', view: first, state });
    this.heldUp = null;
    // Catch the application up (messages, later views) before it may send: what it sends must be
    // stamped with the view it sees.
    if (this.status === 'member' || this.status === 'leaving') this.release(held);
    if (!this.frozen) this.endViewChangeBlocks();
  }

  private failJoin(code: 'ERR_STATE_TRANSFER' | 'ERR_JOIN_REJECTED' | typeof ERR_ACCESS_DENIED, message: string): void {
    this.log.warn('join failed', { code, message });
    this.state.abandon();
    this.heldUp = null;
    const inView = this.status === 'member' && this.view !== null;
    this.above.upEvent({ type: 'JOIN_FAILED', code, message });
    if (inView) {
      // Already a member below the application: leave cleanly, or a small group would lose its majority.
      this.beginLeave();
    } else {
      this.status = 'gone';
      this.above.upEvent({ type: 'LEFT' });
    }
  }

  // ---- leaving, exclusion, minority ----

  private left(): void {
    this.status = 'gone';
    this.leaseHeld = null;
    if (this.rejoinAfterLeave) this.above.upEvent({ type: 'EXCLUDED', viewId: this.view?.id ?? 0 });
    else this.above.upEvent({ type: 'LEFT' });
  }

  /**
   * A member says a later view left us out. It may be right (we were cut off and are the last to
   * know), or wrong: a member's word is not a view, and leaving silently on it alone could cost a
   * small view the majority it needs to move on. So leave cleanly to rejoin: if the view exists,
   * the next such notice ends the leave at once; if not, our leave is an ordinary view change.
   */
  private toldExcluded(by: NodeId): void {
    this.log.info('told by a member that a later view left us out: leaving to rejoin', { by, myView: this.view?.id ?? 0 });
    this.excludedBy = { by, at: this.env.now() };
    this.leaveToRejoin();
  }

  /**
   * Partitionable: a member of our view says a later view of its own left us out. Its side moved on
   * without ours (the sides of a split number their views apart, so the later id says nothing of
   * our side): it is gone from our side, which goes on without it and merges with its side later.
   */
  private toldOtherSide(by: NodeId): void {
    this.log.info('a member moved on to a view of another side: going on without it', { by, myView: this.view?.id ?? 0 });
    this.suspects.add(by);
    this.fdSuspects.add(by);
    this.noteWork();
    this.flushSoon();
  }

  /** Leave only to come back as a new member: the application sees nothing of this membership's end. */
  private leaveToRejoin(): void {
    this.state.abandon();
    this.heldUp = null;
    this.rejoinAfterLeave = true;
    this.beginLeave();
  }

  /** Ask for a view without us: the coordinator folds it into its next change, others ask it. */
  private beginLeave(): void {
    this.status = 'leaving';
    this.pendingLeaves.add(this.me);
    this.noteWork();
    if (!this.isCoordinator) this.sendLeaveReq();
  }

  private excluded(viewId: number): void {
    if (this.status === 'gone') return;
    this.log.info('excluded from the group', { viewId, myView: this.view?.id ?? 0 });
    this.status = 'gone';
    // What we held out of lease was never delivered by the group: it is discarded with our membership.
    this.leaseHeld = null;
    this.above.upEvent({ type: 'EXCLUDED', viewId });
  }

  private setMinority(on: boolean): void {
    this.minority = on;
    this.showMinority();
  }

  /** Tell the application whether we are in a minority: by suspicions, or out of lease. */
  private showMinority(): void {
    const on = this.minority || this.outOfLease;
    if (on === this.minorityShown) return;
    this.minorityShown = on;
    if (on) this.above.upEvent({ type: 'BLOCKED', reason: 'minority' });
    // Heard from a majority again without a view change: sends may flow (unless a flush holds them).
    else this.above.upEvent({ type: 'UNBLOCKED', reason: 'minority' });
  }

  /**
   * A view is in: the flush and the join are over. Without a majority's lease (FD decided it as the
   * view went down, a joiner's late first view say), the minority block stays up through the
   * change, so that the application is never live, even for an instant, in a view it holds no lease in.
   */
  private endViewChangeBlocks(): void {
    if (this.outOfLease) {
      this.showMinority();
      this.above.upEvent({ type: 'UNBLOCKED', reason: 'flush' });
      this.above.upEvent({ type: 'UNBLOCKED', reason: 'joining' });
      return;
    }
    this.above.upEvent({ type: 'UNBLOCKED' });
    this.reshowMinority();
  }

  /** After an UNBLOCKED that cleared every reason: say again that we are out of lease, if we are. */
  private reshowMinority(): void {
    this.minorityShown = false;
    this.showMinority();
  }

  // ---- leases (FD): a member without a majority's lease neither sends nor delivers ----

  private onLease(ok: boolean): void {
    this.outOfLease = !ok;
    if (!ok) this.leaseHeld ??= [];
    else {
      const held = this.leaseHeld;
      this.leaseHeld = null;
      if (held !== null && (this.status === 'member' || this.status === 'leaving')) this.release(held);
    }
    this.showMinority();
  }

  /**
   * A time (our clock) before which no member of the view we are installing had installed it: a
   * joiner's first answer to a challenge, or when we froze for the flush that led to it. Each
   * member grants us a lease from then as it installs the view (FD), so a view change does not
   * leave us without a lease until the first echoes.
   */
  private leaseSince(): number | undefined {
    const joined = this.joinAnsweredAt;
    this.joinAnsweredAt = null;
    if (joined !== null) return joined;
    return this.frozen ? this.frozenAt : undefined;
  }

  private viewDown(v: View): void {
    const leaseSince = this.leaseSince();
    this.below.downEvent(leaseSince === undefined ? { type: 'VIEW', view: v } : { type: 'VIEW', view: v, leaseSince });
  }

  private deliverUp(msg: Message): void {
    if (this.leaseHeld !== null) this.leaseHeld.push(msg);
    else this.above.up(msg);
  }

  /** A view is being installed: what we held is inside its cut, so it goes up now; later traffic waits while out of lease. */
  private releaseLeaseHeld(): void {
    const held = this.leaseHeld;
    if (held === null) return;
    this.leaseHeld = null;
    this.release(held);
    if (this.outOfLease) this.leaseHeld = [];
  }

  /**
   * The accepted proposal leaves out members that did not freeze for it: our echoes may still give
   * them a lease, so FD stops them, and our Done waits until the last such lease has run out (else
   * an excluded member could still deliver while the others install the next view).
   */
  private revokeLeases(p: Proposal, frozen: readonly NodeId[] | undefined): void {
    if (!this.view) return;
    const out = this.view.members.filter((m) => m !== this.me && !memberSet(p.members).has(m) && !(frozen?.includes(m) ?? false));
    if (out.length === 0) return;
    const q: DownEvent = { type: 'LEASE_REVOKE', members: out, until: null };
    this.below.downEvent(q);
    if (q.until !== null && q.until > this.doneNotBefore) this.doneNotBefore = q.until;
    if (this.leaseRevoked.viewId !== this.view.id) this.leaseRevoked = { viewId: this.view.id, members: new Set() };
    for (const m of out) this.leaseRevoked.members.add(m);
  }

  /**
   * FD suspects a member at once when its process is proven gone, and a gone member's lease is not
   * waited out. The proof may come after the proposal did (our dial to it was refused a moment
   * later than the others'): ask FD again, and send Done now if no lease is left to wait for, instead
   * of waiting out a lease held by a process that no longer runs (~leaseMs after a kill -9).
   */
  private shortenLeaseWait(): void {
    const timer = this.doneTimer;
    const acc = this.accepted;
    if (timer === null || acc === null || this.view === null || this.leaseRevoked.viewId !== this.view.id) return;
    const q: DownEvent = { type: 'LEASE_REVOKE', members: [...this.leaseRevoked.members], until: null };
    this.below.downEvent(q);
    const until = q.until ?? -Infinity;
    if (until >= this.doneNotBefore) return;
    this.doneNotBefore = until;
    timer.cancel();
    this.doneTimer = null;
    if (this.awaitingCut === null) this.sendDone(acc.a);
  }

  /** Tell the coordinator we reached the cut of attempt `a`, once the leases we revoked for it have run out. */
  private sendDone(a: Attempt): void {
    const wait = this.doneNotBefore - this.env.now();
    if (wait > 0) {
      const viewId = this.view?.id ?? 0;
      this.doneTimer?.cancel();
      this.doneTimer = this.env.setTimer(wait, () => {
        this.doneTimer = null;
        const acc = this.accepted;
        if (this.view?.id === viewId && acc !== null && acc.a.n === a.n && acc.a.coord === a.coord && this.awaitingCut === null) this.sendDone(a);
      });
      return;
    }
    if (a.coord === this.me) this.onDone(this.me, a);
    else this.send(a.coord, G.Done, { view: this.view?.id ?? 0, a });
  }

  // ---- the clock ----

  /** Whether the members we do not suspect hold the partition rule over `v` (cached until the view, suspects or replaced change). */
  private holdsQuorum(v: View): boolean {
    const c = this.quorumCheck;
    if (c !== null && c.view === v && c.suspects === this.suspects.version && c.replaced === this.replaced.version) return c.holds;
    const holds = this.quorum.holds(v.members, (m) => !this.suspects.has(m), this.replaced);
    this.quorumCheck = { view: v, suspects: this.suspects.version, replaced: this.replaced.version, holds };
    return holds;
  }

  /** Keep resending a view this member installed as coordinator until its members acknowledge. */
  private retryInstall(now: number): void {
    const ins = this.installing;
    if (!ins) return;
    if (ins.unacked.size === 0 || ins.tries > 50 || (this.view !== null && ins.body.view.id !== this.view.id && this.status !== 'gone')) this.installing = null;
    else if (now - ins.lastSend >= this.opts.retryMs) {
      ins.lastSend = now;
      ins.tries++;
      for (const m of ins.unacked) this.send(m, G.Install, ins.body);
    }
  }

  private tick(): void {
    const now = this.env.now();
    for (const m of this.admission.expire(now)) this.guard.drop(m, 'join request never answered its challenge');
    if (this.status === 'joining') {
      const waited = now - this.joinStarted;
      if (waited > this.opts.joinTimeoutMs && (now >= this.joinWaitUntil || waited > this.opts.joinTimeoutMs * 3))
        this.failJoin('ERR_JOIN_REJECTED', `no member of ${this.ctx.group} let us in within ${this.opts.joinTimeoutMs} ms`);
      else if (now - this.lastJoinReq >= this.opts.retryMs * 2) this.sendJoinReq();
      return;
    }
    this.retryInstall(now);
    if (this.status === 'gone' || !this.view) return;
    if (this.state.providerLost(now, this.view.members, this.opts.flushTimeoutMs * 2)) {
      // The provider failed before we had our state: leave cleanly (a silent exit would cost a
      // small view its majority), then start over as a new member.
      this.log.warn('state provider went silent; leaving to rejoin', { provider: this.state.provider });
      this.leaveToRejoin();
      return;
    }
    this.state.tick(now, this.view.members);
    if (this.status === 'leaving' && !this.isCoordinator) this.sendLeaveReq();
    if (this.gb.own.size > 0 && now - this.gb.lastSend >= this.opts.retryMs * 2) {
      this.gb.lastSend = now;
      this.sendGbcasts();
    }
    if (!this.isCoordinator) {
      this.flush = null;
      if (this.frozen && now - this.frozenAt > this.opts.flushTimeoutMs * 2 && now - this.lastFlushReq > this.opts.flushTimeoutMs) {
        // Frozen by an attempt nobody finishes (its coordinator gave way or died): ask for a view change.
        this.lastFlushReq = now;
        const c = this.coordinator();
        if (c) this.send(c, G.FlushReq, { view: this.view.id });
      }
      // A member cut off from most of its view stops and says so.
      this.setMinority(!this.holdsQuorum(this.view));
      return;
    }
    const f = this.flush;
    if (!f) {
      if (this.hasWork() && this.workSince !== null && now - this.workSince >= this.foldDelay()) this.startFlush();
      else if (this.hasWork() && this.workSince === null) this.noteWork();
      return;
    }
    if (now - this.lastJoinWait >= this.opts.flushTimeoutMs / 2) this.tellJoinersToWait(now);
    if (resendDue(f, now, this.opts.retryMs)) {
      f.lastSend = now;
      f.resends++;
      if (f.phase === 'start') {
        for (const p of f.participants) if (!f.oks.has(p)) this.send(p, G.FlushStart, { view: this.view.id, a: f.a });
      } else {
        for (const p of f.oks.keys()) if (!f.dones.has(p)) this.send(p, G.Cut, { view: this.view.id, a: f.a, p: f.proposal, frozen: [...f.oks.keys()] });
      }
    }
    if (stepOverdue(f, now, this.opts.flushTimeoutMs, (m) => this.fdSuspects.has(m))) {
      // Whoever did not answer in time is suspected; the flush starts over without them.
      const silent = silentParticipants(f);
      for (const s of silent) if (s !== this.me) this.suspects.add(s);
      // A minority retries with everyone: a healed partition brings the majority back (and the
      // members it suspected itself, which no failure detector will clear, get asked again). What
      // FD suspects stays suspected: FD reports a suspicion once, so forgetting a dead coordinator
      // above us would hand the coordination back to it for good.
      if (f.phase === 'start' && silent.length === 0 && !this.minority) this.proceed();
      else {
        if (this.minority && silent.length === 0) for (const s of [...this.suspects]) if (!this.fdSuspects.has(s)) this.suspects.delete(s);
        this.restartFlush();
      }
    }
  }
}

/** The message `group.setAcl` hands down: a gbcast carrying the new list. */
export function aclChangeMessage(acl: Acl): Message {
  const m = new Message(null, pack(aclSchema.parse(acl)));
  m.order = OrderCode.Group;
  m.push(GMS_HEADER, G.AclSet);
  return m;
}

/** The ACL a gbcast carries (a message, or its bytes inside a proposal), or null if it is not a valid ACL change. */
function aclOfGbcast(m: Message | Uint8Array): Acl | null {
  try {
    const msg = m instanceof Message ? m : messageFromBytes(Buffer.from(m));
    if (msg.peek(GMS_HEADER) !== G.AclSet) return null;
    const r = aclSchema.safeParse(unpack(msg.payload));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

registerLayer({
  name: 'GMS',
  provides: ['membership', 'virtual-synchrony', 'gbcast'],
  requires: ['reliable', 'digest', 'failure-detection'],
  options,
  create: (ctx, o) => new GMS(ctx, o),
});
