import type { NodeId } from './node-id.js';
import type { Reader } from '../codec/reader.js';
import type { Writer } from '../codec/writer.js';
import { invariant } from './errors.js';

/** How one layer's header is written and read. Ids are unique per stack; see header-registry.ts. */
export interface HeaderType<T> {
  readonly id: number;
  readonly name: string;
  /** `msg`: the message the header is on (absent when a layer encodes headers apart from their message). */
  encode(w: Writer, h: T, msg?: Message): void;
  /**
   * `msg`: the message being decoded (its payload and headers are not set yet), where a header may
   * put what every message has a field for (NAK's sequence number: `Message.seq`) instead of a
   * record of its own; absent when a layer decodes headers apart from their message.
   */
  decode(r: Reader, msg?: Message): T;
}

/** Message flags carried on the wire. */
export const enum MsgFlag {
  /** Sent to the whole view rather than one member. */
  Multicast = 1,
  /** Not sequenced by NAK: may be lost (gossip, credits, heartbeats). */
  Unreliable = 2,
  /**
   * A causal multicast whose sender delivered nothing new since its previous causal one: no
   * dependency to name, so it carries this bit instead of a CAUSAL header (nearly every cbcast under
   * load; the header's encoding, decoding and two bytes a message were 3-5% of a cbcast's CPU).
   */
  Causal = 4,
}

/**
 * A message travelling through a stack: a payload plus a stack of headers, one per layer that
 * added one. Going down, layers push; going up, each layer pops its own (if the top is its own).
 */
/** Delivery order a message asks for, as the ordering layers read it (in memory, not on the wire). */
export const enum OrderCode {
  Fifo = 0,
  Causal = 1,
  Total = 2,
  Group = 3,
}

const BIT_SAFE = 1;
const BIT_TYPES_SHARED = 2;
/** The wire flags (MsgFlag: three bits). */
const FLAGS_SHIFT = 2;
const FLAGS_MASK = 7;
/** `keptTop + 1` (0 = not kept; a top is at most MAX_HEADERS, 32). */
const KEPT_SHIFT = 5;
const KEPT_MASK = 63;
/** `order` is kept as it was given (even a code no layer knows): the bits from here up, signed. */
const ORDER_SHIFT = 11;
/** Every field of `bits` below `order`. */
const LOW_BITS = (1 << ORDER_SHIFT) - 1;

/** Header slots a new message starts with (APP, TOTAL, CAUSAL, SAFE, NAK and one more); more grow the arrays. */
const HEADER_SLOTS = 6;

/**
 * A packed field's value that does not fit its bits (an invariant). Apart from the setters: a closure
 * there that names the value would make a context object on every call, even when nothing fails.
 */
function outOfRange(what: string, v: number): void {
  invariant(false, () => `${what} ${v} out of range`);
}

export class Message {
  src: NodeId = '';
  /**
   * The header stack as two parallel arrays (type, value) and a top index: no object per header,
   * and popping leaves the entries in place, so a layer that keeps a message (NAK, for
   * retransmission) can remember its top and rebuild the message later without copying it now.
   */
  htypes: HeaderType<unknown>[];
  hvalues: unknown[];
  htop: number;
  /**
   * `safe` (bit 0), `typesShared` (bit 1), `flags` (bits 2–3), `keptTop + 1` (bits 4–9) and `order`
   * (from bit 10 on) in one small integer: a message is made at the message rate on both sides, and
   * each field is 8 bytes of it.
   */
  private bits = 0;
  /** The reliability layer's sequence number for this message in its view (set on delivery). */
  seq = 0;
  /**
   * Where this message's encoding sits in the frame it arrived in (null when it did not arrive in
   * one, or once a layer changed it): a keeper can hold these bytes instead of this object.
   */
  wire: Buffer | null = null;
  wireStart = 0;
  wireEnd = 0;
  constructor(
    /** null means the whole current view. */
    public dest: NodeId | null,
    public payload: Buffer,
    flags = dest === null ? MsgFlag.Multicast : 0,
    htypes?: HeaderType<unknown>[],
    hvalues?: unknown[],
  ) {
    this.flags = flags;
    // Room for the headers of a full stack up front: an empty array's first push reserves 16 slots
    // each, and messages are made at the message rate.
    this.htypes = htypes ?? new Array<HeaderType<unknown>>(HEADER_SLOTS);
    this.hvalues = hvalues ?? new Array<unknown>(HEADER_SLOTS);
    this.htop = htypes?.length ?? 0;
  }

  /**
   * `htypes` is shared with other messages (messages decoded from the wire with the same header
   * types share one array): `push` copies it before writing. Nothing else writes into `htypes`.
   */
  get typesShared(): boolean {
    return (this.bits & BIT_TYPES_SHARED) !== 0;
  }
  set typesShared(v: boolean) {
    this.bits = v ? this.bits | BIT_TYPES_SHARED : this.bits & ~BIT_TYPES_SHARED;
  }

