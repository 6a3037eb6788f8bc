import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Env, PeerEvent, Timer, Transport, Unwatch } from '../core/env.js';
import type { Logger } from '../core/logger.js';
import { SeededRng, type Rng } from '../core/rng.js';
import { alignedEvery } from './aligned-ticks.js';

/** A Node timeout as a Timer: an object with a method, not a closure per timer (timers are set per message). */
class NodeTimer implements Timer {
  constructor(private readonly t: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.t);
  }
}

/** The Env of a real process: Node's clock and timers, crypto-seeded randomness, a real transport. */
export class RealEnv implements Env {
  readonly rng: Rng = new SeededRng(randomInt(0, 2 ** 31));
  constructor(
    readonly transport: Transport,
    readonly log: Logger,
  ) {}
  now(): number {
    return performance.now();
  }
  setTimer(ms: number, fn: () => void): Timer {
    return new NodeTimer(setTimeout(fn, ms));
  }
  every(ms: number, fn: () => void): Timer {
    return alignedEvery(ms, fn);
  }
  defer(fn: () => void): void {
    setImmediate(fn);
  }
  randomBytes(n: number): Uint8Array {
    return randomBytes(n);
  }
  watchPeers(handler: (ev: PeerEvent) => void): Unwatch {
    return this.transport.watchPeers?.(handler) ?? (() => {});
  }
}
