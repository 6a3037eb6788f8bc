/** One broken promise found in a history. */
export interface Violation {
  /** Which promise: 'integrity', 'fifo', 'loss', 'view-agreement', ... */
  readonly property: string;
  readonly detail: string;
}

/** Caps how many violations of one kind are reported (a broken run can produce millions). */
export class ViolationList {
  readonly items: Violation[] = [];
  private readonly perProperty = new Map<string, number>();
  constructor(private readonly cap = 20) {}
  add(property: string, detail: string): void {
    const n = this.perProperty.get(property) ?? 0;
    this.perProperty.set(property, n + 1);
    if (n < this.cap) this.items.push({ property, detail });
  }
  get total(): number {
    let t = 0;
    for (const n of this.perProperty.values()) t += n;
    return t;
  }
}
