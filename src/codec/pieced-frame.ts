import { ProtocolError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { MAX_FRAME_HEAD_BYTES, MAX_MESSAGES_PER_FRAME, decodeOrReport, frameMessageRoom, readFrameMessages } from './frame.js';
import { Reader } from './reader.js';

/**
 * A group frame that reached the transport in pieces (it straddled socket reads), read where it lies
 * instead of gathered into one buffer first: gathering a 60 KB frame cost a copy of every byte into
 * fresh memory (~6% of a member's CPU at 1 KiB messages). Each message that lies inside one piece is
 * decoded as views of that piece, as in a whole frame; only a message that spans two pieces is copied.
 *
 * The head piece holds at least `MAX_FRAME_HEAD_BYTES`, so the frame's kind, group name, membership
 * and count are read from it alone (a frame cut inside its head is gathered instead: see canReadPieced).
 */
export class PiecedFrame {
  constructor(
    /** In order; together exactly `length` bytes. */
    readonly pieces: readonly Buffer[],
    readonly length: number,
  ) {}

  get head(): Buffer {
    return this.pieces[0]!;
  }
}

/** Whether a frame that came in `pieces` can be read as a PiecedFrame (else gather it). */
export function canReadPieced(pieces: readonly Buffer[], length: number): boolean {
  return pieces.length > 0 && pieces[0]!.length >= Math.min(MAX_FRAME_HEAD_BYTES, length);
}

/**
 * A frame's bytes: whole, or in pieces. The group routing and COM read either; nothing else sees a
 * PiecedFrame.
 */
export type FrameBytes = Buffer | PiecedFrame;

/** Moves through the pieces; `pos` is in the current piece `buf`, `left` counts what remains of the frame. */
class PieceCursor {
  private i = 0;
  buf: Buffer;
  /** Reads the current piece (decodeMessage reads views from it). */
  reader: Reader;
  pos: number;
  left: number;
  constructor(
    private readonly pieces: readonly Buffer[],
    offset: number,
    length: number,
  ) {
    this.buf = pieces[0]!;
    this.reader = new Reader(this.buf);
    this.pos = offset;
    this.left = length - offset;
  }

  /** Step into the next piece while this one is used up. */
  private settle(): void {
    while (this.pos === this.buf.length && this.i + 1 < this.pieces.length) {
      this.buf = this.pieces[++this.i]!;
      this.reader = new Reader(this.buf);
      this.pos = 0;
    }
  }

  u32(): number {
    const b = this.buf;
    const p = this.pos;
    if (p + 4 <= b.length) {
      this.pos = p + 4;
      this.left -= 4;
      return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    }
    if (this.left < 4) throw new ProtocolError('ERR_MALFORMED', `truncated: need 4 bytes, have ${this.left}`);
    return this.gather(4).readUInt32BE(0);
  }

  /** Whether the next `n` bytes lie in the current piece (stepping past a used-up one). */
  inPiece(n: number): boolean {
    if (this.pos + n <= this.buf.length) return true;
    this.settle();
    return this.pos + n <= this.buf.length;
  }

  /** Skip `n` bytes of the current piece (after inPiece said they are in it). */
  skip(n: number): void {
    this.pos += n;
    this.left -= n;
  }

  /** A copy of the next `n` bytes, which span pieces (n ≤ left). */
  gather(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      this.settle();
      const take = Math.min(n - filled, this.buf.length - this.pos);
      this.buf.copy(out, filled, this.pos, this.pos + take);
      this.pos += take;
      filled += take;
    }
    this.left -= n;
    return out;
  }
}

/**
 * readFrameMessages for a PiecedFrame: the same checks (the count, a length that overruns the frame,
 * trailing bytes: thrown; one malformed message: `onBad`, skipped) and the same messages.
 */
export function readPiecedFrameMessages(
  frame: PiecedFrame,
  offset: number,
  each: (msg: Message) => void,
  onBad?: (err: ProtocolError, index: number) => void,
): void {
  const c = new PieceCursor(frame.pieces, offset, frame.length);
  if (c.left < 4) throw new ProtocolError('ERR_MALFORMED', 'truncated frame: no message count');
  const count = c.u32();
  if (count > MAX_MESSAGES_PER_FRAME) throw new ProtocolError('ERR_MALFORMED', `frame claims ${count} messages`);
  for (let i = 0; i < count; i++) {
    const len = c.u32();
    if (len > c.left) throw new ProtocolError('ERR_MALFORMED', `message ${i} length ${len} overruns the frame`);
    let r: Reader;
    let end: number;
    if (c.inPiece(len)) {
      r = c.reader;
      r.pos = c.pos;
      end = c.pos + len;
      c.skip(len);
    } else {
      r = new Reader(c.gather(len));
      end = len;
    }
    const msg = decodeOrReport(r, end, i, onBad);
    if (msg !== null) each(msg);
  }
  if (c.left !== 0) throw new ProtocolError('ERR_MALFORMED', `${c.left} trailing bytes after ${count} messages`);
}

/** frameMessageRoom for a PiecedFrame (its count lies in the head piece). */
export function piecedMessageRoom(frame: PiecedFrame, offset: number): number {
  const head = frame.head;
  if (offset + 4 > head.length) throw new ProtocolError('ERR_MALFORMED', 'truncated frame: no message count');
  return Math.min(head.readUInt32BE(offset), Math.floor((frame.length - offset - 4) / 6));
}

/** The buffer that holds a frame's head: the frame itself, or its first piece. */
export function headOf(frame: FrameBytes): Buffer {
  return frame instanceof PiecedFrame ? frame.head : frame;
}

/** frameMessageRoom of a frame whole or in pieces. */
export function messageRoomOf(frame: FrameBytes, offset: number): number {
  return frame instanceof PiecedFrame ? piecedMessageRoom(frame, offset) : frameMessageRoom(frame, offset);
}

/** readFrameMessages of a frame whole or in pieces. */
export function readMessagesOf(frame: FrameBytes, offset: number, each: (msg: Message) => void, onBad?: (err: ProtocolError, index: number) => void): void {
  if (frame instanceof PiecedFrame) readPiecedFrameMessages(frame, offset, each, onBad);
  else readFrameMessages(frame, offset, each, onBad);
}
