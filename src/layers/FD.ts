import { z } from 'zod';
import { every, type PeerEvent, type Timer, type Unwatch } from '../core/env.js';
import type { DownEvent } from '../core/events.js';
import { ConfigError } from '../core/errors.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { nodeOfMember } from '../core/member-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Reader } from '../codec/reader.js';
import { Writer } from '../codec/writer.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { InputGuard, MAX_ID_BYTES, MAX_WIRE_INT } from '../core/input-guard.js';
import { partitionPolicySchema, Quorum } from './partition-policy.js';
import {
  decodeRelayDown,
  decodeRelayUp,
  encodeRelayDown,
  encodeRelayUp,
  FD_RELAY_HEADER,
  RELAY_DOWN,
  RELAY_UP,
  producerOf,
  RelayFeed,
  RelayHub,
  type RelayDown,
  type RelayHeader,
  type RelayScratch,
} from './fd/relay-beat.js';

type Counter = ReturnType<LayerContext['metrics']['counter']>;

/** Strangers whose last report is remembered; bounded so a flood of forged sources cannot grow it. */
const MAX_STRANGERS_REMEMBERED = 1024;
interface FdHeader {
  /** The sender's view id: lets members spot a node that was excluded without knowing it. */
  viewId: number;
}

export const FD_HEADER = defineHeader<FdHeader>(
  HeaderIds.FD,
  'FD',
  (w, h) => w.uvar(h.viewId),
  (r) => ({ viewId: r.uvar() }),
);

/**
 * A heartbeat's payload: the sender's clock `t` (whole ms) and, per member it hears, the latest `t`
 * it received from that member (the echo that renews that member's lease). An empty payload (a
 * ping, or an older peer) carries neither.
 */
export interface LeaseBeat {
  t: number;
  echoes: [NodeId, number][];
}

export function encodeLeaseBeat(b: LeaseBeat): Buffer {
  const w = new Writer(16 + b.echoes.length * 48);
  w.uvar(b.t);
  w.uvar(b.echoes.length);
  for (const [id, t] of b.echoes) {
    w.str(id);
    w.uvar(t);
  }
  return w.toBytes();
}

/** Throws ProtocolError on malformed bytes; `maxEchoes` bounds what a hostile peer makes us read. */
export function decodeLeaseBeat(bytes: Buffer, maxEchoes: number): LeaseBeat | 'too-many' {
  const r = new Reader(bytes);
  const t = r.uvar();
  const n = r.uvar();
  if (n > maxEchoes) return 'too-many';
  const echoes: [NodeId, number][] = [];
  for (let i = 0; i < n; i++) echoes.push([r.str(MAX_ID_BYTES), r.uvar()]);
  return { t, echoes };
}

const options = z.object({
  heartbeatIntervalMs: z.number().positive().default(100),
  /** Silence after which a member is suspected. */
  suspectTimeoutMs: z.number().positive().default(1000),
  /**
   * T_block: a member that holds no lease from a majority of its view for this long stops (blocked,
   * 'minority'). Default: suspectTimeoutMs − 2 × heartbeatIntervalMs − 100, the most the rule
   * allows (suspectTimeoutMs ≥ leaseMs + 2 × heartbeatIntervalMs + 100, so a member blocks before
   * the others may suspect it, with a margin for clock-rate drift and scheduling).
   */
  leaseMs: z.number().positive().optional(),
  /** Bound on the clock-rate difference between two members (0.02 = 2%): stretches the grants we wait out. */
  clockDriftBound: z.number().min(0).max(0.5).default(0.02),
  /** Most echo entries a heartbeat may carry (one per member of the sender's view). */
  maxEchoes: z.number().int().min(1).max(65_536).default(1024),
  /** A node not in the view that keeps sending heartbeats is reported up (GMS tells it) at most this often. */
  strangerReportIntervalMs: z.number().nonnegative().default(500),
  /**
   * Act on the transport's peer events: a member whose process is known gone (its port refuses
   * connections, or a new incarnation answers there) is suspected at once, and its lease is not
   * waited out when a view leaves it out. False: heartbeats and leases alone.
   */
  fastDetection: z.boolean().default(true),
  /**
   * From this view size up, beats go through relays (fd/relay-beat.ts): `relayCount` members take
   * turns multicasting a table of what they heard once a round, and each member beats the relay
   * whose turn is next: about 2n messages per round instead of n² per interval. Smaller views beat
   * all-to-all.
   */
  relayFrom: z.number().int().min(2).default(16),
  /** How many members (the view's first after the coordinator) take turns relaying beats in a relayed view. */
  relayCount: z.number().int().min(1).max(16).default(3),
  /**
   * Heartbeat intervals per relay round in a relayed view: the relay whose turn it is multicasts its
   * table, and each member beats the next one, once a round. Default: the most the lease allows (relayRoundsOf):
   * 1 at the default timing, 3 with suspectTimeoutMs 3000.
   */
  relayRounds: z.number().int().min(1).max(64).optional(),
  /** Which sets of the view's members a lease must come from (GMS must be given the same; see partition-policy.ts; default majority). */
  partition: partitionPolicySchema.optional(),
});
export type FdOptions = z.infer<typeof options>;

