import type { Logger } from './logger.js';
import type { NodeId } from './node-id.js';
import type { Rng } from './rng.js';

export interface Timer {
  cancel(): void;
}

/** Receives frames from a transport. */
export interface FrameHandler {
  (from: NodeId, frame: Uint8Array): void;
}

/**
 * Receives a frame that arrived in pieces (it straddled the transport's reads), the pieces in order
 * and `length` bytes together, so the receiver can read it without gathering it into one buffer.
 */
export interface PiecedFrameHandler {
  (from: NodeId, pieces: readonly Buffer[], length: number): void;
}

/**
 * Peer connectivity as a transport sees it. `connected`/`disconnected` are advisory. `closed` and
 * `gone` feed fast crash detection (the FD layer decides what they mean):
 * - `closed`: the peer's end closed or reset an open connection with it. A process that dies does
 *   that, but so may a peer that merely reconnects: a hint, never proof.
 * - `gone`: the process `peer` is known not to run any more: a dial to its endpoint was refused
 *   (nothing listens on its port), or our dial there was answered by another incarnation. Only what
 *   this node's own dial saw counts: an id a stranger announces proves nothing. A process that is
 *   merely stopped (SIGSTOP) or cut off never looks gone: its port still accepts, or nothing answers.
 */
export type PeerEvent =
  | { type: 'connected'; peer: NodeId }
  | { type: 'disconnected'; peer: NodeId }
  | { type: 'closed'; peer: NodeId }
  | { type: 'gone'; peer: NodeId; why: 'refused' | 'replaced' };

/**
 * Who a peer proved to be when its connection was set up (see docs/security.md). `pki`: it holds the
 * private key of a certificate our trust anchors accept, and that certificate allows the node id it
 * claims. `psk`: it knows the cluster's shared secret, so it may be any node that does. `sim`: the
 * simulator's identity for a node of the world (an intruder has none).
 */
export interface PeerIdentity {
  readonly mode: 'pki' | 'psk' | 'sim';
  /** The certificate's subject (pki), else the node id it claimed. */
  readonly name: string;
  /** Base64 of its raw Ed25519 public key (pki; sim: a key drawn from the seed), else null. */
  readonly publicKey: string | null;
  /** The certificate's serial (pki), else null. */
  readonly serial: string | null;
}

/** Unsubscribes a handler. */
export type Unwatch = () => void;

/**
 * Moves opaque frames between nodes. Best effort: a frame may be lost when a connection breaks
 * (NAK repairs that). Frames from one peer arrive in the order they were sent on one connection.
 */
export interface Transport {
  /** This node's id, `host:port/incarnation`. */
  readonly localId: NodeId;
  /**
   * `to` is a node id, or a bare `host:port` when the incarnation is not known yet (seeds).
   * `owned`: the caller gives the bytes away and never changes them again (the same frame may go to
   * several peers), so the transport may send them by reference instead of copying them; without
   * it, the frame is the caller's again once `send` returns.
   */
  send(to: string, frame: Uint8Array, owned?: boolean): void;
  onFrame(handler: FrameHandler): void;
  /**
   * Frames that arrived in pieces go to `handler` as their pieces instead of gathered and given to
   * the frame handler. Optional: a transport without it (or with no handler set) gathers them.
   */
  onPiecedFrame?(handler: PiecedFrameHandler): void;
  onPeer(handler: (ev: PeerEvent) => void): void;
  /**
   * Any number of further subscribers to the peer events (the node's `onPeer` handler stays its
   * own). Optional: a transport that reports no peer events has none.
   */
  watchPeers?(handler: (ev: PeerEvent) => void): Unwatch;
  /**
   * The identity `node` proved on a connection with this node that is open now, or null: none open,
   * or not authenticated (security 'off'). Optional: a transport without it authenticates no one.
   */
  peerIdentity?(node: NodeId): PeerIdentity | null;
  /**
   * `holder` asks (`hold` true) that no more be read from `peer` for now, or withdraws that (false):
   * a layer that holds a sender's messages until what they depend on comes from others (CAUSAL)
   * gets those others' frames first, and the held sender's wait in its socket, not in the heap.
   * Advice only: frames already read are still delivered, and a transport may read the peer anyway
   * (the TCP one pauses it at most `maxReadHoldMs` at a stretch, so nothing waits on a hold for
   * ever). Optional: a transport without it reads every peer as it comes.
   */
  holdReads?(peer: NodeId, holder: object, hold: boolean): void;
  /** The largest frame this transport carries. */
  readonly maxFrameSize: number;
  close(): Promise<void>;
}

/**
 * Everything protocol code may use from the outside world. The real Env wraps Node; the simulated
 * one wraps a discrete-event scheduler, so a seed replays a run exactly.
 */
export interface Env {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimer(ms: number, fn: () => void): Timer;
  /**
   * Run `fn` every `ms` ms (use `every` below, which falls back on setTimer). Optional: the real Env
   * runs all periodic timers of one period in one wake-up (src/transport/aligned-ticks.ts); the
   * simulator has none, so its timers keep their phases and a seed replays as before.
   */
  every?(ms: number, fn: () => void): Timer;
  /** Run `fn` soon, after the current burst of work (used to batch outgoing frames). */
  defer(fn: () => void): void;
  readonly rng: Rng;
  readonly log: Logger;
  readonly transport: Transport;
  /**
   * The transport's peer events, for protocol code (the FD layer's fast crash detection): called
   * as the process's other work is (held while it is paused), never after the stack is gone.
   * Optional: without it, failure detection relies on heartbeats alone.
   */
  watchPeers?(handler: (ev: PeerEvent) => void): Unwatch;
  /**
   * `n` random bytes for key material (group keys, key-agreement key pairs, nonces): the real Env
   * draws them from the OS, the simulated one from its seeded stream, so a seed replays exactly.
   * Optional: without it, protocol code falls back to `rng` (see src/security/group-key.ts).
   */
  randomBytes?(n: number): Uint8Array;
}

/** A repeating timer built on one-shot timers, so both envs only need `setTimer`. */
export function every(env: Env, ms: number, fn: () => void): Timer {
  if (env.every) return env.every(ms, fn);
  let current: Timer | null = null;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    current = env.setTimer(ms, tick);
    fn();
  };
  current = env.setTimer(ms, tick);
  return {
    cancel() {
      stopped = true;
      current?.cancel();
    },
  };
}
