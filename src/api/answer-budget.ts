/** Peers whose budget is tracked; bounded so a flood of sources cannot grow the map. */
const MAX_TRACKED_PEERS = 1024;

/**
 * How many answers a node sends one peer: a token bucket per peer, `perSecond` tokens a second
 * and as many at most, so that a peer asking in a loop cannot make us send without bound.
 */
export class AnswerBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {}

  /** True if an answer to `peer` may go now (and counts it). */
  take(peer: string): boolean {
    const t = this.now();
    let b = this.buckets.get(peer);
    if (!b) {
      if (this.buckets.size >= MAX_TRACKED_PEERS) this.buckets.clear();
      this.buckets.set(peer, (b = { tokens: this.perSecond, at: t }));
    }
    b.tokens = Math.min(this.perSecond, b.tokens + ((t - b.at) * this.perSecond) / 1000);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }
}
