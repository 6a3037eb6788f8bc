import type { Env, FrameHandler, PeerEvent, Timer, Transport, Unwatch } from '../core/env.js';
import type { NodeId } from '../core/node-id.js';

/**
 * The Env one stack's layers see. Timer and deferred callbacks run inside a try/catch that hands
 * what they throw to `onFault` (a timer is an entry point into the stack, like a frame), so one
 * group's bug cannot kill the process. Once `kill()`ed, the stack is dead: its pending callbacks
 * do nothing and it can no longer send, even from code still unwinding on the JS stack.
 */
export class ContainedEnv implements Env {
  private dead = false;
  readonly transport: Transport;
  /** Peer-event subscriptions of this stack's layers: dropped when the stack dies. */
  private readonly unwatches = new Set<Unwatch>();
  /** Periodic timers of this stack on the inner Env's `every`: cancelled when the stack dies (they would run forever). */
  private readonly periodic = new Set<Timer>();
  /** Per holder, the peers this stack asked the transport not to read (holdReads): withdrawn when the stack dies. */
  private readonly readHolds = new Map<object, Set<NodeId>>();

  constructor(
    private readonly inner: Env,
    private readonly onFault: (err: unknown) => void,
  ) {
    const t = inner.transport;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.transport = {
      get localId(): NodeId {
        return t.localId;
      },
      get maxFrameSize(): number {
        return t.maxFrameSize;
      },
      send(to: string, frame: Uint8Array, owned?: boolean): void {
        if (!self.dead) t.send(to, frame, owned);
      },
      // The node owns the transport's handlers: a layer must not replace them.
      onFrame(_handler: FrameHandler): void {},
      onPeer(_handler: (ev: PeerEvent) => void): void {},
      close: () => Promise.resolve(),
      // The authenticated identity of a peer (ACLs): the node's transport knows it.
      ...(t.peerIdentity ? { peerIdentity: (node: NodeId) => t.peerIdentity!(node) } : {}),
      ...(t.holdReads ? { holdReads: (peer: NodeId, holder: object, hold: boolean) => self.holdReads(peer, holder, hold) } : {}),
    };
    // Key material for the group (CRYPT's view keys): the node's source, never a seeded fallback.
    if (inner.randomBytes) this.randomBytes = (n: number) => inner.randomBytes!(n);
    if (inner.every) this.every = (ms, fn) => this.everyOnInner(ms, fn);
  }

  readonly randomBytes?: (n: number) => Uint8Array;
  readonly every?: (ms: number, fn: () => void) => Timer;

  private everyOnInner(ms: number, fn: () => void): Timer {
    if (this.dead) return { cancel: () => {} };
    const t = this.inner.every!(ms, () => this.run(fn));
    this.periodic.add(t);
    return {
      cancel: () => {
        this.periodic.delete(t);
        t.cancel();
      },
    };
  }

  /** Passes a read hold on to the node's transport, remembering it so that a dead stack holds nothing. */
  private holdReads(peer: NodeId, holder: object, hold: boolean): void {
    if (this.dead && hold) return;
    let peers = this.readHolds.get(holder);
    if (hold) {
      if (peers === undefined) this.readHolds.set(holder, (peers = new Set()));
      peers.add(peer);
    } else if (peers === undefined || !peers.delete(peer)) return;
    else if (peers.size === 0) this.readHolds.delete(holder);
    this.inner.transport.holdReads!(peer, holder, hold);
  }

  get rng(): Env['rng'] {
    return this.inner.rng;
  }

  get log(): Env['log'] {
    return this.inner.log;
  }

  get isDead(): boolean {
    return this.dead;
  }

  /** From now on nothing of this stack runs or sends. */
  kill(): void {
    this.dead = true;
    for (const u of this.unwatches) u();
    this.unwatches.clear();
    for (const t of this.periodic) t.cancel();
    this.periodic.clear();
    for (const [holder, peers] of this.readHolds) for (const peer of peers) this.inner.transport.holdReads?.(peer, holder, false);
    this.readHolds.clear();
  }

  /** The node's peer events, run (and contained) as this stack's timers are; none once it is dead. */
  watchPeers(handler: (ev: PeerEvent) => void): Unwatch {
    const inner = this.inner.watchPeers;
    if (inner === undefined || this.dead) return () => {};
    const off = inner.call(this.inner, (ev) => this.run(() => handler(ev)));
    this.unwatches.add(off);
    return () => {
      this.unwatches.delete(off);
      off();
    };
  }

  now(): number {
    return this.inner.now();
  }

  setTimer(ms: number, fn: () => void): Timer {
    return this.inner.setTimer(ms, () => this.run(fn));
  }

  defer(fn: () => void): void {
    this.inner.defer(() => this.run(fn));
  }

  private run(fn: () => void): void {
    if (this.dead) return;
    try {
      fn();
    } catch (err) {
      this.onFault(err);
    }
  }
}
