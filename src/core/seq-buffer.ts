import { invariant } from './errors.js';

/**
 * Items keyed by consecutive sequence numbers starting at `base`, appended in order and freed
 * from the front. O(1) append, lookup and truncation on a ring that doubles when full (no array
 * shifted or re-sliced on the hot path): the retransmission store.
 */
export class SeqBuffer<T> {
  private cap = 64;
  private items: (T | undefined)[] = new Array<T | undefined>(64).fill(undefined);
  private head = 0;
  private count = 0;
  /** Sequence number of the first item held. */
  private first: number;
  bytes = 0;
  constructor(
    firstSeq: number,
    private readonly sizeOf: (t: T) => number = () => 0,
  ) {
    this.first = firstSeq;
  }
  /** Sequence number the next append must have. */
  get nextSeq(): number {
    return this.first + this.count;
  }
  get length(): number {
    return this.count;
  }
  get firstSeq(): number {
    return this.first;
  }
  append(seq: number, item: T): void {
    if (seq !== this.first + this.count) invariant(false, `SeqBuffer append ${seq}, expected ${this.nextSeq}`);
    if (this.count === this.cap) this.grow();
    this.items[(this.head + this.count) & (this.cap - 1)] = item;
    this.count++;
    this.bytes += this.sizeOf(item);
  }
  get(seq: number): T | undefined {
    const k = seq - this.first;
    if (k < 0 || k >= this.count) return undefined;
    return this.items[(this.head + k) & (this.cap - 1)];
  }
  /** Free everything with seq <= upTo. */
  truncate(upTo: number): void {
    const mask = this.cap - 1;
    while (this.count > 0 && this.first <= upTo) {
      const it = this.items[this.head];
      if (it !== undefined) this.bytes -= this.sizeOf(it);
      this.items[this.head] = undefined;
      this.head = (this.head + 1) & mask;
      this.count--;
      this.first++;
    }
    if (this.count === 0) {
      this.head = 0;
      if (this.first <= upTo) this.first = upTo + 1;
      if (this.cap > 1 << 16) {
        // A long burst is over: give its room back.
        this.cap = 64;
        this.items = new Array<T | undefined>(64).fill(undefined);
      }
    }
  }
  private grow(): void {
    const cap = this.cap * 2;
    const items = new Array<T | undefined>(cap).fill(undefined);
    for (let k = 0; k < this.count; k++) items[k] = this.items[(this.head + k) & (this.cap - 1)];
    this.items = items;
    this.cap = cap;
    this.head = 0;
  }
}
