import type { FrameHandler, PeerEvent, PeerIdentity, PiecedFrameHandler, Timer } from '../core/env.js';
import { HorusError } from '../core/errors.js';
import { endpointOf, type NodeId } from '../core/node-id.js';
import type { Rng } from '../core/rng.js';
import type { Scheduler } from './scheduler.js';

/** Link behaviour. The live object is read on every frame, so changing a field takes effect at once. */
export interface NetworkOptions {
  /** Base one-way latency in ms. */
  delayMs: number;
  /** Extra latency, uniform in [0, jitterMs). */
  jitterMs: number;
  /** Probability that a frame is dropped. */
  loss: number;
  /** Probability that a frame is delivered twice. */
  duplicate: number;
  /** Frames on one directed link never overtake each other (like TCP). When false, jitter may reorder. */
  fifo: boolean;
  /** Per frame probability that the directed link resets: frames in flight on it are lost. */
  breakProbability: number;
  /**
   * A connection cut by a partition holds what is sent into it (TCP retransmits); if the cut lasts
   * longer than this since the first frame it held, the connection resets: what it held is lost.
   */
  cutResetMs: number;
  /** Most bytes one directed link holds across a cut; frames past it are dropped ('overflow'). */
  maxHeldBytesPerLink: number;
  /**
   * A connection that reset during a cut comes back only at its sender's next reconnect attempt:
   * up to this long after the heal (drawn per link), the link still holds what is sent into it.
   * This is TCP back-off: after a heal one direction may stay silent for seconds. 0: at once.
   */
  reconnectBackoffMaxMs: number;
  /**
   * A receiver's read hold (Transport.holdReads) keeps a link's frames unread at most this long at a
   * stretch, then lets them through for as long, as the TCP transport's maxReadHoldMs (default 20).
   */
  maxReadHoldMs?: number;
}

/** The TCP transport's default maxReadHoldMs. */
const DEFAULT_MAX_READ_HOLD_MS = 20;

export const DEFAULT_NETWORK_OPTIONS: Readonly<NetworkOptions> = Object.freeze({
  delayMs: 1,
  jitterMs: 0.5,
  loss: 0,
  duplicate: 0,
  fifo: true,
  breakProbability: 0,
  cutResetMs: 10_000,
  maxHeldBytesPerLink: 4 * 1024 * 1024,
  reconnectBackoffMaxMs: 0,
});

export function validateNetworkOptions(o: NetworkOptions): void {
  const bad = (what: string): never => {
    throw new HorusError('ERR_INVALID_ARGUMENT', `network options: ${what}`);
  };
  const nonNegative = (v: number): boolean => Number.isFinite(v) && v >= 0;
  const probability = (v: number): boolean => v >= 0 && v <= 1;
  if (!nonNegative(o.delayMs)) bad(`delayMs must be >= 0, got ${o.delayMs}`);
  if (!nonNegative(o.jitterMs)) bad(`jitterMs must be >= 0, got ${o.jitterMs}`);
  if (!probability(o.loss)) bad(`loss must be in [0, 1], got ${o.loss}`);
  if (!probability(o.duplicate)) bad(`duplicate must be in [0, 1], got ${o.duplicate}`);
  if (!probability(o.breakProbability)) bad(`breakProbability must be in [0, 1], got ${o.breakProbability}`);
  if (typeof o.fifo !== 'boolean') bad('fifo must be a boolean');
  if (!(o.cutResetMs > 0)) bad(`cutResetMs must be > 0, got ${o.cutResetMs}`);
  if (!nonNegative(o.maxHeldBytesPerLink)) bad(`maxHeldBytesPerLink must be >= 0, got ${o.maxHeldBytesPerLink}`);
  if (!nonNegative(o.reconnectBackoffMaxMs)) bad(`reconnectBackoffMaxMs must be >= 0, got ${o.reconnectBackoffMaxMs}`);
}

export type NodeStatus = 'up' | 'paused' | 'crashed';