  /** Set by the sender's group for the ordering layers; never sent (those layers push their own headers). */
  get order(): OrderCode {
    return (this.bits >> ORDER_SHIFT) as OrderCode;
  }
  set order(v: OrderCode) {
    this.bits = (this.bits & LOW_BITS) | (v << ORDER_SHIFT);
  }

  /** Wire flags (MsgFlag). */
  get flags(): number {
    return (this.bits >> FLAGS_SHIFT) & FLAGS_MASK;
  }
  set flags(v: number) {
    if ((v & ~FLAGS_MASK) !== 0) outOfRange('message flags', v);
    this.bits = (this.bits & ~(FLAGS_MASK << FLAGS_SHIFT)) | (v << FLAGS_SHIFT);
  }

  /** The top a keeping layer saw when it kept this message (see cloneAt); -1 when not kept. */
  get keptTop(): number {
    return ((this.bits >> KEPT_SHIFT) & KEPT_MASK) - 1;
  }
  set keptTop(v: number) {
    if (v < -1 || v >= KEPT_MASK) outOfRange('kept top', v);
    this.bits = (this.bits & ~(KEPT_MASK << KEPT_SHIFT)) | ((v + 1) << KEPT_SHIFT);
  }

  /** Deliver only once every member holds it (the SAFE layer holds it until STABLE says so). */
  get safe(): boolean {
    return (this.bits & BIT_SAFE) !== 0;
  }
  set safe(v: boolean) {
    this.bits = v ? this.bits | BIT_SAFE : this.bits & ~BIT_SAFE;
  }

  get isMulticast(): boolean {
    return (this.flags & MsgFlag.Multicast) !== 0;
  }

  get headerCount(): number {
    return this.htop;
  }

  push<T>(type: HeaderType<T>, value: T): void {
    const i = this.htop++;
    if (this.typesShared) {
      // The shared array already names this type here (a message that went through the same layers): nothing to write.
      if (this.htypes[i] === type) {
        this.hvalues[i] = value;
        return;
      }
      this.htypes = this.htypes.slice(0, i);
      this.typesShared = false;
    }
    this.htypes[i] = type as HeaderType<unknown>;
    this.hvalues[i] = value;
  }

  /**
   * A message to send whose header types start out as `types`, another message's (shared, never
   * written: see typesShared), with no header yet. Sends that go through the same layers push the
   * same types in the same order: each push that matches writes only its value, so such a send makes
   * one header array instead of two. `slots`: the room for header values (the count such a send pushes; more grow the array).
   */
  static sharingTypes(dest: NodeId | null, payload: Buffer, types: HeaderType<unknown>[], slots = HEADER_SLOTS): Message {
    const m = new Message(dest, payload, dest === null ? MsgFlag.Multicast : 0, types, new Array<unknown>(slots));
    m.htop = 0;
    m.typesShared = true;
    return m;
  }

  /** The top header if it is of this type, else undefined. */
  peek<T>(type: HeaderType<T>): T | undefined {
    const n = this.htop;
    return n > 0 && this.htypes[n - 1] === type ? (this.hvalues[n - 1] as T) : undefined;
  }

  /** Remove and return the top header if it is of this type, else undefined (nothing removed). */
  pop<T>(type: HeaderType<T>): T | undefined {
    const n = this.htop;
    if (n === 0 || this.htypes[n - 1] !== type) return undefined;
    this.htop = n - 1;
    return this.hvalues[n - 1] as T;
  }

  /** Drop the top header, whatever it is. */
  dropTop(): void {
    if (this.htop > 0) this.htop--;
  }

  /** Pop a header that must be there. */
  take<T>(type: HeaderType<T>): T {
    const v = this.pop(type);
    invariant(v !== undefined, () => `expected header ${type.name} on top, found ${this.htypes[this.htop - 1]?.name ?? 'none'}`);
    return v;
  }

  /** A copy that shares the payload and header values (both are immutable once pushed). */
  clone(): Message {
    return this.cloneAt(this.htop);
  }

  /** A copy with the header stack as it was when its top was `top` (entries below stay in place). */
  cloneAt(top: number): Message {
    const m = new Message(this.dest, this.payload, this.flags, this.htypes.slice(0, top), this.hvalues.slice(0, top));
    m.src = this.src;
    m.bits = this.bits & ~BIT_TYPES_SHARED & ~(KEPT_MASK << KEPT_SHIFT); // its types are its own; not kept
    m.seq = this.seq;
    return m;
  }

  /** Approximate bytes on the wire: for flow control and buffer accounting. */
  get size(): number {
    return this.payload.length + 8 + this.htop * 6;
  }
}
