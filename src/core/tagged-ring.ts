/**
 * A FIFO of items, each with a number beside it (a stamp, a flag), on a ring that doubles when
 * full: O(1) push and shift, no record object per item, and no array regrown from empty or
 * re-sliced while a steady flow passes through (a queue that empties and refills at the message
 * rate keeps its room). It never shrinks: its owner drops it (at a view change) to give memory back.
 */
export class TaggedRing<T> {
  private items: (T | undefined)[];
  private tags: Float64Array;
  private mask: number;
  private head = 0;
  private n = 0;

  /** No room until the first push (an idle queue costs two empty arrays). */
  constructor() {
    this.items = [];
    this.tags = NO_TAGS;
    this.mask = -1;
  }

  get length(): number {
    return this.n;
  }

  push(item: T, tag: number): void {
    if (this.n > this.mask) this.grow();
    const i = (this.head + this.n) & this.mask;
    this.items[i] = item;
    this.tags[i] = tag;
    this.n++;
  }

  /** The oldest item, or undefined when empty. */
  peek(): T | undefined {
    return this.n === 0 ? undefined : this.items[this.head];
  }

  /** The oldest item's number (NaN when empty). */
  peekTag(): number {
    return this.n === 0 ? NaN : this.tags[this.head]!;
  }

  /** Removes and returns the oldest item (undefined when empty). */
  shift(): T | undefined {
    if (this.n === 0) return undefined;
    const h = this.head;
    const x = this.items[h];
    this.items[h] = undefined;
    this.head = (h + 1) & this.mask;
    this.n--;
    return x;
  }

  /** Every item with its number, oldest first. */
  forEach(fn: (item: T, tag: number) => void): void {
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & this.mask;
      fn(this.items[i]!, this.tags[i]!);
    }
  }

  private grow(): void {
    const cap = Math.max(16, (this.mask + 1) * 2);
    const items = new Array<T | undefined>(cap).fill(undefined);
    const tags = new Float64Array(cap);
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & this.mask;
      items[k] = this.items[i];
      tags[k] = this.tags[i]!;
    }
    this.items = items;
    this.tags = tags;
    this.mask = cap - 1;
    this.head = 0;
  }
}

const NO_TAGS = new Float64Array(0);