export type DropReason =
  | 'loss' // random loss
  | 'reset' // in flight when its link broke, or held across a cut that outlasted cutResetMs
  | 'overflow' // a cut link already held maxHeldBytesPerLink
  | 'stale' // addressed to an incarnation that is not the current one at that endpoint
  | 'unreachable' // nothing up at that endpoint
  | 'dead' // receiver crashed before the frame was delivered
  | 'sender-dead' // sent by a crashed node or on a closed transport
  | 'no-handler'; // receiver has no frame handler (or closed its transport)

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Frames that arrived while the receiver was paused (delivered later, or dropped if it crashes). */
  held: number;
  /** Frames that reached their receiver while it held reads from their sender, and waited unread. */
  readHeld: number;
  /** Frames a cut link held (sent into it, or in flight when it was cut). */
  heldAcrossCut: number;
  /** Held frames delivered in a burst when their link healed. */
  releasedAfterCut: number;
  /** Most bytes any one link held at once across a cut. */
  maxHeldBytes: number;
  dropReasons: Record<DropReason, number>;
}

/** What the network needs from a simulated node. */
export interface NetEndpoint {
  readonly id: NodeId;
  readonly endpoint: string;
  readonly status: NodeStatus;
  /** False once the node's transport is closed. */
  readonly open: boolean;
  /** The frame handler, or null if none is set or the transport is closed. */
  receiver(): FrameHandler | null;
  /** The handler of frames in pieces, or null (none set, or closed): then frames arrive whole. */
  piecedReceiver?(): PiecedFrameHandler | null;
  /** Keep `fn` until the node resumes (it is paused). */
  hold(fn: () => void): void;
  /** Report a peer event to the node's onPeer handler, asynchronously. */
  peerEvent(ev: PeerEvent): void;
}

/** One directed connection. Its epoch changes when it resets, which loses every frame still in flight. */
class Link {
  epoch = 0;
  /** Latest scheduled arrival on this link, for FIFO. */
  lastArrival = -Infinity;
  /** Launched and not yet arrived, in send order (moved to `held` if the link is cut). */
  readonly inFlight = new Set<InFlight>();
  /** Frames waiting for the cut to heal, in send order. */
  held: InFlight[] = [];
  heldBytes = 0;
  /** Resets the connection if the cut outlasts cutResetMs (armed while something is held). */
  resetTimer: Timer | null = null;
  /** Reset by a cut: its ends were told 'disconnected' and hear 'connected' when it reconnects. */
  down = false;
  /** Healed, but its sender has not tried to reconnect yet (back-off): it holds frames until then. */
  reconnecting: Timer | null = null;
  /** Draws the reconnect delays (its own stream: the link's stream stays as it was). */
  backoffRng: Rng | null = null;
  /** Draws where frames are cut into pieces on arrival (its own stream, as backoffRng). */
  piecesRng: Rng | null = null;
  /** Who at the receiver asked not to read this link now (Transport.holdReads). */
  readonly readHolders = new Set<object>();
  /** Reading this link: as frames land, paused on request, or free again after a pause of maxReadHoldMs. */
  readState: 'reading' | 'paused' | 'free' = 'reading';
  readTimer: Timer | null = null;
  /** Landed while reads were held, in order: the receiving socket's buffer. */
  unread: InFlight[] = [];
  constructor(
    readonly from: NetEndpoint,
    readonly to: NetEndpoint,
    readonly rng: Rng,
  ) {}
}

interface InFlight {
  readonly link: Link;
  readonly epoch: number;
  readonly bytes: Uint8Array;
  readonly sum: string;
  /** Taken off the wire by a cut: its scheduled arrival does nothing. */
  moved?: boolean;
}