/** The lease time the options give, checked against the rule; ConfigError if it breaks it. */
export function leaseMsOf(o: Pick<FdOptions, 'heartbeatIntervalMs' | 'suspectTimeoutMs' | 'leaseMs'>): number {
  const most = o.suspectTimeoutMs - 2 * o.heartbeatIntervalMs - 100;
  const lease = o.leaseMs ?? most;
  if (lease <= 0 || lease > most) {
    throw new ConfigError(
      `FD: leaseMs (${lease}) must be positive and at most suspectTimeoutMs (${o.suspectTimeoutMs}) − 2 × heartbeatIntervalMs (${o.heartbeatIntervalMs}) − 100 = ${most}: a member must block before the others may suspect it`,
    );
  }
  return lease;
}

/**
 * Heartbeat intervals per relay round (option relayRounds, or the most the lease allows). A lease held
 * through relay tables is renewed once a round, by tables 2 rounds after the beat whose t it counts
 * from; when the active relay fails, the next one's renewals come 4.3 rounds after its last table, so
 * a round of R ms keeps every lease held while leaseMs > 7R (unit test: "when the active relay crashes
 * ..."). Suspicion needs a member's t to move at least 4 times per suspectTimeoutMs.
 */
export function relayRoundsOf(o: Pick<FdOptions, 'heartbeatIntervalMs' | 'suspectTimeoutMs' | 'leaseMs' | 'relayRounds'>): number {
  if (o.relayRounds !== undefined) return o.relayRounds;
  const lease = leaseMsOf(o);
  return Math.max(1, Math.min(Math.floor(lease / (7 * o.heartbeatIntervalMs)), Math.floor(o.suspectTimeoutMs / (4 * o.heartbeatIntervalMs))));
}

/**
 * FD's relays in a view of `members` (none below `relayFrom`): the `relayCount` members after the
 * coordinator, or from the coordinator on in a view with no member to spare. The coordinator is no
 * relay when it can be spared: its view changes and joins are work enough, and a relay's beats and
 * tables slowed them (session 12: joiners' dials to the coordinator and relay of 64 went unanswered
 * for 5-40 s). Tools that tell roles apart (the large-group bench) ask this rather than repeat it.
 */
export function relaysOf(members: readonly NodeId[], o: Pick<FdOptions, 'relayFrom' | 'relayCount'> = options.parse({})): NodeId[] {
  const n = members.length;
  if (n < o.relayFrom) return [];
  const base = relayBaseOf(n, o.relayCount);
  return members.slice(base, base + Math.min(o.relayCount, n));
}

/** The view index of the first relay in a relayed view of `n` members: 1, or 0 with no member to spare. */
function relayBaseOf(n: number, relayCount: number): number {
  return n > relayCount ? 1 : 0;
}

/**
 * Heartbeat failure detector and lease keeper. Any message from a member counts as a sign of life;
 * heartbeats fill the silence. A member silent for `suspectTimeoutMs` is suspected (SUSPECT goes
 * up to GMS) and unsuspected if heard again before a new view excludes it. When this process itself
 * was stopped (its own ticks arrive late), it does not blame the others for its own silence.
 *
 * Leases: each heartbeat carries our clock `t` and echoes the latest `t` heard from each member.
 * Member p echoing our t gives us a lease from p until t + leaseMs (our clock); we count ourselves.
 * Without leases from a majority of the view we are out of lease: LEASE_LOST goes up (GMS stops
 * sending and delivering) until echoes bring a majority back (LEASE_OK). Only echoes renew a lease,
 * so after a cut or a pause it ends at most leaseMs after the last heartbeat the others heard. In
 * turn, we do not help exclude a member until the lease our echoes gave it has run out (GMS asks
 * with LEASE_REVOKE before it completes a view change that leaves that member out). Installing a
 * view counts as a grant to each of its members, and the member installing it takes a lease from
 * `leaseSince` (VIEW event): a view change leaves nobody without a lease until the first echoes.
 * Safe because suspectTimeoutMs ≥ leaseMs + 2 × heartbeatIntervalMs + 100 (ConfigError otherwise):
 * whoever echoed our t heard us at or after t, so it suspects us no earlier than t + suspectTimeoutMs.
 *
 * Fast crash detection (after JGroups' FD_SOCK): a process that dies closes its connections. The
 * transport reports a connection its peer closed (`closed`: a hint, which makes us ping the member
 * and nothing more: a peer that merely reconnects is not suspected) and dials that peer at once; a
 * refused dial, or one answered by a new incarnation, proves the process gone (`gone`). A gone
 * member is suspected at once, stays suspected whatever still arrives from it (frames it sent
 * before it died), and its lease is not waited out (LEASE_REVOKE): a process that does not run
 * cannot be live in any view. Anything less certain (a stall, a cut, a pause) takes the timeout.
 */
