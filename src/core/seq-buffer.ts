import { invariant } from './errors.js';

/**
 * Items keyed by consecutive sequence numbers starting at `base`, appended in order and freed
 * from the front. O(1) append, lookup and amortised truncation: the retransmission store.
 */
export class SeqBuffer<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
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
    return this.first + (this.items.length - this.head);
  }
  get length(): number {
    return this.items.length - this.head;
  }
  get firstSeq(): number {
    return this.first;
  }
  append(seq: number, item: T): void {
    if (seq !== this.nextSeq) invariant(false, `SeqBuffer append ${seq}, expected ${this.nextSeq}`);
    this.items.push(item);
    this.bytes += this.sizeOf(item);
  }
  get(seq: number): T | undefined {
    if (seq < this.first) return undefined;
    return this.items[this.head + (seq - this.first)];
  }
  /** Free everything with seq <= upTo. */
  truncate(upTo: number): void {
    while (this.first <= upTo && this.head < this.items.length) {
      const it = this.items[this.head];
      if (it !== undefined) this.bytes -= this.sizeOf(it);
      this.items[this.head] = undefined;
      this.head++;
      this.first++;
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      if (this.first <= upTo) this.first = upTo + 1;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
