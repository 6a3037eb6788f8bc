import { ProtocolError } from '../core/errors.js';

/**
 * A frame that arrived in several pieces, in order (it straddled socket reads): the transport hands
 * it up as these views instead of copying it into one buffer. Readers copy only the few bytes that
 * span a cut between two pieces (a length word, one message).
 */
export type FramePieces = readonly Buffer[];

/** A frame's bytes: one buffer, or the pieces it arrived in. */
export type FrameBytes = Buffer | FramePieces;

const EMPTY = Buffer.alloc(0);

/** The same bytes as a Buffer (a view, no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A frame's first byte (its kind), or -1 for an empty frame. */
export function frameKind(frame: FrameBytes): number {
  if (Buffer.isBuffer(frame)) return frame.length > 0 ? frame[0]! : -1;
  for (let i = 0; i < frame.length; i++) if (frame[i]!.length > 0) return frame[i]![0]!;
  return -1;
}

export function frameLength(frame: FrameBytes): number {
  if (Buffer.isBuffer(frame)) return frame.length;
  let n = 0;
  for (let i = 0; i < frame.length; i++) n += frame[i]!.length;
  return n;
}

/** The frame as one buffer (copied if it is in pieces): for the rare frames nobody reads piece-wise. */
export function frameToBuffer(frame: FrameBytes): Buffer {
  return Buffer.isBuffer(frame) ? frame : Buffer.concat(frame);
}

/**
 * Bytes `start` up to `end` of the frame (clamped to its length) as one buffer: a view when they lie
 * in one piece, else a copy of just those bytes.
 */
export function frameRange(frame: FrameBytes, start: number, end: number): Buffer {
  if (Buffer.isBuffer(frame)) return frame.subarray(start, end);
  // Nearly always the first piece holds the range (a frame's head): no cursor then.
  const first = frame[0];
  if (first !== undefined && end <= first.length) return first.subarray(start, end);
  const c = new PieceCursor(frame, start);
  const n = Math.max(0, Math.min(end - start, c.remaining));
  return c.take(n);
}

/**
 * Reads across the pieces of a frame. Every read is bounded by what the pieces hold: running short
 * is a `ProtocolError('ERR_MALFORMED')`, as for the `Reader` over a contiguous frame.
 */
export class PieceCursor {
  /** The piece being read, and the position inside it. */
  index = 0;
  pos = 0;
  /** Bytes from the cursor to the end of the frame. */
  remaining: number;

  constructor(
    readonly pieces: FramePieces,
    offset: number,
  ) {
    let total = 0;
    for (let i = 0; i < pieces.length; i++) total += pieces[i]!.length;
    if (offset > total) throw new ProtocolError('ERR_MALFORMED', `offset ${offset} past the frame's ${total} bytes`);
    this.remaining = total - offset;
    this.move(offset);
  }

  /** The piece the cursor is in; past its end only when the frame is finished. */
  get piece(): Buffer {
    return this.pieces[this.index] ?? EMPTY;
  }

  /** Bytes left in the current piece. */
  get inPiece(): number {
    return this.piece.length - this.pos;
  }

  /** Steps over pieces the cursor has read to the end. */
  private settle(): void {
    const pieces = this.pieces;
    while (this.index < pieces.length && this.pos >= pieces[this.index]!.length) {
      this.pos -= pieces[this.index]!.length;
      this.index++;
    }
  }

  private need(n: number): void {
    if (n > this.remaining) throw new ProtocolError('ERR_MALFORMED', `truncated: need ${n} bytes, have ${this.remaining}`);
  }

  private move(n: number): void {
    this.pos += n;
    this.settle();
  }

  /** Steps over `n` bytes (the caller has checked that the frame holds them). */
  advance(n: number): void {
    this.need(n);
    this.remaining -= n;
    this.move(n);
  }

  u8(): number {
    this.need(1);
    const v = this.piece[this.pos]!;
    this.remaining--;
    this.move(1);
    return v;
  }

  u32(): number {
    this.need(4);
    const p = this.piece;
    const at = this.pos;
    if (p.length - at >= 4) {
      const v = ((p[at]! << 24) | (p[at + 1]! << 16) | (p[at + 2]! << 8) | p[at + 3]!) >>> 0;
      this.remaining -= 4;
      this.move(4);
      return v;
    }
    return ((this.u8() << 24) | (this.u8() << 16) | (this.u8() << 8) | this.u8()) >>> 0;
  }

  /** The next `n` bytes: a view when they lie in the current piece, else a copy of them. */
  take(n: number): Buffer {
    this.need(n);
    if (n === 0) return EMPTY;
    const p = this.piece;
    const at = this.pos;
    let out: Buffer;
    if (p.length - at >= n) {
      out = p.subarray(at, at + n);
      this.remaining -= n;
      this.move(n);
      return out;
    }
    out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const q = this.piece;
      const k = Math.min(q.length - this.pos, n - filled);
      q.copy(out, filled, this.pos, this.pos + k);
      filled += k;
      this.remaining -= k;
      this.move(k);
    }
    return out;
  }
}