export class FD extends Layer {
  readonly name = 'FD';
  private members: readonly NodeId[] = [];
  private viewId = 0;
  private readonly lastHeard = new Map<NodeId, number>();
  private readonly suspected = new Set<NodeId>();
  private timer: Timer | null = null;
  private lastTick = 0;
  /** When each stranger was last reported up: each report makes GMS answer it, so it is rate-limited. */
  private readonly strangerReported = new Map<NodeId, number>();
  private readonly guard: InputGuard;
  private readonly leaseMs: number;
  private readonly quorum: Quorum;
  /** Per member: the latest t it sent us (its clock) and when we received it (ours): what we echo, and our grant. */
  private readonly heardT = new Map<NodeId, { t: number; at: number }>();
  /** Per member: the latest of our own t it echoed. */
  private readonly echoed = new Map<NodeId, number>();
  /** Members we stopped granting leases to (a view change leaving them out is under way). */
  private readonly revoked = new Set<NodeId>();
  /** What we last reported up. */
  private leaseOk = true;
  /** leaseExpiry() as last computed; stale once an echo or the view changed (checkLease runs per message: keep it cheap). */
  private cachedExpiry: number | null = null;
  /** Relayed views: echoes rose since cachedExpiry was computed (it is a lower bound: recomputed once reached). */
  private expiryStale = false;
  /** The expiry the timer is armed for (null: no timer). */
  private armedExpiry: number | null = null;
  /** When we installed the current view: it grants every member a lease from then, as if we had just echoed it. */
  private viewGrantAt = -Infinity;
  private expiryTimer: Timer | null = null;
  /** Members of the view whose process is known gone (transport proof): no lease wait for them. */
  private readonly gone = new Set<NodeId>();
  /** Members whose connection was closed from their end, not heard since: pinged, not suspected. */
  private readonly doubted = new Set<NodeId>();
  private unwatch: Unwatch | null = null;
  private readonly mClosed: Counter;
  private readonly mGone: Counter;
  /** The view's members, and each one's position (what relayed tables are indexed by). */
  private memberSet = new Set<NodeId>();
  private index = new Map<NodeId, number>();
  /** Relayed mode (the view has relayFrom members or more): beats go through `relays`. */
  private relayed = false;
  private relays: NodeId[] = [];
  private myIdx = -1;
  /** The view index of the first relay (1: the coordinator is no relay), and our own relay index (-1: none). */
  private relayBase = 0;
  private myRelay = -1;
  /** Our relay table when we are one of the relays. */
  private hub: RelayHub | null = null;
  /** The rounds we received (from whichever relay's turn it was). */
  private feed = new RelayFeed();
  /** Per relay: its turn passed without its round (we received a later one): skipped, not waited for, until a round of its own arrives. */
  private presumedDead: boolean[] = [];
  /** Per view index: the latest clock of that member any relay reported (a rise is a sign of life). */
  private knownT: number[] = [];
  /** A relay round (ms): heartbeatIntervalMs × relayRoundsOf(options). */
  private readonly roundMs: number;
  /** How long past its turn a relay's round is waited for before the next relay takes the turn. */
  private readonly turnGraceMs: number;
  /** Per relay: when we last beat it. */
  private upAt: number[] = [];
  /** Where relay tables are decoded (one pair of arrays per view: no allocation per table). */
  private scratch: RelayScratch = { ts: new Float64Array(0), acks: new Float64Array(0) };
  /** When we last received a relay's table: past fallbackAfter of silence we beat the view directly. */
  private lastDownAt = -Infinity;
  /** In relayed mode, when we last answered a member's direct beat (it is falling back: it needs our echo). */
  private readonly replied = new Map<NodeId, number>();
  private readonly mRelayed: Counter;
  /** Per revoked member: the last grant we gave it before the revoke (what LEASE_REVOKE waits out). */
  private readonly revokeSince = new Map<NodeId, number>();

