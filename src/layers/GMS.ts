import { z } from 'zod';
import { every, type Timer } from '../core/env.js';
import type { Digest, DownEvent, UpEvent } from '../core/events.js';
import { ProtocolError } from '../core/errors.js';
import { Message, MsgFlag, OrderCode } from '../core/message.js';
import { messageFromBytes, messageToBytes } from '../codec/message-codec.js';
import { nodeOfMember } from '../core/member-id.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { pack, unpack } from '../codec/payload.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import type { Counter, Gauge } from '../obs/metrics.js';

/** GMS message kinds; bodies travel as MessagePack in the payload. */
const enum G {
  JoinReq = 1,
  LeaveReq = 2,
  FlushStart = 3,
  FlushOk = 4,
  FlushNack = 5,
  Cut = 6,
  Done = 7,
  Install = 8,
  InstallAck = 9,
  NotMember = 10,
  StateChunk = 11,
  StateAck = 12,
  StateFail = 13,
  /** A frozen member asks the coordinator to finish a view change that nobody is driving. */
  FlushReq = 14,
  /** A member hands a gbcast to the coordinator, to be delivered at the next view change. */
  Gbcast = 15,
  /** "I am still in view v": a member of v+1 resends the install it missed. */
  InstallReq = 16,
}

export const GMS_HEADER = defineHeader<number>(
  HeaderIds.GMS,
  'GMS',
  (w, t) => w.u8(t),
  (r) => {
    const t = r.u8();
    if (t < G.JoinReq || t > G.InstallReq) throw new ProtocolError('ERR_MALFORMED', `unknown GMS message ${t}`);
    return t;
  },
);

/** A flush attempt: higher `n` wins; on a tie, the more senior coordinator. */
interface Attempt {
  n: number;
  coord: NodeId;
}

/** What a flush proposes: the next view's members and the cut every survivor delivers up to. */
interface Proposal {
  members: NodeId[];
  cut: [NodeId, number][];
  holders: [NodeId, NodeId][];
  /** gbcasts delivered at the end of the view, after the cut and before the next view: [key, message bytes]. */
  gb?: [string, Buffer][];
}

interface FlushOkBody {
  view: number;
  a: Attempt;
  digest: [NodeId, number][];
  accepted: { a: Attempt; p: Proposal } | null;
  /** False while this member still waits for its own state: it cannot give state to others. */
  hasState: boolean;
}

interface InstallBody {
  view: { id: number; members: NodeId[] };
  /** The member that streams state to joiners, if any. */
  stateFrom: NodeId | null;
}

const options = z.object({
  /** How often joins, flush steps and installs are retried while unanswered. */
  retryMs: z.number().positive().default(100),
  /** Members that do not answer a flush step within this are suspected. */
  flushTimeoutMs: z.number().positive().default(1500),
  /** Wait this long after the first membership event, to fold concurrent ones into one view. */
  foldMs: z.number().nonnegative().default(10),
  /** Give up joining after this long with no view. */
  joinTimeoutMs: z.number().positive().default(10_000),
  stateChunkBytes: z
    .number()
    .int()
    .min(1024)
    .default(48 * 1024),
  /** State chunks in flight per joiner. */
  stateWindow: z.number().int().positive().default(64),
});
export type GmsOptions = z.infer<typeof options>;

type Status = 'idle' | 'joining' | 'member' | 'leaving' | 'gone';

interface CoordFlush {
  a: Attempt;
  participants: NodeId[];
  oks: Map<NodeId, FlushOkBody>;
  phase: 'start' | 'cut';
  startedAt: number;
  lastSend: number;
  proposal: Proposal | null;
  dones: Set<NodeId>;
}

interface OutgoingState {
  joiner: NodeId;
  viewId: number;
  bytes: Buffer;
  total: number;
  acked: number;
  sentUpTo: number;
  lastSend: number;
}

interface IncomingState {
  viewId: number;
  from: NodeId;
  chunks: Buffer[];
  total: number;
  next: number;
  lastAck: number;
  progressAt: number;
  firstView: View;
}

