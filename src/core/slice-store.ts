import { invariant } from './errors.js';

/**
 * Encoded messages keyed by consecutive sequence numbers, each kept as a slice of the buffer it
 * arrived in (buffer, start, end) plus one small number for the keeper: parallel arrays, so
 * keeping a message allocates no object (the retransmission store of a receiver; a message object
 * kept until stable would outlive a young-generation collection, and copying survivors is what the
 * collector's time goes to). Appended in order, freed from the front, like SeqBuffer.
 */
export class SliceStore {
  private bufs: (Buffer | undefined)[] = [];
  private starts: number[] = [];
  private ends: number[] = [];
  private tags: number[] = [];
  private head = 0;
  private first: number;
  /** Bytes of the slices held, plus `overhead` per slice. */
  bytes = 0;
  constructor(
    firstSeq: number,
    private readonly overhead = 32,
  ) {
    this.first = firstSeq;
  }
  get nextSeq(): number {
    return this.first + (this.bufs.length - this.head);
  }
  get length(): number {
    return this.bufs.length - this.head;
  }
  get firstSeq(): number {
    return this.first;
  }
  append(seq: number, buf: Buffer, start: number, end: number, tag: number): void {
    if (seq !== this.nextSeq) invariant(false, `SliceStore append ${seq}, expected ${this.nextSeq}`);
    this.bufs.push(buf);
    this.starts.push(start);
    this.ends.push(end);
    this.tags.push(tag);
    this.bytes += end - start + this.overhead;
  }
  /** The slice kept for `seq` (a view, not a copy), or undefined. */
  get(seq: number): Buffer | undefined {
    if (seq < this.first) return undefined;
    const i = this.head + (seq - this.first);
    const buf = this.bufs[i];
    return buf === undefined ? undefined : buf.subarray(this.starts[i], this.ends[i]);
  }
  /** The keeper's number stored with `seq` (-1 when none is held). */
  tag(seq: number): number {
    if (seq < this.first) return -1;
    return this.tags[this.head + (seq - this.first)] ?? -1;
  }
  /** Free everything with seq <= upTo. */
  truncate(upTo: number): void {
    while (this.first <= upTo && this.head < this.bufs.length) {
      if (this.bufs[this.head] !== undefined) this.bytes -= this.ends[this.head]! - this.starts[this.head]! + this.overhead;
      this.bufs[this.head] = undefined;
      this.head++;
      this.first++;
    }
    if (this.head === this.bufs.length) {
      this.bufs = [];
      this.starts = [];
      this.ends = [];
      this.tags = [];
      this.head = 0;
      if (this.first <= upTo) this.first = upTo + 1;
    } else if (this.head > 1024 && this.head * 2 > this.bufs.length) {
      this.bufs = this.bufs.slice(this.head);
      this.starts = this.starts.slice(this.head);
      this.ends = this.ends.slice(this.head);
      this.tags = this.tags.slice(this.head);
      this.head = 0;
    }
  }
}
