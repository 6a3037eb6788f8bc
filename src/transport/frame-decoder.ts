import { ProtocolError } from '../core/errors.js';

/** Bytes of the big-endian u32 length in front of every frame on a stream. */
export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;
/**
 * Length words from here up are not lengths but transport control words (a ping, a pong) with no body:
 * `CONTROL_WORD_BASE + code`. No frame is that large, so they cannot be mistaken for one.
 */
export const CONTROL_WORD_BASE = 0xffff_ff00;
/** The u32 length field cannot say more than this (the words above are control words). */
export const MAX_ENCODABLE_FRAME_SIZE = CONTROL_WORD_BASE - 1;

export type FrameCallback = (frame: Buffer) => void;
/** Receives a frame that straddled chunks as its pieces (views of the chunks, in order; `length` bytes together). */
export type PiecesCallback = (pieces: Buffer[], length: number) => void;
/** Receives the code of a control word; may throw a `ProtocolError` for one it does not expect. */
export type ControlCallback = (code: number) => void;

/** The 4 bytes of control word `code` on a stream. */
export function encodeControlWord(code: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt32BE(CONTROL_WORD_BASE + (code & 0xff), 0);
  return b;
}

/**
 * Incremental decoder for a stream of `u32be length | bytes` frames.
 *
 * Frames that lie wholly inside one pushed chunk are delivered as zero-copy views of that chunk (the
 * chunk must not be reused by the caller, which holds for socket reads). A frame that straddles
 * chunks is kept as views of its pieces until its last byte arrives (a peer that announces a large
 * length without sending it costs no allocation); then it goes to `onPieces` as those views, if set,
 * else it is copied, once, into one buffer for `onFrame`.
 *
 * A length word of `CONTROL_WORD_BASE` or more is a bodiless control word, handed to `onControl` once
 * that is set; until then it is just an oversized length.
 *
 * Any throw from `push` (an oversized length, or an exception from the callback) leaves the decoder
 * failed: the stream position is lost, so later pushes throw `ProtocolError('ERR_PROTOCOL')`.
 */
export class FrameDecoder {
  /** Mutable so a connection can use a small limit until its handshake is done. */
  maxFrameSize: number;
  /** Control words are accepted only once this is set (after the handshake); before, they are oversized lengths. */
  onControl: ControlCallback | null = null;
  /** Takes frames that straddled chunks, as their pieces; when null they are gathered for `onFrame`. */
  onPieces: PiecesCallback | null = null;
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** Body length of the frame being assembled, or -1 while reading a header. */
  private need = -1;
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private closed = false;
  private failure: unknown = null;

  constructor(
    private readonly onFrame: FrameCallback,
    maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE,
  ) {
    this.maxFrameSize = maxFrameSize;
  }

  /** Bytes received but not yet delivered (a partial header or body). */
  get bufferedBytes(): number {
    return this.need < 0 ? this.headerFill : FRAME_HEADER_BYTES + this.partsBytes;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** Stop for good: drops buffered bytes; a push in progress delivers no further frame. */
  close(): void {
    this.closed = true;
    this.parts = [];
    this.partsBytes = 0;
  }

  push(chunk: Buffer): void {
    if (this.failure !== null) {
      throw new ProtocolError('ERR_PROTOCOL', 'frame decoder used after a failure', { cause: this.failure });
    }
    if (this.closed) return;
    try {
      this.decode(chunk);
    } catch (err) {
      this.failure = err;
      this.close();
      throw err;
    }
  }

  private decode(chunk: Buffer): void {
    const len = chunk.length;
    let off = 0;

    // Finish a header split across chunks.
    if (this.headerFill > 0) {
      while (this.headerFill < FRAME_HEADER_BYTES && off < len) this.header[this.headerFill++] = chunk[off++]!;
      if (this.headerFill < FRAME_HEADER_BYTES) return;
      this.headerFill = 0;
      const n = this.header.readUInt32BE(0);
      if (n > this.maxFrameSize) this.control(n);
      else this.need = n;
    }

    // Finish a body split across chunks.
    if (this.need >= 0) {
      const want = this.need - this.partsBytes;
      const take = want < len - off ? want : len - off;
      if (this.partsBytes === 0 && take === this.need) {
        this.need = -1;
        this.onFrame(chunk.subarray(off, off + take));
      } else {
        if (take > 0) this.parts.push(chunk.subarray(off, off + take));
        this.partsBytes += take;
        if (this.partsBytes < this.need) return;
        const parts = this.parts;
        const need = this.need;
        this.parts = [];
        this.partsBytes = 0;
        this.need = -1;
        if (this.onPieces !== null) this.onPieces(parts, need);
        else this.onFrame(Buffer.concat(parts, need));
      }
      off += take;
    }

    // Hot loop: whole frames inside this chunk are delivered as views.
    while (off + FRAME_HEADER_BYTES <= len) {
      if (this.closed) return;
      const n = ((chunk[off]! << 24) | (chunk[off + 1]! << 16) | (chunk[off + 2]! << 8) | chunk[off + 3]!) >>> 0;
      const start = off + FRAME_HEADER_BYTES;
      if (n > this.maxFrameSize) {
        this.control(n);
        off = start;
        continue;
      }
      const end = start + n;
      if (end > len) {
        this.need = n;
        this.partsBytes = len - start;
        if (this.partsBytes > 0) this.parts.push(chunk.subarray(start));
        return;
      }
      off = end;
      this.onFrame(chunk.subarray(start, end));
    }
    if (this.closed) return;

    // A header cut short by the end of the chunk.
    while (off < len) this.header[this.headerFill++] = chunk[off++]!;
  }

  /** A length word over the limit: a control word if those are accepted now, else an error. */
  private control(n: number): void {
    if (n >= CONTROL_WORD_BASE && this.onControl !== null) {
      this.onControl(n - CONTROL_WORD_BASE);
      return;
    }
    throw new ProtocolError('ERR_FRAME_TOO_LARGE', `frame length ${n} exceeds the limit of ${this.maxFrameSize} bytes`);
  }
}

/** Length-prefix `frames` into one buffer (tests and tools; the transport batches in place). */
export function encodeFrames(frames: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const f of frames) total += FRAME_HEADER_BYTES + f.length;
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const f of frames) {
    out.writeUInt32BE(f.length, off);
    out.set(f, off + FRAME_HEADER_BYTES);
    off += FRAME_HEADER_BYTES + f.length;
  }
  return out;
}
