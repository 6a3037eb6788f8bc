import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Env, PeerEvent, Timer, Transport, Unwatch } from '../core/env.js';
import type { Logger } from '../core/logger.js';
import { SeededRng, type Rng } from '../core/rng.js';

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
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
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