  constructor(
    ctx: LayerContext,
    private readonly opts: FdOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'FD');
    this.leaseMs = leaseMsOf(opts);
    this.roundMs = opts.heartbeatIntervalMs * relayRoundsOf(opts);
    // A relay acts on its timer, so a live one's round comes up to an interval after its due time
    // (and a few ms of network later): only past that is its turn taken.
    this.turnGraceMs = opts.heartbeatIntervalMs + 0.2 * this.roundMs;
    this.quorum = new Quorum(opts.partition);
    this.mClosed = ctx.metrics.counter('horus_fd_peer_closed_total', "members' connections closed from their end (a hint, pinged)");
    this.mGone = ctx.metrics.counter('horus_fd_gone_total', 'members known gone from the transport (refused, or replaced): suspected at once');
    this.mRelayed = ctx.metrics.counter('horus_fd_relay_beats_total', 'relayed beats sent (to relays, and relay tables)');
  }

  override start(): void {
    this.lastTick = this.env.now();
    this.timer = every(this.env, this.opts.heartbeatIntervalMs, () => this.tick());
    if (this.opts.fastDetection) this.unwatch = this.env.watchPeers?.((ev) => this.onPeerEvent(ev)) ?? null;
  }

  override stop(): void {
    this.timer?.cancel();
    this.expiryTimer?.cancel();
    this.unwatch?.();
    this.unwatch = null;
  }

  /** The transport's word on a peer node: applies to every member of the view it hosts. */
  private onPeerEvent(ev: PeerEvent): void {
    if (ev.type !== 'closed' && ev.type !== 'gone') return;
    if (ev.peer === nodeOfMember(this.ctx.localId)) return;
    for (const m of this.members) {
      if (m === this.ctx.localId || nodeOfMember(m) !== ev.peer || this.gone.has(m)) continue;
      if (ev.type === 'closed') {
        this.mClosed.inc();
        if (this.doubted.has(m)) continue;
        this.doubted.add(m);
        this.log.debug('connection closed by a member: pinging it', { member: m });
        this.ping(m);
        continue;
      }
      this.mGone.inc();
      this.gone.add(m);
      this.doubted.delete(m);
      this.log.info('member is gone: suspected at once, no lease wait', { member: m, why: ev.why });
      this.suspect(m);
    }
  }

  private suspect(m: NodeId): void {
    if (this.suspected.has(m)) return;
    this.suspected.add(m);
    this.above.upEvent({ type: 'SUSPECT', member: m });
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type === 'VIEW') {
      const old = this.memberSet;
      const fresh = ev.view.members.some((m) => m !== this.ctx.localId && !old.has(m));
      this.members = ev.view.members;
      this.viewId = ev.view.id;
      const inView = (this.memberSet = new Set(this.members));
      const now = this.env.now();
      for (const m of [...this.lastHeard.keys()]) if (!inView.has(m)) this.lastHeard.delete(m);
      for (const m of this.members) if (!this.lastHeard.has(m)) this.lastHeard.set(m, now);
      for (const map of [this.heardT, this.echoed, this.replied]) for (const m of [...map.keys()]) if (!inView.has(m)) map.delete(m);
      this.suspected.clear();
      this.revoked.clear();
      this.revokeSince.clear();
      for (const set of [this.gone, this.doubted]) for (const m of [...set]) if (!inView.has(m)) set.delete(m);
      this.viewGrantAt = now;
      this.startRelaying(now);
      // Every member installed this view after `leaseSince`: each grants us a lease from then.
      if (ev.leaseSince !== undefined) {
        for (const m of this.members) if (m !== this.ctx.localId && ev.leaseSince > (this.echoed.get(m) ?? -Infinity)) this.echoed.set(m, ev.leaseSince);
      }
      this.cachedExpiry = null;
      this.expiryStale = false;
      this.strangerReported.clear();
      // New members need our t (and we theirs) before they can hold a lease: start the exchange now.
      if (fresh) {
        if (this.relayed) this.relayUps(this.env.now(), true);
        else this.heartbeat();
      }
      this.below.downEvent(ev);
      // Decide the lease in this view now, before the membership layer tells the application of it.
      this.checkLease();
      // A gone member still in this view (it was installed before it could be left out): suspect it
      // again once the install is over (membership starts the view with no suspects).
      if (this.gone.size > 0) {
        const viewId = this.viewId;
        this.env.defer(() => {
          if (this.viewId === viewId) for (const m of this.gone) this.suspect(m);
        });
      }
      return;
    }
    if (ev.type === 'LEASE_REVOKE') {
      // No more echoes to them; answer when the lease our last echo gave them runs out (our clock).
      let until: number | null = null;
      for (const m of ev.members) {
        if (m === this.ctx.localId) continue;
        this.revoked.add(m);
        // Its process does not run: it cannot deliver, whatever lease it holds.
        if (this.gone.has(m)) continue;
        // Our last echo to it, or our install of this view (a grant too), or the last relay table we
        // received (acknowledging it grants every member in it), whichever is later. From now on
        // our relayed acks name it as revoked.
        // Fixed at the first ask: tables received after it are acknowledged with m as an exception.
        let since = this.revokeSince.get(m);
        if (since === undefined) {
          since = Math.max(this.heardT.get(m)?.at ?? -Infinity, this.viewGrantAt, this.relayed ? this.lastDownAt : -Infinity);
          this.revokeSince.set(m, since);
        }
        if (Number.isFinite(since)) {
          const end = since + this.leaseMs * (1 + this.opts.clockDriftBound);
          if (until === null || end > until) until = end;
        }
      }
      ev.until = until;
      return;
    }
    this.below.downEvent(ev);
  }

  override up(msg: Message): void {
    const h = msg.pop(FD_HEADER);
    const rh = h === undefined ? msg.pop(FD_RELAY_HEADER) : undefined;
    const src = msg.src;
    const hViewId = h?.viewId ?? rh?.viewId;
    if (hViewId !== undefined && hViewId > MAX_WIRE_INT) {
      this.guard.drop(src, 'heartbeat with a view id out of range', { viewId: hViewId });
      return;
    }
    const now = this.env.now();
    // Only a member's traffic is a sign of its life; a stranger cannot unsuspect anyone (COM names the sender).
    if (this.lastHeard.has(src)) {
      this.heard(src, now);
      if (h !== undefined && msg.payload.length > 0) this.onLeaseBeat(src, msg.payload, now);
      if (rh !== undefined) this.onRelayBeat(src, rh, msg.payload, now);
    } else if (hViewId !== undefined && this.viewId > 0 && hViewId < this.viewId) {
      this.reportStranger(src, hViewId);
    }
    // Before anything goes up: a lease that ran out while we were stopped is out now.
    this.checkLease();
    if (h === undefined && rh === undefined) this.above.up(msg);
  }

  /** A sign of life from member `m` (its own traffic, or a relay's word that its clock moved on). */
  private heard(m: NodeId, now: number): void {
    this.lastHeard.set(m, now);
    this.doubted.delete(m);
    // A gone member stays suspected: what still arrives from it was sent before it died.
    if (!this.gone.has(m) && this.suspected.delete(m)) this.above.upEvent({ type: 'UNSUSPECT', member: m });
  }

  /** Set up relaying for the view just installed (or leave it off below relayFrom). */
  private startRelaying(now: number): void {
    const n = this.members.length;
    this.index = new Map(this.members.map((m, i) => [m, i]));
    this.myIdx = this.index.get(this.ctx.localId) ?? -1;
    this.relayed = n >= this.opts.relayFrom && this.myIdx >= 0;
    this.relayBase = this.relayed ? relayBaseOf(n, this.opts.relayCount) : 0;
    this.relays = this.relayed ? relaysOf(this.members, this.opts) : [];
    const mine = this.myIdx - this.relayBase;
    this.myRelay = this.relayed && mine >= 0 && mine < this.relays.length ? mine : -1;
    this.hub = this.myRelay >= 0 ? new RelayHub(n, this.relays.length) : null;
    this.feed = new RelayFeed();
    this.presumedDead = this.relays.map(() => false);
    this.knownT = this.relayed ? new Array<number>(n).fill(0) : [];
    if (this.relayed) this.scratch = { ts: new Float64Array(n), acks: new Float64Array(n) };
    this.upAt = this.relays.map(() => -Infinity);
    // Give the relays an interval or three before falling back to direct beats.
    this.lastDownAt = now;
  }

  /** View indices of the members we no longer grant leases to. */
  private revokedIndices(): number[] {
    const out: number[] = [];
    for (const m of this.revoked) {
      const i = this.index.get(m);
      if (i !== undefined) out.push(i);
    }
    return out;
  }

  /**
   * Beats from the timer, to every relay, once a round, while no round arrives: before the first
   * round of the view, and after 1.5 rounds without one (the relay whose turn it is may have
   * failed: whichever relay takes its turn then carries our fresh clock). Otherwise we beat only
   * in answer to a round (onRelayBeat), to the relay whose turn is next.
   */
  private relayUps(now: number, all = false): void {
    const t = Math.floor(now);
    const revoked = this.revokedIndices();
    const waiting = this.feed.lastRound === 0 || now - this.lastDownAt >= 1.5 * this.roundMs;
    for (let j = 0; j < this.relays.length; j++) {
      if (j === this.myRelay) continue;
      if (all || (waiting && now - this.upAt[j]! >= this.roundMs - this.opts.heartbeatIntervalMs / 2)) this.relayUpTo(j, t, revoked);
    }
  }

  private relayUpTo(j: number, t = Math.floor(this.env.now()), revoked = this.revokedIndices()): void {
    const up = { t, ack: this.feed.lastRound, revoked };
    if (j === this.myRelay) {
      this.hub?.onUp(this.myIdx, up);
      return;
    }
    this.upAt[j] = t;
    const msg = new Message(this.relays[j]!, encodeRelayUp(up), MsgFlag.Unreliable);
    msg.push(FD_RELAY_HEADER, { viewId: this.viewId, kind: RELAY_UP });
    this.mRelayed.inc();
    this.below.down(msg);
  }

  /**
   * As a relay, on our turn: the next round of our table to the view (and to ourselves, first). Our
   * turn is the first round after the last one received that is ours; each live relay's turn before
   * it is waited for `turnGraceMs` past its due time (a round after the last one), and a relay
   * presumed dead (its last turn passed without its round) is not waited for. So a relay's failure
   * costs one turn's grace, and the rounds go on at their pace between the live relays after it.
   */
  private relayDown(now: number): void {
    if (this.hub === null) return;
    const k = this.relays.length;
    const last = this.feed.lastRound;
    let round = last + 1;
    let waits = 0;
    for (; producerOf(round, k) !== this.myRelay; round++) if (!this.presumedDead[producerOf(round, k)]) waits++;
    // The view's first round goes at once (members beat every relay until it comes).
    const due = (last === 0 ? 0 : this.roundMs - this.opts.heartbeatIntervalMs / 2) + waits * this.turnGraceMs;
    if (now - this.lastDownAt < due) return;
    this.relayUpTo(this.myRelay, Math.floor(now));
    const table = this.hub.next(round);
    this.applyTable(this.myRelay, table, now);
    const msg = new Message(null, encodeRelayDown(table), MsgFlag.Multicast | MsgFlag.Unreliable);
    msg.push(FD_RELAY_HEADER, { viewId: this.viewId, kind: RELAY_DOWN });
    this.mRelayed.inc();
    this.below.down(msg);
  }

  /** The relay whose turn follows round `round`: the next one not presumed dead (ourselves, as a relay, never are). */
  private nextRelay(round: number): number {
    const k = this.relays.length;
    for (let r = round + 1; r <= round + k; r++) {
      const j = producerOf(r, k);
      if (j === this.myRelay || !this.presumedDead[j]) return j;
    }
    return producerOf(round, k);
  }

  private onRelayBeat(src: NodeId, h: RelayHeader, payload: Buffer, now: number): void {
    // Another view's indices mean other members: a beat of an older (or newer) view is not ours to read.
    if (!this.relayed || h.viewId !== this.viewId) return;
    const n = this.members.length;
    const from = this.index.get(src)!;
    try {
      if (h.kind === RELAY_UP) {
        if (this.hub === null) return void this.guard.drop(src, 'relay beat to a member that is not a relay');
        const up = decodeRelayUp(payload, n);
        if (up === 'too-many' || !Number.isSafeInteger(up.t) || up.revoked.some((i) => i >= n)) return void this.guard.drop(src, 'relay beat out of range');
        this.hub.onUp(from, up);
      } else if (h.kind === RELAY_DOWN) {
        const j = from - this.relayBase < this.relays.length ? from - this.relayBase : -1;
        if (j < 0) return void this.guard.drop(src, 'relay table from a member that is not a relay');
        // Our own table comes back to us on a multicast: applied already when it was built.
        if (j === this.myRelay) return;
        const table = decodeRelayDown(payload, n, this.scratch);
        if (table === 'too-many' || table.ts.some((t) => !Number.isSafeInteger(t)) || table.except.some(([a, b]) => a >= n || b >= n))
          return void this.guard.drop(src, 'relay table out of range');
        if (table.round < 1 || table.round > MAX_WIRE_INT || producerOf(table.round, this.relays.length) !== j)
          return void this.guard.drop(src, 'relay table out of turn', { round: table.round });
        // Alive, late or not: its turns are waited for again. (Cleared only by rounds we read, a relay
        // that had taken a live one's turn kept taking it, each of its rounds beating the other's.)
        this.presumedDead[j] = false;
        const before = this.feed.lastRound;
        this.applyTable(j, table, now);
        // A late turn (a later round came first) is not read: what it says, the later round says too.
        if (this.feed.lastRound === before) return;
        this.hub?.absorb(table);
        // Acknowledge it at once, to the relay whose turn is next (our beat, with our clock): its
        // round carries our ack and clock, so the others' leases through us are renewed by the
        // next round, not the one after.
        this.relayUpTo(this.nextRelay(table.round));
      } else this.guard.drop(src, 'relay beat of an unknown kind', { kind: h.kind });
    } catch {
      this.guard.drop(src, 'unreadable relay beat');
    }
  }

  /**
   * A relay's table: a member whose clock moved on is alive; a member that acknowledged a round in
   * which we had clock t heard us at or after t, as an echo of t would prove (fd/relay-beat.ts).
   */
  private applyTable(j: number, d: RelayDown, now: number): void {
    const me = this.myIdx;
    const myT = d.ts[me]!;
    // Nobody can report a time we have not reached yet.
    if (myT > Math.floor(now)) return void this.guard.drop(this.relays[j]!, 'relay table with a time we never sent', { t: myT });
    const before = this.feed.lastRound;
    if (!this.feed.accept(d.round, myT)) return;
    this.lastDownAt = now;
    // Turns that passed without their round: those relays are skipped until they are heard again.
    // (Not before the view's first round: members install a view some ms apart, and miss its first.)
    // (Whatever the jump, one turn of each relay is all it can skip: a far round costs no loop.)
    if (before > 0) for (let r = before + 1; r < d.round && r <= before + this.relays.length; r++) this.presumedDead[producerOf(r, this.relays.length)] = true;
    this.presumedDead[j] = false;
    let excepted: Set<number> | null = null;
    for (const [q, x] of d.except) if (x === me) (excepted ??= new Set()).add(q);
    const feed = this.feed;
    for (let i = 0; i < d.ts.length; i++) {
      if (i === me) continue;
      const m = this.members[i]!;
      const t = d.ts[i]!;
      if (t > this.knownT[i]!) {
        this.knownT[i] = t;
        this.heard(m, now);
      }
      const a = d.acks[i]!;
      if (a === 0 || excepted?.has(i) === true) continue;
      const mine = feed.mineAt(a);
      if (mine !== undefined && mine > (this.echoed.get(m) ?? -Infinity)) {
        this.echoed.set(m, mine);
        // A later echo only moves the lease's end later: recompute when the cached end is reached
        // (a sort of n ends per table, n tables per interval, was a large view's main cost).
        this.expiryStale = true;
      }
    }
  }

  private onLeaseBeat(src: NodeId, payload: Buffer, now: number): void {
    let beat: LeaseBeat | 'too-many';
    try {
      beat = decodeLeaseBeat(payload, this.opts.maxEchoes);
    } catch {
      this.guard.drop(src, 'unreadable heartbeat lease');
      return;
    }
    if (beat === 'too-many') {
      this.guard.drop(src, 'heartbeat with more echoes than maxEchoes', { max: this.opts.maxEchoes });
      return;
    }
    if (!Number.isSafeInteger(beat.t)) {
      this.guard.drop(src, 'heartbeat with a clock out of range');
      return;
    }
    const prev = this.heardT.get(src);
    const firstFromIt = prev === undefined;
    if (!this.revoked.has(src) && (prev === undefined || beat.t >= prev.t)) this.heardT.set(src, { t: beat.t, at: now });
    const me = this.ctx.localId;
    let mine: number | null = null;
    for (const [id, t] of beat.echoes) if (id === me && (mine === null || t > mine)) mine = t;
    if (mine !== null) {
      // Nobody can echo a time we have not reached yet.
      if (!Number.isSafeInteger(mine) || mine > Math.floor(now)) this.guard.drop(src, 'heartbeat echoing a time we never sent', { t: mine });
      else if (mine > (this.echoed.get(src) ?? -Infinity)) {
        this.echoed.set(src, mine);
        this.cachedExpiry = null;
      }
    }
    // A member we had not heard before waits for our echo to hold its lease: answer it now. In a
    // relayed view a direct beat means its sender hears no relay: it needs our echoes directly.
    if (this.revoked.has(src)) return;
    if (this.relayed && !this.fallingBack(now)) {
      if (now - (this.replied.get(src) ?? -Infinity) < this.opts.heartbeatIntervalMs) return;
      this.replied.set(src, now);
      this.heartbeat(src);
    } else if (firstFromIt) this.heartbeat(src);
  }

  /** When our lease from a quorum of the view ends (our clock): +Infinity alone in the view, -Infinity without one. */
  private leaseExpiry(): number {
    if (this.members.length === 0 || !this.memberSet.has(this.ctx.localId)) return Infinity;
    return this.quorum.leaseEnd(this.members, this.ctx.localId, (m) => {
      const t = this.echoed.get(m);
      return t === undefined ? undefined : t + this.leaseMs;
    });
  }

  /** Report a change of lease up, and wake up when the current one runs out. */
  private checkLease(): void {
    if (this.viewId === 0) return;
    const now = this.env.now();
    if (this.expiryStale && (this.cachedExpiry === null || now >= this.cachedExpiry)) {
      this.cachedExpiry = null;
      this.expiryStale = false;
    }
    const expiry = (this.cachedExpiry ??= this.leaseExpiry());
    const ok = now < expiry;
    if (ok !== this.leaseOk) {
      this.leaseOk = ok;
      this.above.upEvent({ type: ok ? 'LEASE_OK' : 'LEASE_LOST' });
    }
    const want = ok && Number.isFinite(expiry) ? expiry : null;
    if (want === this.armedExpiry && (want === null || this.expiryTimer !== null)) return;
    this.expiryTimer?.cancel();
    this.expiryTimer = null;
    this.armedExpiry = want;
    if (want !== null)
      this.expiryTimer = this.env.setTimer(want - now, () => {
        this.expiryTimer = null;
        this.checkLease();
      });
  }

  /** A node of an older view still talking to this one: report it (GMS tells it), at most once per interval. */
  private reportStranger(src: NodeId, viewId: number): void {
    const now = this.env.now();
    const last = this.strangerReported.get(src);
    if (last !== undefined && now - last < this.opts.strangerReportIntervalMs) return;
    if (last === undefined && this.strangerReported.size >= MAX_STRANGERS_REMEMBERED) this.strangerReported.clear();
    this.strangerReported.set(src, now);
    this.above.upEvent({ type: 'STRANGER', member: src, viewId });
  }

  /** A heartbeat to the view (or to one member): our clock, and the echoes that renew the others' leases. */
  private heartbeat(to: NodeId | null = null): void {
    const echoes: [NodeId, number][] = [];
    for (const [m, h] of this.heardT) if (!this.revoked.has(m) && !this.gone.has(m) && m !== this.ctx.localId) echoes.push([m, h.t]);
    const payload = encodeLeaseBeat({ t: Math.floor(this.env.now()), echoes });
    const hb = new Message(to, payload, to === null ? MsgFlag.Multicast | MsgFlag.Unreliable : MsgFlag.Unreliable);
    hb.push(FD_HEADER, { viewId: this.viewId });
    this.below.down(hb);
  }

  private tick(): void {
    const now = this.env.now();
    const late = now - this.lastTick > this.opts.suspectTimeoutMs / 2;
    // This tick ran two intervals late (the process starved of CPU, or paused): the relay tables
    // that keep us off direct beats may be waiting unread behind it. Under load, falling back on
    // such a tick sent n − 1 beats from every starved member at each wake-up, more load still.
    const starved = now - this.lastTick > 2 * this.opts.heartbeatIntervalMs;
    this.lastTick = now;
    if (this.viewId === 0) return;
    if (late) {
      // We were stopped (SIGSTOP, a long GC): our silence, not theirs. Start counting afresh.
      // Leases are not renewed here: only the others' echoes do that.
      for (const m of this.lastHeard.keys()) this.lastHeard.set(m, now);
    }
    this.checkLease();
    if (this.relayed) {
      this.relayUps(now);
      this.relayDown(now);
      // No relay heard for a while (they crashed, or we are cut from them): beat the view directly.
      if (this.fallingBack(now) && !starved) this.heartbeat();
    } else this.heartbeat();
    for (const [m, t] of this.lastHeard) {
      if (m === this.ctx.localId || this.suspected.has(m)) continue;
      if (now - t > this.opts.suspectTimeoutMs) {
        this.suspected.add(m);
        this.above.upEvent({ type: 'SUSPECT', member: m });
      }
    }
  }

  /** In a relayed view: no relay table for three rounds, so direct beats carry our lease. */
  private fallingBack(now: number): boolean {
    return now - this.lastDownAt > 3 * this.roundMs;
  }

  /** Send a heartbeat to one node (GMS uses it to reach members of an older view). */
  ping(to: NodeId): void {
    const hb = new Message(to, Buffer.alloc(0), MsgFlag.Unreliable);
    hb.push(FD_HEADER, { viewId: this.viewId });
    this.below.down(hb);
  }

  /** Members of the view known gone from the transport's proof (tests and the dashboard). */
  get goneMembers(): readonly NodeId[] {
    return [...this.gone];
  }

  /** Members suspected now (tests and the dashboard). */
  get suspectedMembers(): readonly NodeId[] {
    return [...this.suspected];
  }

  /** True while beats go through relays in this view (tests and the dashboard). */
  get isRelayed(): boolean {
    return this.relayed;
  }

  /** True while this member holds leases from a majority of its view (tests and the dashboard). */
  get holdsLease(): boolean {
    return this.leaseOk;
  }
}

registerLayer({
  name: 'FD',
  provides: ['failure-detection'],
  requires: ['transport'],
  options,
  create: (ctx, o) => new FD(ctx, o),
});
