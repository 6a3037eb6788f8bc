import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** Seeded randomness handed to protocol code; never Math.random. */
export interface Rng {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform integer in [lo, hi], both included. */
  int(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** An independent stream derived from this one and a label (per node, per link). */
  fork(label: string): Rng;
}

function hashLabel(label: string): number {
  // FNV-1a 32-bit: stable across runs and platforms.
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

export class SeededRng implements Rng {
  private readonly gen: RandomGenerator;
  constructor(readonly seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }
  float(): number {
    return uniformFloat64(this.gen);
  }
  int(lo: number, hi: number): number {
    return uniformInt(this.gen, lo, hi);
  }
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }
  fork(label: string): Rng {
    return new SeededRng((this.gen.next() ^ hashLabel(label)) | 0);
  }
}
