/**
 * The seed's trading example: a replicated ledger of currency holdings. Buy orders travel by
 * abcast, so every replica applies them in the same order and makes the same decision; the rule
 * "never more than 20% of the portfolio in one currency" is checked at delivery, deterministically.
 */
export interface BuyOrder {
  trader: string;
  currency: string;
  /** Amount in the base currency (cash spent). */
  amount: number;
}

export interface LedgerSnapshot {
  cash: number;
  holdings: [string, number][];
  applied: number;
  rejected: number;
}

export const MAX_SHARE = 0.2;

export class Ledger {
  cash: number;
  readonly holdings = new Map<string, number>();
  applied = 0;
  rejected = 0;
  constructor(initialCash = 1_000_000) {
    this.cash = initialCash;
  }

  get total(): number {
    let t = this.cash;
    for (const v of this.holdings.values()) t += v;
    return t;
  }

  /** Apply one order as delivered; returns whether it was accepted. */
  apply(o: BuyOrder): boolean {
    const after = (this.holdings.get(o.currency) ?? 0) + o.amount;
    if (o.amount <= 0 || o.amount > this.cash || after > MAX_SHARE * this.total) {
      this.rejected++;
      return false;
    }
    this.cash -= o.amount;
    this.holdings.set(o.currency, after);
    this.applied++;
    return true;
  }

  /** The rule, as every replica must see it hold after every delivery. */
  ruleHolds(): boolean {
    const total = this.total;
    for (const v of this.holdings.values()) if (v > MAX_SHARE * total + 1e-9) return false;
    return true;
  }

  snapshot(): LedgerSnapshot {
    return { cash: this.cash, holdings: [...this.holdings].sort(([a], [b]) => a.localeCompare(b)), applied: this.applied, rejected: this.rejected };
  }

  restore(s: LedgerSnapshot): void {
    this.cash = s.cash;
    this.holdings.clear();
    for (const [c, v] of s.holdings) this.holdings.set(c, v);
    this.applied = s.applied;
    this.rejected = s.rejected;
  }

  digest(): string {
    return JSON.stringify(this.snapshot());
  }
}
