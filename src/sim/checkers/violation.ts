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
  /** Prepended to every property added from now on (see `consequencesOf`). */
  private prefix = '';
  constructor(private readonly cap = 20) {}
  /**
   * What is added from now on is a consequence of `cause` (e.g. two groups of one name: their views
   * disagree by id): report it as `cause/property`, so that it is counted apart from the rest.
   */
  consequencesOf(cause: string): void {
    this.prefix = `${cause}/`;
  }
  add(kind: string, detail: string): void {
    const property = this.prefix + kind;
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
