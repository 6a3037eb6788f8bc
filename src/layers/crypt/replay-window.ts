/**
 * Which counters of one sender were seen, in a sliding window below the highest (as IPsec and DTLS
 * do): a counter seen before, or older than the window, is a replay or too late to tell.
 */
export class ReplayWindow {
  private highest = 0;
  /** Bit i: counter highest - i was seen. */
  private readonly bits: Uint8Array;
  constructor(private readonly size: number) {
    this.bits = new Uint8Array(Math.ceil(size / 8));
  }

  /** True if `c` may be new (not seen, not too old). Counters start at 1. */
  fresh(c: number): boolean {
    if (c < 1) return false;
    if (c > this.highest) return true;
    const age = this.highest - c;
    if (age >= this.size) return false;
    return (this.bits[age >> 3]! & (1 << (age & 7))) === 0;
  }

  /** Note `c` as seen (after it authenticated). */
  mark(c: number): void {
    if (c > this.highest) {
      this.shift(c - this.highest);
      this.highest = c;
    }
    const age = this.highest - c;
    if (age < this.size) this.bits[age >> 3]! |= 1 << (age & 7);
  }

  private shift(by: number): void {
    if (by >= this.size) {
      this.bits.fill(0);
      return;
    }
    // Bit i moves to bit i + by: walk from the top down.
    for (let i = this.size - 1; i >= 0; i--) {
      const from = i - by;
      const on = from >= 0 && (this.bits[from >> 3]! & (1 << (from & 7))) !== 0;
      if (on) this.bits[i >> 3]! |= 1 << (i & 7);
      else this.bits[i >> 3]! &= ~(1 << (i & 7));
    }
  }
}