function cmpAttempt(a: Attempt, b: Attempt, seniority: readonly NodeId[]): number {
  if (a.n !== b.n) return a.n - b.n;
  if (a.coord === b.coord) return 0;
  const ra = seniority.indexOf(a.coord);
  const rb = seniority.indexOf(b.coord);
  // More senior (lower rank) wins ties; unknown coordinators lose.
  return (rb < 0 ? Infinity : rb) - (ra < 0 ? Infinity : ra) > 0 ? 1 : -1;
}

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
  private lastJoinReq = -Infinity;
  private readonly suspects = new Set<NodeId>();
  private pendingJoins: NodeId[] = [];
  private readonly pendingLeaves = new Set<NodeId>();
  private workSince: number | null = null;
  private maxN = 0;
  private promised: Attempt | null = null;
  private accepted: { a: Attempt; p: Proposal } | null = null;
  private frozen = false;
  private frozenAt = 0;
  private lastFlushReq = 0;
  /** Some member is frozen by an attempt that died with its coordinator: a view change must finish it. */
  private needFlush = false;
  /** Coordinator: gbcasts handed in and not yet delivered, in arrival order. */
  private readonly pendingGb = new Map<string, Buffer>();
  /** Our own gbcasts, resent to the coordinator until they are delivered. */
  private readonly myGb = new Map<string, Buffer>();
  private gbCounter = 0;
  private lastGbSend = 0;
  /** Keys of gbcasts already delivered (bounded): a late resend must not deliver one twice. */
  private readonly deliveredGb = new Set<string>();
  private lastProposalGb: [string, Buffer][] = [];
  /** Leaving only to come back as a new member (our state never arrived). */
  private rejoinAfterLeave = false;
  private awaitingCut: Attempt | null = null;
  private flush: CoordFlush | null = null;
  private minority = false;
  /** Views this coordinator installed and is still delivering to members that have not acked. */
  private installing: { body: InstallBody; unacked: Set<NodeId>; lastSend: number; tries: number } | null = null;
  private readonly outgoing = new Map<NodeId, OutgoingState>();
  private incoming: IncomingState | null = null;
  /** While a joiner waits for its state (or a view is being installed): messages, and later views, in order. */
  private heldUp: (Message | View)[] | null = null;
  private timer: Timer | null = null;
  private readonly mViews: Counter;
  private readonly mFlushMs: Gauge;
  private readonly mFlushes: Counter;
  private flushBeganAt = 0;

  constructor(
    ctx: LayerContext,
    private readonly opts: GmsOptions,
  ) {
    super(ctx);
    this.mViews = ctx.metrics.counter('horus_gms_views_total', 'views installed');
    this.mFlushes = ctx.metrics.counter('horus_gms_flushes_total', 'flush attempts started as coordinator');
    this.mFlushMs = ctx.metrics.gauge('horus_gms_last_flush_ms', 'duration of the last view change seen by this member');
  }

  override start(): void {
    this.timer = every(this.env, this.opts.retryMs, () => this.tick());
  }

  override stop(): void {
    this.timer?.cancel();
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
        this.installLocal(v);
        return;
      }
      case 'JOIN':
        this.status = 'joining';
        this.contacts = ev.contacts;
        this.joinStarted = this.env.now();
        this.above.upEvent({ type: 'BLOCKED', reason: 'joining' });
        this.sendJoinReq();
        return;
      case 'LEAVE':
        if (this.status !== 'member') {
          this.status = 'gone';
          this.above.upEvent({ type: 'LEFT' });
          return;
        }
        this.status = 'leaving';
        this.pendingLeaves.add(this.me);
        this.noteWork();
        if (!this.isCoordinator) this.sendLeaveReq();
        return;
      default:
        this.below.downEvent(ev);
    }
  }

  // ---- events from below ----

  override upEvent(ev: UpEvent): void {
    switch (ev.type) {
      case 'SUSPECT':
        if (this.view?.members.includes(ev.member) && ev.member !== this.me) {
          this.suspects.add(ev.member);
          this.noteWork();
        }
        return;
      case 'UNSUSPECT':
        this.suspects.delete(ev.member);
        return;
      case 'STRANGER':
        // A node still talking as a member of an older view that excluded it: tell it.
        if (this.view && this.status === 'member' && ev.viewId < this.view.id) this.send(ev.member, G.NotMember, { view: this.view.id });
        return;
      case 'FLUSH_REACHED':
        this.log.trace('reached', { awaiting: JSON.stringify(this.awaitingCut) });
        if (this.awaitingCut) {
          const a = this.awaitingCut;
          this.awaitingCut = null;
          if (a.coord === this.me) this.onDone(this.me, a);
          else this.send(a.coord, G.Done, { view: this.view?.id ?? 0, a });
        }
        return;
      default:
        this.above.upEvent(ev);
    }
  }

  override up(msg: Message): void {
    const t = msg.pop(GMS_HEADER);
    if (t === undefined) {
      if (this.heldUp) this.heldUp.push(msg);
      // Leaving only to rejoin: the application never saw this membership, so it sees none of it.
      else if (this.rejoinAfterLeave) return;
      else if (this.status === 'member' || this.status === 'leaving') this.above.up(msg);
      return;
    }
    if (t === G.StateChunk) {
      this.onStateChunk(msg.src, msg);
      return;
    }
    let body: unknown;
    try {
      body = unpack(msg.payload);
    } catch {
      this.log.warn('dropped GMS message with unreadable body', { from: msg.src, t });
      return;
    }
    this.onControl(t, msg.src, body);
  }

  // ---- control messages ----

  private send(to: NodeId, t: G, body: unknown, payload?: Buffer): void {
    const m = new Message(to, payload ?? pack(body), MsgFlag.Unreliable);
    m.push(GMS_HEADER, t);
    if (to === this.me) {
      m.src = this.me;
      this.onControl(t, this.me, body);
      return;
    }
    this.below.down(m);
  }

  private onControl(t: G, from: NodeId, b: unknown): void {
    this.log.trace("gms in", { t, from, body: JSON.stringify(b).slice(0, 200) });
    const body = b as Record<string, unknown>;
    switch (t) {
      case G.JoinReq:
        return this.onJoinReq(String(body['member'] ?? from));
      case G.LeaveReq:
        return this.onLeaveReq(String(body['member'] ?? from));
      case G.FlushStart:
        return this.onFlushStart(from, body['view'] as number, body['a'] as Attempt);
      case G.FlushOk:
        return this.onFlushOk(from, body as unknown as FlushOkBody);
      case G.FlushNack: {
        const n = (body['n'] as number) ?? 0;
        if (n > this.maxN) this.maxN = n;
        if (this.flush && this.flush.a.n <= n) this.restartFlush();
        return;
      }
      case G.Cut:
        return this.onCut(from, body['view'] as number, body['a'] as Attempt, body['p'] as Proposal);
      case G.Done:
        return this.onDone(from, body['a'] as Attempt);
      case G.Install:
        return this.onInstall(from, body as unknown as InstallBody);
      case G.InstallAck:
        if (this.installing && this.installing.body.view.id === body['view']) this.installing.unacked.delete(from);
        return;
      case G.NotMember:
        if (this.view && (body['view'] as number) > this.view.id) {
          // A member that was leaving is gone either way; one that was not has been excluded.
          if (this.status === 'leaving') this.left();
          else if (this.status === 'member') this.excluded((body['view'] as number) ?? 0);
        }
        return;
      case G.StateChunk:
        return; // handled before unpacking
      case G.StateAck: {
        const o = this.outgoing.get(from);
        if (o && o.viewId === body['view']) {
          o.acked = Math.max(o.acked, body['next'] as number);
          if (o.acked >= o.total) this.outgoing.delete(from);
          else this.pumpState(o);
        }
        return;
      }
      case G.FlushReq:
        if (this.view && body['view'] === this.view.id && this.isCoordinator) {
          this.needFlush = true;
          this.noteWork();
        }
        return;
      case G.InstallReq:
        if (this.view && (this.status === 'member' || this.status === 'leaving') && body['view'] === this.view.id - 1 && this.view.members.includes(from)) {
          this.send(from, G.Install, { view: { id: this.view.id, members: [...this.view.members] }, stateFrom: null });
        }
        return;
      case G.Gbcast: {
        const key = String(body['key']);
        const bytes = body['bytes'];
        if (!this.isCoordinator || this.deliveredGb.has(key) || !Buffer.isBuffer(bytes) && !(bytes instanceof Uint8Array)) return;
        if (!this.pendingGb.has(key)) {
          this.pendingGb.set(key, Buffer.from(bytes as Uint8Array));
          this.noteWork();
        }
        return;
      }
      case G.StateFail:
        if (this.incoming && this.incoming.viewId === body['view']) this.failJoin('ERR_STATE_TRANSFER', String(body['message']));
        return;
    }
  }

  // ---- joining ----

  private sendJoinReq(): void {
    this.lastJoinReq = this.env.now();
    for (const c of this.contacts) this.send(c, G.JoinReq, { member: this.me });
  }

  private sendLeaveReq(): void {
    const c = this.coordinator();
    if (c && c !== this.me) this.send(c, G.LeaveReq, { member: this.me });
  }

  private onJoinReq(member: NodeId): void {
    if (this.status !== 'member' && this.status !== 'leaving') return;
    const coord = this.coordinator();
    if (coord !== this.me) {
      if (coord) this.send(coord, G.JoinReq, { member });
      return;
    }
    if (this.view!.members.includes(member)) {
      // Its INSTALL was lost: the install retry covers it.
      return;
    }
    if (!this.pendingJoins.includes(member)) {
      this.pendingJoins.push(member);
      // Its old membership, if any, is over (it does not answer as that member any more).
      for (const m of this.view!.members) if (m !== member && nodeOfMember(m) === nodeOfMember(member) && m !== this.me) this.suspects.add(m);
      this.noteWork();
    }
  }

  private onLeaveReq(member: NodeId): void {
    if (!this.view?.members.includes(member)) return;
    const coord = this.coordinator();
    if (coord !== this.me) {
      if (coord) this.send(coord, G.LeaveReq, { member });
      return;
    }
    this.pendingLeaves.add(member);
    this.noteWork();
  }

  private noteWork(): void {
    if (this.workSince === null) this.workSince = this.env.now();
  }

  private hasWork(): boolean {
    if (!this.view) return false;
    if (this.pendingJoins.length > 0 || this.pendingLeaves.size > 0 || this.needFlush || this.pendingGb.size > 0) return true;
    if (this.frozen && this.flush === null) return true;
    for (const m of this.view.members) if (this.suspects.has(m)) return true;
    return false;
  }

  // ---- coordinator: flush ----

  private startFlush(): void {
    const v = this.view!;
    this.log.debug('flush started', { viewId: v.id, suspects: [...this.suspects].join(' '), joins: this.pendingJoins.join(' '), leaves: [...this.pendingLeaves].join(' ') });
    this.maxN = Math.max(this.maxN, this.promised?.n ?? 0) + 1;
    const a: Attempt = { n: this.maxN, coord: this.me };
    const participants = v.members.filter((m) => !this.suspects.has(m));
    const now = this.env.now();
    if (!this.frozen) this.flushBeganAt = now;
    this.flush = { a, participants, oks: new Map(), phase: 'start', startedAt: now, lastSend: now, proposal: null, dones: new Set() };
    this.mFlushes.inc();
    for (const p of participants) this.send(p, G.FlushStart, { view: v.id, a });
  }

  private restartFlush(): void {
    this.flush = null;
    if (this.isCoordinator && this.status !== 'gone') this.startFlush();
  }

  private onFlushStart(from: NodeId, viewId: number, a: Attempt): void {
    if (!this.view || (this.status !== 'member' && this.status !== 'leaving')) return;
    if (viewId < this.view.id) {
      // The coordinator is behind: it missed our install; resend it if we are its installer's peer.
      this.send(from, G.FlushOk, { view: viewId, a, digest: [], accepted: null, installed: { id: this.view.id, members: [...this.view.members] } });
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
    this.send(from, G.FlushOk, { view: viewId, a, digest: [...digest], accepted: this.accepted, hasState: this.incoming === null });
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

  private onFlushOk(from: NodeId, body: FlushOkBody & { installed?: { id: number; members: NodeId[] } }): void {
    const f = this.flush;
    if (body.installed && this.view && body.installed.id > this.view.id) {
      // Someone already installed the next view: the view was decided; adopt it.
      if (body.installed.members.includes(this.me) && this.accepted && sameMembers(this.accepted.p.members, body.installed.members) && this.awaitingCut === null) {
        this.flush = null;
        const v: View = { group: this.ctx.group, id: body.installed.id, members: body.installed.members };
        this.beginInstall(v);
      } else {
        this.excluded(body.installed.id);
      }
      return;
    }
    if (!f || f.phase !== 'start' || body.view !== this.view?.id || body.a.n !== f.a.n || body.a.coord !== f.a.coord) return;
    f.oks.set(from, body);
    if (f.participants.every((p) => f.oks.has(p))) this.proceed();
  }

  private proceed(): void {
    const f = this.flush!;
    const v = this.view!;
    const responders = v.members.filter((m) => f.oks.has(m));
    if (responders.length * 2 <= v.members.length) {
      this.setMinority(true);
      return;
    }
    this.setMinority(false);
    let best: { a: Attempt; p: Proposal } | null = null;
    for (const ok of f.oks.values()) if (ok.accepted && (!best || cmpAttempt(ok.accepted.a, best.a, v.members) > 0)) best = ok.accepted;
    let proposal: Proposal;
    if (best) {
      // Finish what may have been decided: same members, same cut; fetch from members alive now.
      const holders = best.p.cut.map(([sender, seq]): [NodeId, NodeId] => {
        const holder = [...f.oks].find(([, ok]) => (ok.digest.find(([s]) => s === sender)?.[1] ?? -1) >= seq)?.[0];
        return [sender, holder ?? sender];
      });
      proposal = { ...best.p, holders };
    } else {
      const cut = new Map<NodeId, number>();
      const holders = new Map<NodeId, NodeId>();
      for (const [member, ok] of f.oks) {
        for (const [sender, seq] of ok.digest) {
          if (seq > (cut.get(sender) ?? -1)) {
            cut.set(sender, seq);
            holders.set(sender, member);
          }
        }
      }
      const joiners = this.pendingJoins.filter((j) => !v.members.includes(j));
      // A process that rejoins under a new id replaces its old membership: one member per node.
      const rejoining = new Set(joiners.map((j) => nodeOfMember(j)));
      const stay = responders.filter((m) => !this.pendingLeaves.has(m) && !rejoining.has(nodeOfMember(m)));
      proposal = { members: [...stay, ...joiners], cut: [...cut], holders: [...holders], gb: [...this.pendingGb].filter(([k]) => !this.deliveredGb.has(k)) };
    }
    f.phase = 'cut';
    f.proposal = proposal;
    f.lastSend = this.env.now();
    f.startedAt = this.env.now();
    for (const r of responders) this.send(r, G.Cut, { view: v.id, a: f.a, p: proposal });
  }

  private onCut(from: NodeId, viewId: number, a: Attempt, p: Proposal): void {
    if (!this.view || viewId !== this.view.id || (this.status !== 'member' && this.status !== 'leaving')) return;
    if (this.promised && cmpAttempt(a, this.promised, this.view.members) < 0) {
      this.send(from, G.FlushNack, { n: this.promised.n });
      return;
    }
    this.promised = a;
    this.accepted = { a, p };
    this.freeze();
    this.awaitingCut = a;
    this.below.downEvent({ type: 'FLUSH_CUT', cut: new Map(p.cut), holders: new Map(p.holders) });
  }

  private onDone(from: NodeId, a: Attempt): void {
    const f = this.flush;
    this.log.trace('done', { from, a: JSON.stringify(a), f: f ? `${f.phase} ${f.a.n} ${[...f.dones]}` : 'none' });
    if (!f || f.phase !== 'cut' || a.n !== f.a.n || a.coord !== f.a.coord) return;
    f.dones.add(from);
    const v = this.view!;
    const needed = f.proposal!.members.filter((m) => v.members.includes(m) && f.oks.has(m));
    if (needed.every((m) => f.dones.has(m)) && f.dones.size * 2 > v.members.length) {
      const next: View = { group: this.ctx.group, id: v.id + 1, members: f.proposal!.members };
      this.lastProposalGb = f.proposal!.gb ?? [];
      this.flush = null;
      // The state provider: the most senior survivor that holds the state itself.
      const provider = v.members.find((m) => next.members.includes(m) && f.oks.get(m)?.hasState === true) ?? this.me;
      this.beginInstall(next, [...f.oks.keys()], provider);
    }
  }

  /** Coordinator: install `next` here and deliver it to its members (and tell those left out). */
  private beginInstall(next: View, alsoTell: NodeId[] = [], provider: NodeId = this.me): void {
    const old = this.view!;
    const joiners = next.members.filter((m) => !old.members.includes(m));
    const body: InstallBody = { view: { id: next.id, members: [...next.members] }, stateFrom: joiners.length > 0 ? provider : null };
    const targets = new Set<NodeId>([...next.members, ...alsoTell, ...old.members.filter((m) => !this.suspects.has(m))]);
    targets.delete(this.me);
    this.installing = { body, unacked: new Set(next.members.filter((m) => m !== this.me)), lastSend: this.env.now(), tries: 0 };
    this.pendingJoins = this.pendingJoins.filter((j) => !next.members.includes(j));
    for (const m of old.members) if (!next.members.includes(m)) this.pendingLeaves.delete(m);
    for (const t of targets) this.send(t, G.Install, body);
    this.onInstall(this.me, body);
  }

  private onInstall(from: NodeId, body: InstallBody): void {
    const next: View = { group: this.ctx.group, id: body.view.id, members: body.view.members };
    if (from !== this.me) this.send(from, G.InstallAck, { view: next.id });
    if (this.status === 'joining') {
      if (!next.members.includes(this.me)) return;
      this.status = 'member';
      if (body.stateFrom) {
        this.incoming = { viewId: next.id, from: body.stateFrom, chunks: [], total: -1, next: 0, lastAck: this.env.now(), progressAt: this.env.now(), firstView: next };
        this.heldUp = [];
        // Installing the view below now lets the new view's traffic reach us while state streams in.
        this.below.downEvent({ type: 'VIEW', view: next });
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
    if (!next.members.includes(this.me)) {
      if (this.status === 'leaving') this.left();
      else this.excluded(next.id);
      return;
    }
    // Only a member that reached this view's cut may install it.
    if (from !== this.me && (!this.accepted || !sameMembers(this.accepted.p.members, next.members) || this.awaitingCut !== null)) {
      this.excluded(next.id);
      return;
    }
    const joiners = next.members.filter((m) => !this.view!.members.includes(m));
    // gbcasts go last in the old view: after the cut, before the view change, in proposal order.
    this.deliverGbcasts(from === this.me ? (this.accepted?.p.gb ?? this.lastProposalGb) : (this.accepted?.p.gb ?? []));
    const provide = body.stateFrom === this.me && joiners.length > 0;
    const { snapshot, snapshotError } = this.installLocal(next, provide);
    if (provide) {
      for (const j of joiners) {
        if (snapshotError) {
          this.send(j, G.StateFail, { view: next.id, message: snapshotError.message });
          continue;
        }
        const bytes = snapshot ?? Buffer.alloc(0);
        const o: OutgoingState = { joiner: j, viewId: next.id, bytes, total: Math.max(1, Math.ceil(bytes.length / this.opts.stateChunkBytes)), acked: 0, sentUpTo: 0, lastSend: 0 };
        this.outgoing.set(j, o);
        this.pumpState(o);
      }
    }
  }

  /**
   * Install `v` at this member: lower layers first, then the application. A state provider gets
   * the snapshot from the application as the view reaches it — after the layers above have
   * delivered the rest of the old view (TOTAL's leftovers), before anything of the new one.
   */
  private installLocal(v: View, provide = false): { snapshot: Buffer | null; snapshotError: Error | null } {
    const old = this.view;
    this.view = v;
    this.promised = null;
    this.accepted = null;
    this.awaitingCut = null;
    this.frozen = false;
    this.needFlush = false;
    this.flush = null;
    this.workSince = null;
    // FD starts its suspicions afresh with each view (and repeats any that still hold): so do we.
    this.suspects.clear();
    this.pendingJoins = this.pendingJoins.filter((j) => !v.members.includes(j));
    for (const m of [...this.pendingLeaves]) if (!v.members.includes(m)) this.pendingLeaves.delete(m);
    if (this.hasWork()) this.noteWork();
    this.mViews.inc();
    if (old) this.mFlushMs.set(this.env.now() - this.flushBeganAt);
    this.log.info('view installed', { viewId: v.id, members: v.members.join(' ') });
    if (this.rejoinAfterLeave) {
      // On our way out to rejoin: lower layers follow the group, the application sees nothing.
      this.below.downEvent({ type: 'VIEW', view: v });
      return { snapshot: null, snapshotError: provide ? new Error('this member is leaving to rejoin') : null };
    }
    if (this.incoming !== null && this.heldUp !== null) {
      // Still waiting for the state of an earlier view: the application sees this view after it.
      this.heldUp.push(v);
      this.below.downEvent({ type: 'VIEW', view: v });
      return { snapshot: null, snapshotError: provide ? new Error('this member is still receiving its own state') : null };
    }
    // Hold messages of the new view that lower layers replay while we tell the application.
    const held: (Message | View)[] = this.heldUp ?? [];
    this.heldUp = held;
    this.below.downEvent({ type: 'VIEW', view: v });
    const ev: UpEvent = { type: 'VIEW', view: v, provide, snapshot: null, snapshotError: null };
    this.above.upEvent(ev);
    this.heldUp = null;
    this.setMinority(false);
    this.above.upEvent({ type: 'UNBLOCKED' });
    this.release(held);
    return { snapshot: ev.snapshot ?? null, snapshotError: ev.snapshotError ?? null };
  }

  private release(held: (Message | View)[]): void {
    for (const item of held) {
      if (item instanceof Message) this.above.up(item);
      else this.above.upEvent({ type: 'VIEW', view: item });
    }
  }

  // ---- gbcast: ordered against every message and every view change ----

  private gbcast(msg: Message): void {
    const key = `${this.me}:${++this.gbCounter}`;
    msg.src = this.me;
    const bytes = messageToBytes(msg);
    this.myGb.set(key, bytes);
    this.sendGbcasts();
  }

  private sendGbcasts(): void {
    const c = this.coordinator();
    if (!c || this.myGb.size === 0) return;
    for (const [key, bytes] of this.myGb) this.send(c, G.Gbcast, { key, bytes });
  }

  private deliverGbcasts(list: readonly [string, Buffer | Uint8Array][]): void {
    for (const [key, bytes] of list) {
      this.pendingGb.delete(key);
      this.myGb.delete(key);
      if (this.deliveredGb.has(key)) continue;
      this.deliveredGb.add(key);
      if (this.deliveredGb.size > 10_000) this.deliveredGb.delete(this.deliveredGb.values().next().value!);
      let msg: Message;
      try {
        msg = messageFromBytes(Buffer.from(bytes));
      } catch {
        continue;
      }
      msg.src = key.slice(0, key.lastIndexOf(':'));
      msg.dest = null;
      if (this.heldUp) this.heldUp.push(msg);
      else this.above.up(msg);
    }
    this.lastProposalGb = [];
  }

  // ---- state transfer ----

  private pumpState(o: OutgoingState): void {
    const now = this.env.now();
    if (o.sentUpTo > o.acked && now - o.lastSend > this.opts.retryMs * 3) o.sentUpTo = o.acked; // resend the window
    while (o.sentUpTo < o.total && o.sentUpTo < o.acked + this.opts.stateWindow) {
      const i = o.sentUpTo++;
      const chunk = o.bytes.subarray(i * this.opts.stateChunkBytes, Math.min(o.bytes.length, (i + 1) * this.opts.stateChunkBytes));
      // [view u32][index u32][total u32][bytes]: binary, so 100 MB of state costs no re-encoding.
      const payload = Buffer.allocUnsafe(12 + chunk.length);
      payload.writeUInt32BE(o.viewId, 0);
      payload.writeUInt32BE(i, 4);
      payload.writeUInt32BE(o.total, 8);
      chunk.copy(payload, 12);
      const m = new Message(o.joiner, payload, MsgFlag.Unreliable);
      m.push(GMS_HEADER, G.StateChunk);
      this.below.down(m);
    }
    o.lastSend = now;
  }

  private onStateChunk(from: NodeId, msg: Message): void {
    const inc = this.incoming;
    if (!inc || msg.payload.length < 12 || from !== inc.from || msg.payload.readUInt32BE(0) !== inc.viewId) return;
    const index = msg.payload.readUInt32BE(4);
    const total = msg.payload.readUInt32BE(8);
    if (inc.total < 0) inc.total = total;
    if (index === inc.next) {
      inc.chunks.push(Buffer.from(msg.payload.subarray(12)));
      inc.next++;
      inc.progressAt = this.env.now();
    }
    const now = this.env.now();
    if (inc.next >= inc.total || inc.next % 16 === 0 || index !== inc.next - 1 || now - inc.lastAck > this.opts.retryMs) {
      inc.lastAck = now;
      this.send(from, G.StateAck, { view: inc.viewId, next: inc.next });
    }
    if (inc.next >= inc.total) {
      const state = Buffer.concat(inc.chunks);
      this.incoming = null;
      this.log.info('state received', { viewId: inc.firstView.id, bytes: state.length });
      this.installWithState(inc.firstView, state);
    }
  }

  /** The joiner's state arrived: its first view goes up with it, then whatever followed. */
  private installWithState(first: View, state: Buffer): void {
    this.mViews.inc();
    const held = this.heldUp ?? [];
    this.heldUp = held;
    this.above.upEvent({ type: 'VIEW', view: first, state });
    this.heldUp = null;
    // Catch the application up (messages, later views) before it may send: what it sends must be
    // stamped with the view it sees.
    if (this.status === 'member' || this.status === 'leaving') this.release(held);
    if (!this.frozen) this.above.upEvent({ type: 'UNBLOCKED' });
  }

  private failJoin(code: 'ERR_STATE_TRANSFER' | 'ERR_JOIN_REJECTED', message: string): void {
    this.log.warn('join failed', { code, message });
    this.incoming = null;
    this.heldUp = null;
    const inView = this.status === 'member' && this.view !== null;
    this.above.upEvent({ type: 'JOIN_FAILED', code, message });
    if (inView) {
      // Already a member below the application: leave cleanly, or a small group would lose its majority.
      this.status = 'leaving';
      this.pendingLeaves.add(this.me);
      this.noteWork();
      if (!this.isCoordinator) this.sendLeaveReq();
    } else {
      this.status = 'gone';
      this.above.upEvent({ type: 'LEFT' });
    }
  }

  // ---- leaving, exclusion, minority ----

  private left(): void {
    this.status = 'gone';
    if (this.rejoinAfterLeave) this.above.upEvent({ type: 'EXCLUDED', viewId: this.view?.id ?? 0 });
    else this.above.upEvent({ type: 'LEFT' });
  }

  private excluded(viewId: number): void {
    if (this.status === 'gone') return;
    this.log.info('excluded from the group', { viewId, myView: this.view?.id ?? 0 });
    this.status = 'gone';
    this.above.upEvent({ type: 'EXCLUDED', viewId });
  }

  private setMinority(on: boolean): void {
    if (on === this.minority) return;
    this.minority = on;
    if (on) this.above.upEvent({ type: 'BLOCKED', reason: 'minority' });
    // Heard from a majority again without a view change: sends may flow (unless a flush holds them).
    else this.above.upEvent({ type: 'UNBLOCKED', reason: 'minority' });
  }

  // ---- the clock ----

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
    if (this.status === 'joining') {
      if (now - this.joinStarted > this.opts.joinTimeoutMs) this.failJoin('ERR_JOIN_REJECTED', `no member of ${this.ctx.group} let us in within ${this.opts.joinTimeoutMs} ms`);
      else if (now - this.lastJoinReq >= this.opts.retryMs * 2) this.sendJoinReq();
      return;
    }
    this.retryInstall(now);
    if (this.status === 'gone' || !this.view) return;
    if (this.incoming && (now - this.incoming.progressAt > this.opts.flushTimeoutMs * 2 || !this.view.members.includes(this.incoming.from))) {
      // The provider failed before we had our state: leave cleanly (a silent exit would cost a
      // small view its majority), then start over as a new member.
      this.log.warn('state provider went silent; leaving to rejoin', { provider: this.incoming.from });
      this.incoming = null;
      this.heldUp = null;
      this.rejoinAfterLeave = true;
      this.status = 'leaving';
      this.pendingLeaves.add(this.me);
      this.noteWork();
      if (!this.isCoordinator) this.sendLeaveReq();
      return;
    }
    if (this.incoming && now - this.incoming.lastAck > this.opts.retryMs * 2) {
      this.incoming.lastAck = now;
      this.send(this.incoming.from, G.StateAck, { view: this.incoming.viewId, next: this.incoming.next });
    }
    for (const o of this.outgoing.values()) {
      // Keep streaming through later view changes: the joiner waits for exactly this snapshot.
      if (!this.view.members.includes(o.joiner)) this.outgoing.delete(o.joiner);
      else if (now - o.lastSend > this.opts.retryMs * 3) this.pumpState(o);
    }
    if (this.status === 'leaving' && !this.isCoordinator) this.sendLeaveReq();
    if (this.myGb.size > 0 && now - this.lastGbSend >= this.opts.retryMs * 2) {
      this.lastGbSend = now;
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
      const reachable = this.view.members.filter((m) => !this.suspects.has(m)).length;
      this.setMinority(reachable * 2 <= this.view.members.length);
      return;
    }
    const f = this.flush;
    if (!f) {
      if (this.hasWork() && this.workSince !== null && now - this.workSince >= this.opts.foldMs) this.startFlush();
      else if (this.hasWork() && this.workSince === null) this.noteWork();
      return;
    }
    if (now - f.lastSend >= this.opts.retryMs) {
      f.lastSend = now;
      if (f.phase === 'start') {
        for (const p of f.participants) if (!f.oks.has(p)) this.send(p, G.FlushStart, { view: this.view.id, a: f.a });
      } else {
        for (const p of f.oks.keys()) if (!f.dones.has(p)) this.send(p, G.Cut, { view: this.view.id, a: f.a, p: f.proposal });
      }
    }
    if (now - f.startedAt > this.opts.flushTimeoutMs) {
      // Whoever did not answer in time is suspected; the flush starts over without them.
      const silent = f.phase === 'start' ? f.participants.filter((p) => !f.oks.has(p)) : [...f.oks.keys()].filter((p) => !f.dones.has(p));
      for (const s of silent) if (s !== this.me) this.suspects.add(s);
      // A minority retries with everyone: a healed partition brings the majority back (and the
      // members it suspected itself, which no failure detector will clear, get asked again).
      if (f.phase === 'start' && silent.length === 0 && !this.minority) this.proceed();
      else {
        if (this.minority && silent.length === 0) this.suspects.clear();
        this.restartFlush();
      }
    }
  }
}

function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

registerLayer({
  name: 'GMS',
  provides: ['membership', 'virtual-synchrony', 'gbcast'],
  requires: ['reliable', 'digest', 'failure-detection'],
  options,
  create: (ctx, o) => new GMS(ctx, o),
});
