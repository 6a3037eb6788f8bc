import { invariant } from './errors.js';

/**
 * Encoded messages keyed by consecutive sequence numbers, each kept as a slice of the buffer it
 * arrived in (buffer, start, end) plus one small number for the keeper: a ring of parallel arrays, so
 * keeping a message allocates no object (the retransmission store of a receiver; a message object
 * kept until stable would outlive a young-generation collection, and copying survivors is what the
 * collector's time goes to). Appended in order, freed from the front, like SeqBuffer.
 */
/** What an empty store holds until its first append (never written: the first append grows first). */
const NO_BUFS: (Buffer | undefined)[] = [];
const NO_INTS = new Int32Array(0);

export class SliceStore {
  /**
   * A ring of `cap` slots (a power of two) from `head`; offsets and tags in typed arrays the collector
   * never scans. No slots until the first append: a large view has a store per sender at every
   * member (n² of them), most of which never hold anything.
   */
  private cap = 0;
  private bufs: (Buffer | undefined)[] = NO_BUFS;
  private starts = NO_INTS;
  private ends = NO_INTS;
  private tags = NO_INTS;
  private head = 0;
  private count = 0;
  private first: number;
  /** Most slices held since the ring was last empty. */
  private highWater = 0;
  /** Bytes of the slices held, plus `overhead` per slice. */
  bytes = 0;
  constructor(
    firstSeq: number,
    private readonly overhead = 32,
  ) {
    this.first = firstSeq;
  }
  get nextSeq(): number {
    return this.first + this.count;
  }
  get length(): number {
    return this.count;
  }
  get firstSeq(): number {
    return this.first;
  }
  append(seq: number, buf: Buffer, start: number, end: number, tag: number): void {
    if (seq !== this.first + this.count) invariant(false, `SliceStore append ${seq}, expected ${this.nextSeq}`);
    if (this.count === this.cap) this.grow();
    const i = (this.head + this.count) & (this.cap - 1);
    this.bufs[i] = buf;
    this.starts[i] = start;
    this.ends[i] = end;
    this.tags[i] = tag;
    this.count++;
    if (this.count > this.highWater) this.highWater = this.count;
    this.bytes += end - start + this.overhead;
  }
  private slot(seq: number): number {
    const k = seq - this.first;
    return k < 0 || k >= this.count ? -1 : (this.head + k) & (this.cap - 1);
  }
  /** The slice kept for `seq` (a view, not a copy), or undefined. */
  get(seq: number): Buffer | undefined {
    const i = this.slot(seq);
    return i < 0 ? undefined : this.bufs[i]!.subarray(this.starts[i], this.ends[i]);
  }
  /** The keeper's number stored with `seq` (-1 when none is held). */
  tag(seq: number): number {
    const i = this.slot(seq);
    return i < 0 ? -1 : this.tags[i]!;
  }
  /** Free everything with seq <= upTo. */
  truncate(upTo: number): void {
    // One block at a time (at most two: the ring wraps), not one slot at a time: under load a
    // stability round frees tens of thousands of slices at once.
    let k = Math.min(this.count, upTo - this.first + 1);
    while (k > 0) {
      const from = this.head;
      const to = Math.min(from + k, this.cap);
      let freed = (to - from) * this.overhead;
      const starts = this.starts;
      const ends = this.ends;
      for (let i = from; i < to; i++) freed += ends[i]! - starts[i]!;
      this.bytes -= freed;
      this.bufs.fill(undefined, from, to);
      this.head = to & (this.cap - 1);
      this.count -= to - from;
      this.first += to - from;
      k -= to - from;
    }
    if (this.count === 0) {
      this.head = 0;
      if (this.first <= upTo) this.first = upTo + 1;
      // A long burst is over: give its room back, but only once the ring stayed far below its size
      // since it was last empty. Under steady load a store empties at every stability round, and
      // growing back from nothing each time (doubling, with copies) cost a few % of the CPU.
      if (this.cap > 1 << 16 && this.highWater < this.cap >> 2) this.reset();
      this.highWater = 0;
    }
  }
  private reset(): void {
    this.cap = 64;
    this.bufs = new Array<Buffer | undefined>(64).fill(undefined);
    this.starts = new Int32Array(64);
    this.ends = new Int32Array(64);
    this.tags = new Int32Array(64);
  }
  private grow(): void {
    const cap = this.cap === 0 ? 64 : this.cap * 2;
    const bufs = new Array<Buffer | undefined>(cap).fill(undefined);
    const starts = new Int32Array(cap);
    const ends = new Int32Array(cap);
    const tags = new Int32Array(cap);
    // Full ring: [head, cap) then [0, head), each copied as one block.
    const tail = this.cap - this.head;
    starts.set(this.starts.subarray(this.head), 0);
    starts.set(this.starts.subarray(0, this.head), tail);
    ends.set(this.ends.subarray(this.head), 0);
    ends.set(this.ends.subarray(0, this.head), tail);
    tags.set(this.tags.subarray(this.head), 0);
    tags.set(this.tags.subarray(0, this.head), tail);
    for (let k = 0; k < this.count; k++) bufs[k] = this.bufs[(this.head + k) & (this.cap - 1)];
    this.bufs = bufs;
    this.starts = starts;
    this.ends = ends;
    this.tags = tags;
    this.cap = cap;
    this.head = 0;
  }
}
