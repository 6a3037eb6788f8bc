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

/** Peer connectivity as a transport sees it (advisory: failure detection is the FD layer's job). */
export type PeerEvent = { type: 'connected'; peer: NodeId } | { type: 'disconnected'; peer: NodeId };

/**
 * Moves opaque frames between nodes. Best effort: a frame may be lost when a connection breaks
 * (NAK repairs that). Frames from one peer arrive in the order they were sent on one connection.
 */
export interface Transport {
  /** This node's id, `host:port/incarnation`. */
  readonly localId: NodeId;
  /** `to` is a node id, or a bare `host:port` when the incarnation is not known yet (seeds). */
  send(to: string, frame: Uint8Array): void;
  onFrame(handler: FrameHandler): void;
  onPeer(handler: (ev: PeerEvent) => void): void;
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
  /** Run `fn` soon, after the current burst of work (used to batch outgoing frames). */
  defer(fn: () => void): void;
  readonly rng: Rng;
  readonly log: Logger;
  readonly transport: Transport;
}

/** A repeating timer built on one-shot timers, so both envs only need `setTimer`. */
export function every(env: Env, ms: number, fn: () => void): Timer {
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