/** FNV-1a over the bytes: a cheap content fingerprint for the trace, not a security checksum. */
function checksum(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * Moves frames between simulated nodes through the scheduler: latency, jitter, loss, duplication,
 * FIFO links, link resets and partitions. Every random draw comes from the per-link stream, so a link's
 * behaviour does not depend on traffic elsewhere.
 *
 * A partition behaves as TCP does across a cut: what is sent into a cut link (or was on the wire
 * when it was cut) is held on that link, in order, and arrives all at once when the link heals
 * (heal time + the link's delay); if the cut outlasts `cutResetMs` the connection resets, the held
 * frames are lost and both ends hear 'disconnected', as the TCP transport reports a closed
 * connection; after the heal such a link comes back only at its sender's next reconnect attempt
 * (up to `reconnectBackoffMaxMs` later: TCP back-off), holding what is sent meanwhile, and both
 * ends hear 'connected'. Nothing is reported when a link is merely cut.
 *
 * Crashes are reported as the TCP transport reports them: a process that dies closes its
 * connections, so each node that had a link with it (and is not cut from it) hears 'closed' after
 * the link's delay, and its transport's dial a round trip later finds the port refused ('gone',
 * refused) or a new incarnation there ('gone', replaced). A node that sends to a crashed process, or
 * to an incarnation another one replaced, hears the same a round trip later (its dial). Nothing of
 * this reaches anyone across a cut, and a paused process never looks gone: its port still accepts.
 * A link that resets on its own (breakProbability) is 'closed' at both ends; one that times out in
 * a cut is not (no FIN crosses a cut: each end's kernel gives up on its own).
 */
export class SimNetwork {
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    held: 0,
    readHeld: 0,
    heldAcrossCut: 0,
    releasedAfterCut: 0,
    maxHeldBytes: 0,
    dropReasons: {
      loss: 0,
      reset: 0,
      overflow: 0,
      stale: 0,
      unreachable: 0,
      dead: 0,
      'sender-dead': 0,
      'no-handler': 0,
    },
  };
  /** The current incarnation at each endpoint, in the order endpoints first appeared. */
  private readonly byEndpoint = new Map<string, NetEndpoint>();
  private readonly links = new Map<string, Link>();
  /** endpoint -> side of the partition; endpoints not listed are on side 0. Empty when healed. */
  private readonly sideOf = new Map<string, number>();
  private nextSide = 1;
  /** `observer>gone-id` pairs already reported 'gone': each observer hears of each process once. */
  private readonly goneReported = new Set<string>();
  /** Identities of the world's endpoints, made on first use (see identityOf). */
  private readonly identities = new Map<string, PeerIdentity>();
  /** Endpoints of the world that hold no key (intruders: the adversary's stranger). */
  private readonly keyless = new Set<string>();

  constructor(
    private readonly scheduler: Scheduler,
    readonly options: NetworkOptions,
    private readonly forkRng: (label: string) => Rng,
    private readonly trace: (kind: string, data: string) => void,
    /** Called as a frame is handed to its receiver (before it runs), then with from = null once it returned. */
    private readonly landing: (from: NodeId | null, to: NodeId, bytes: Uint8Array) => void = () => {},
  ) {
    validateNetworkOptions(options);
  }

  /** A new node takes over its endpoint. */
  register(node: NetEndpoint): void {
    this.byEndpoint.set(node.endpoint, node);
  }

  /**
   * The identity a node with id `id` proves, as the real transport's handshake would: each endpoint
   * of the world holds a key drawn from the seed (its own stream, so no other draw moves), kept across
   * restarts like a key file; an id at an endpoint no node of the world ever held (an intruder's) has none.
   */
  identityOf(id: NodeId): PeerIdentity | null {
    const endpoint = endpointOf(id);
    if (!this.byEndpoint.has(endpoint) || this.keyless.has(endpoint)) return null;
    let identity = this.identities.get(endpoint);
    if (identity === undefined) {
      const rng = this.forkRng(`identity:${endpoint}`);
      const key = new Uint8Array(32);
      for (let i = 0; i < key.length; i++) key[i] = rng.int(0, 255);
      identity = { mode: 'sim', name: endpoint, publicKey: Buffer.from(key).toString('base64'), serial: null };
      this.identities.set(endpoint, identity);
    }
    return identity;
  }

  /** The node at `endpoint` holds no key: an intruder in the world (it proves no identity). */
  withoutIdentity(endpoint: string): void {
    this.keyless.add(endpoint);
    this.identities.delete(endpoint);
  }

  /** The current incarnation at `endpoint` (possibly crashed), if any. */
  nodeAt(endpoint: string): NetEndpoint | undefined {
    return this.byEndpoint.get(endpoint);
  }

  /**
   * Forget a crashed node's links. Frames it already sent stay in flight, like packets on the wire,
   * and what a cut link holds from it still arrives at the heal (its kernel keeps retransmitting);
   * what was held for it is lost.
   */
  nodeCrashed(node: NetEndpoint): void {
    // Its kernel closes its connections: whoever had one with it hears of it, then dials it.
    const peers = new Set<NetEndpoint>();
    for (const link of this.links.values()) {
      if (link.from === node) peers.add(link.to);
      else if (link.to === node) peers.add(link.from);
    }
    for (const peer of peers) {
      if (peer.status === 'crashed' || !peer.open || this.isCut(peer.endpoint, node.endpoint)) continue;
      this.scheduler.schedule(this.options.delayMs, () => {
        if (peer.status === 'crashed' || this.isCut(peer.endpoint, node.endpoint)) return;
        this.trace('peer-closed', `${peer.id} ${node.id}`);
        peer.peerEvent({ type: 'closed', peer: node.id });
        this.scheduleGoneCheck(peer, node.id);
      });
    }
    for (const [key, link] of this.links) {
      if (link.to === node) {
        link.reconnecting?.cancel();
        link.reconnecting = null;
        for (const f of link.held) this.dropInFlight('dead', f);
        this.clearHeld(link);
        this.links.delete(key);
      } else if (link.from === node && link.held.length === 0) this.links.delete(key);
    }
  }

  send(from: NetEndpoint, to: string, frame: Uint8Array): void {
    // Copy now: the sender may reuse its buffer as soon as send returns.
    const bytes = new Uint8Array(frame);
    const sum = this.checksumOf(bytes);
    this.stats.sent++;
    if (from.status === 'crashed' || !from.open) return this.dropAtSend('sender-dead', from.id, to, bytes, sum);
    const toEndpoint = endpointOf(to);
    const target = this.byEndpoint.get(toEndpoint);
    if (target === undefined || target.status === 'crashed') {
      // The sender's transport dials it: refused, a round trip later.
      if (target !== undefined) this.scheduleGoneCheck(from, to === toEndpoint ? target.id : to);
      return this.dropAtSend('unreachable', from.id, to, bytes, sum);
    }
    if (to !== toEndpoint && to !== target.id) {
      this.scheduleGoneCheck(from, to);
      return this.dropAtSend('stale', from.id, to, bytes, sum);
    }
    const link = this.linkFor(from, target);
    if (this.isCut(from.endpoint, toEndpoint) || link.reconnecting !== null) return this.holdAcrossCut(link, { link, epoch: link.epoch, bytes, sum });

    const o = this.options;
    if (link.rng.chance(o.breakProbability)) this.breakLink(link);
    if (link.rng.chance(o.loss)) return this.dropAtSend('loss', from.id, target.id, bytes, sum);
    this.launch(link, bytes, sum);
    if (link.rng.chance(o.duplicate)) {
      this.stats.duplicated++;
      this.launch(link, new Uint8Array(bytes), sum);
    }
  }

  /**
   * The checksum of a frame, from the last one when the bytes are the same: a multicast sends one
   * frame to each of n members, and a JS loop over its bytes per copy was a large group's main
   * simulator cost (a native compare is far cheaper).
   */
  private checksumOf(bytes: Uint8Array): string {
    const last = this.lastSummed;
    if (last !== null && last.bytes.length === bytes.length && Buffer.compare(last.bytes, bytes) === 0) return last.sum;
    const sum = checksum(bytes);
    this.lastSummed = { bytes: new Uint8Array(bytes), sum }; // its own copy: nothing can change it
    return sum;
  }
  private lastSummed: { bytes: Uint8Array; sum: string } | null = null;

  /**
   * `observer`'s transport dials the endpoint of `id` (after a closed connection, or to send): a
   * round trip later it knows whether the process `id` is gone: nothing up there (refused), or
   * another incarnation answering (replaced). Across a cut, or while the one there is paused, the
   * dial learns nothing. Each observer hears of each gone process once.
   */
  private scheduleGoneCheck(observer: NetEndpoint, id: NodeId): void {
    const key = `${observer.id}>${id}`;
    if (this.goneReported.has(key)) return;
    const endpoint = endpointOf(id);
    this.scheduler.schedule(2 * this.options.delayMs, () => {
      if (observer.status === 'crashed' || !observer.open || this.goneReported.has(key) || this.isCut(observer.endpoint, endpoint)) return;
      const there = this.byEndpoint.get(endpoint);
      let why: 'refused' | 'replaced';
      if (there === undefined || there.status === 'crashed') why = 'refused';
      else if (there.id !== id && there.status === 'up') why = 'replaced';
      else return; // it runs (or a paused one holds the port): nothing learnt
      this.goneReported.add(key);
      this.trace('peer-gone', `${observer.id} ${id} ${why}`);
      observer.peerEvent({ type: 'gone', peer: id, why });
    });
  }

  /**
   * Only nodes in the same group can exchange frames; what crosses the cut is held (see the class).
   * Entries are ids or endpoints; endpoints not listed form one more group together. Replaces any
   * earlier partition.
   */
  partition(groups: readonly (readonly string[])[]): void {
    const sides = new Map<string, number>();
    let side = 1;
    for (const group of groups) {
      for (const member of group) {
        const ep = endpointOf(member);
        const prev = sides.get(ep);
        if (prev !== undefined && prev !== side) {
          throw new HorusError('ERR_INVALID_ARGUMENT', `partition: ${ep} is listed in two groups`);
        }
        sides.set(ep, side);
      }
      side++;
    }
    this.applySides(sides, side);
  }

  /** Cut one node off from everyone else, keeping any other cut as it is. */
  isolate(idOrEndpoint: string): void {
    const sides = new Map(this.sideOf);
    sides.set(endpointOf(idOrEndpoint), this.nextSide);
    this.applySides(sides, this.nextSide + 1);
  }

  heal(): void {
    this.applySides(new Map(), 1);
  }

  get partitioned(): boolean {
    return this.sideOf.size > 0;
  }

  isCut(a: string, b: string): boolean {
    if (this.sideOf.size === 0 || a === b) return false;
    return (this.sideOf.get(a) ?? 0) !== (this.sideOf.get(b) ?? 0);
  }

  private applySides(sides: Map<string, number>, nextSide: number): void {
    this.sideOf.clear();
    for (const [ep, side] of sides) this.sideOf.set(ep, side);
    this.nextSide = nextSide;
    for (const link of this.links.values()) {
      if (this.isCut(link.from.endpoint, link.to.endpoint)) {
        // What is on the wire across the new cut waits for the heal, like unacknowledged TCP data.
        for (const f of link.inFlight) {
          f.moved = true;
          this.holdAcrossCut(link, f);
        }
        link.inFlight.clear();
      } else if (link.reconnecting === null && (link.held.length > 0 || link.down)) this.reconnect(link);
    }
  }

  /** Keep `f` on its cut link until the heal; arm the link's reset if it held nothing yet. */
  private holdAcrossCut(link: Link, f: InFlight): void {
    if (link.heldBytes + f.bytes.length > this.options.maxHeldBytesPerLink) return this.dropInFlight('overflow', f);
    link.held.push(f);
    link.heldBytes += f.bytes.length;
    this.stats.heldAcrossCut++;
    if (link.heldBytes > this.stats.maxHeldBytes) this.stats.maxHeldBytes = link.heldBytes;
    link.resetTimer ??= this.scheduler.schedule(this.options.cutResetMs, () => this.cutReset(link));
  }

  /** The cut outlasted the connection: what it held is lost and both ends see it close. */
  private cutReset(link: Link): void {
    link.resetTimer = null;
    if (!this.isCut(link.from.endpoint, link.to.endpoint)) return;
    for (const f of link.held) this.dropInFlight('reset', f);
    this.clearHeld(link);
    this.resetLink(link);
    this.trace('cut-reset', `${link.from.id}>${link.to.id}`);
    if (link.from.status === 'crashed') this.links.delete(`${link.from.id}>${link.to.id}`);
    if (!link.down) {
      link.down = true;
      link.from.peerEvent({ type: 'disconnected', peer: link.to.id });
      link.to.peerEvent({ type: 'disconnected', peer: link.from.id });
    }
  }

  /** The link healed: a connection that reset waits for its sender's next reconnect attempt. */
  private reconnect(link: Link): void {
    if (link.down && link.from.status === 'crashed') {
      // Nobody is left to reconnect: what its transport queued after the reset dies with it.
      for (const f of link.held) this.dropInFlight('sender-dead', f);
      this.clearHeld(link);
      this.links.delete(`${link.from.id}>${link.to.id}`);
      return;
    }
    const max = this.options.reconnectBackoffMaxMs;
    if (!link.down || max === 0) return this.release(link);
    link.backoffRng ??= this.forkRng(`backoff:${link.from.id}>${link.to.id}`);
    const wait = link.backoffRng.float() * max;
    this.trace('backoff', `${link.from.id}>${link.to.id} ${wait}`);
    link.reconnecting = this.scheduler.schedule(wait, () => {
      link.reconnecting = null;
      if (this.isCut(link.from.endpoint, link.to.endpoint)) return;
      this.release(link);
    });
  }

  /** The link is up again: everything it held arrives now, in order, after the link's delay. */
  private release(link: Link): void {
    const held = link.held;
    this.clearHeld(link);
    if (link.down) {
      link.down = false;
      link.from.peerEvent({ type: 'connected', peer: link.to.id });
      link.to.peerEvent({ type: 'connected', peer: link.from.id });
    }
    if (link.from.status === 'crashed') this.links.delete(`${link.from.id}>${link.to.id}`);
    if (held.length === 0) return;
    const at = Math.max(this.scheduler.now() + this.options.delayMs, link.lastArrival);
    link.lastArrival = at;
    this.trace('release', `${link.from.id}>${link.to.id} ${held.length}`);
    for (const h of held) {
      const f: InFlight = { link, epoch: link.epoch, bytes: h.bytes, sum: h.sum };
      this.stats.releasedAfterCut++;
      link.inFlight.add(f);
      this.scheduler.scheduleAt(at, () => this.arrive(f));
    }
  }

  private clearHeld(link: Link): void {
    link.held = [];
    link.heldBytes = 0;
    link.resetTimer?.cancel();
    link.resetTimer = null;
  }

  private linkFor(from: NetEndpoint, to: NetEndpoint): Link {
    const key = `${from.id}>${to.id}`;
    let link = this.links.get(key);
    if (link === undefined) {
      link = new Link(from, to, this.forkRng(`link:${key}`));
      this.links.set(key, link);
    }
    return link;
  }

  /** A TCP-like reset: frames in flight are lost; the next frame goes over a fresh connection. */
  private breakLink(link: Link): void {
    this.resetLink(link);
    for (const f of link.held) this.dropInFlight('reset', f);
    this.clearHeld(link);
    this.trace('break', `${link.from.id}>${link.to.id}`);
    link.from.peerEvent({ type: 'closed', peer: link.to.id });
    link.to.peerEvent({ type: 'closed', peer: link.from.id });
    link.from.peerEvent({ type: 'disconnected', peer: link.to.id });
    link.to.peerEvent({ type: 'disconnected', peer: link.from.id });
    link.from.peerEvent({ type: 'connected', peer: link.to.id });
    link.to.peerEvent({ type: 'connected', peer: link.from.id });
  }

  private resetLink(link: Link): void {
    link.epoch++;
    link.lastArrival = -Infinity;
    link.inFlight.clear();
  }

  private launch(link: Link, bytes: Uint8Array, sum: string): void {
    const o = this.options;
    let at = this.scheduler.now() + o.delayMs + (o.jitterMs > 0 ? link.rng.float() * o.jitterMs : 0);
    // Equal arrival times keep send order because the scheduler breaks ties by insertion.
    if (o.fifo && at < link.lastArrival) at = link.lastArrival;
    if (at > link.lastArrival) link.lastArrival = at;
    const f: InFlight = { link, epoch: link.epoch, bytes, sum };
    link.inFlight.add(f);
    this.scheduler.scheduleAt(at, () => this.arrive(f));
  }

  private arrive(f: InFlight): void {
    if (f.moved === true) return; // held on its cut link; it arrives at the heal
    if (f.epoch !== f.link.epoch) return this.dropInFlight('reset', f);
    f.link.inFlight.delete(f);
    this.land(f);
  }

  /**
   * `node` asks (`hold`) or stops asking, as `holder`, that no more be read from `peer` for now
   * (Transport.holdReads). Frames from it that land meanwhile wait unread, in order, until the last
   * holder stops asking, or for maxReadHoldMs at most; then they are read for as long before a hold
   * still standing pauses the link again, as the TCP transport does.
   */
  holdReads(node: NetEndpoint, peer: string, holder: object, hold: boolean): void {
    const from = this.byEndpoint.get(endpointOf(peer));
    if (from === undefined || from === node) return;
    const link = this.linkFor(from, node);
    if (hold) {
      link.readHolders.add(holder);
      if (link.readState === 'reading') this.pauseReads(link);
      return;
    }
    if (!link.readHolders.delete(holder) || link.readHolders.size > 0) return;
    link.readTimer?.cancel();
    link.readTimer = null;
    link.readState = 'reading';
    this.readLater(link);
  }

  private pauseReads(link: Link): void {
    const maxMs = this.options.maxReadHoldMs ?? DEFAULT_MAX_READ_HOLD_MS;
    link.readState = 'paused';
    link.readTimer = this.scheduler.schedule(maxMs, () => {
      link.readState = 'free';
      this.readLater(link);
      link.readTimer = this.scheduler.schedule(maxMs, () => {
        link.readTimer = null;
        link.readState = 'reading';
        // Holds of a receiver that crashed, or on a link forgotten since, are never withdrawn: they end here.
        const live = link.to.status !== 'crashed' && this.links.get(`${link.from.id}>${link.to.id}`) === link;
        if (live && link.readHolders.size > 0) this.pauseReads(link);
      });
    });
  }

  /** The receiver reads what waited unread: soon, not inside the call that lifted the hold (a socket resumes on a later tick). */
  private readLater(link: Link): void {
    if (link.unread.length > 0) this.scheduler.schedule(0, () => this.readUnread(link));
  }

  private readUnread(link: Link): void {
    const node = link.to;
    while (link.readState !== 'paused' && link.unread.length > 0) {
      if (node.status === 'paused') {
        node.hold(() => this.readUnread(link));
        return;
      }
      const f = link.unread.shift()!;
      // A connection that reset since lost what its receiver had not read.
      if (node.status === 'crashed') this.dropInFlight('dead', f);
      else if (f.epoch !== link.epoch) this.dropInFlight('reset', f);
      else this.handOver(f);
    }
  }

  /** The frame reached the receiving host: deliver it, or hold it while the process is stopped or holds reads from its sender. */
  private land(f: InFlight): void {
    const node = f.link.to;
    if (node.status === 'crashed') return this.dropInFlight('dead', f);
    if (node.status === 'paused') {
      this.stats.held++;
      node.hold(() => this.land(f));
      return;
    }
    const link = f.link;
    if (link.readState === 'paused' || link.unread.length > 0) {
      this.stats.readHeld++;
      link.unread.push(f);
      return;
    }
    this.handOver(f);
  }

  private handOver(f: InFlight): void {
    const node = f.link.to;
    const handler = node.receiver();
    if (handler === null) return this.dropInFlight('no-handler', f);
    this.stats.delivered++;
    this.trace('deliver', `${f.link.from.id}>${node.id} ${f.bytes.length} ${f.sum}`);
    this.landing(f.link.from.id, node.id, f.bytes);
    const pieces = this.cut(f);
    if (pieces === null) handler(f.link.from.id, f.bytes);
    else node.piecedReceiver!()!(f.link.from.id, pieces, f.bytes.length);
    this.landing(null, node.id, f.bytes);
  }

  /**
   * Like a socket read that ends inside a frame, a quarter of the frames reach a node that takes
   * pieces cut in two or three at places drawn from the link's own stream; null: the frame goes whole.
   */
  private cut(f: InFlight): Buffer[] | null {
    const n = f.bytes.length;
    if (n < 2 || (f.link.to.piecedReceiver?.() ?? null) === null) return null;
    const rng = (f.link.piecesRng ??= this.forkRng(`pieces:${f.link.from.id}>${f.link.to.id}`));
    if (rng.float() >= 0.25) return null;
    const cuts = [1 + Math.floor(rng.float() * (n - 1))];
    if (n >= 3 && rng.float() < 0.5) cuts.push(1 + Math.floor(rng.float() * (n - 1)));
    cuts.sort((a, b) => a - b);
    const b = f.bytes;
    const pieces: Buffer[] = [];
    let at = 0;
    for (const c of [...cuts, n]) {
      if (c > at) pieces.push(Buffer.from(b.buffer, b.byteOffset + at, c - at));
      at = c;
    }
    return pieces;
  }

  private dropInFlight(reason: DropReason, f: InFlight): void {
    this.countDrop(reason);
    this.trace('drop', `${reason} ${f.link.from.id}>${f.link.to.id} ${f.bytes.length} ${f.sum}`);
  }

  private dropAtSend(reason: DropReason, from: string, to: string, bytes: Uint8Array, sum: string): void {
    this.countDrop(reason);
    this.trace('drop', `${reason} ${from}>${to} ${bytes.length} ${sum}`);
  }

  private countDrop(reason: DropReason): void {
    this.stats.dropped++;
    this.stats.dropReasons[reason]++;
  }
}
