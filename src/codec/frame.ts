import { ProtocolError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { PieceCursor, frameRange, type FrameBytes, type FramePieces } from './frame-pieces.js';
import { decodeMessage, encodeMessage } from './message-codec.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/** Bytes a frame spends around its messages: kind, group name, sender's membership, count, and one message's length. */
export function frameOverheadBytes(group: string): number {
  const n = Buffer.byteLength(group);
  return 1 + (n < 0x80 ? 1 : 2) + n + MAX_MEMBERSHIP_BYTES + 4 + 4;
}

/** First byte of every group frame: bumped when the layout changes (0x48: before the sender's membership). */
export const FRAME_KIND_BATCH = 0x49;
export const MAX_GROUP_NAME_BYTES = 200;
/** Most messages one frame may claim to hold: bounds allocation on hostile input. */
export const MAX_MESSAGES_PER_FRAME = 65536;
/** Highest membership number a frame may claim (a process's n-th membership of a group: `node~n`). */
export const MAX_MEMBERSHIP = 0xffff_ffff;
/** Bytes the membership number takes at most (a varint of MAX_MEMBERSHIP). */
const MAX_MEMBERSHIP_BYTES = 5;

/**
 * Group frame: kind u8 | group name | membership | count | (length, message)*. COM batches messages
 * for one destination into one frame; the node reads the group name to pick the stack. The
 * membership is n of the sender's member id `node~n` (1 for `node`): the transport names the node,
 * the frame which of its memberships sent it, so a frame of a membership the process has since
 * replaced (rejoined) is not taken for one of the new member's.
 */
export class FrameBuilder {
  readonly w = new Writer(64 * 1024);
  count = 0;
  private countAt = 0;
  constructor(
    private readonly group: string,
    private readonly membership = 1,
  ) {
    if (!Number.isSafeInteger(membership) || membership < 1 || membership > MAX_MEMBERSHIP) throw new RangeError(`membership ${membership} out of range`);
    this.reset();
  }
  reset(): void {
    this.w.reset();
    this.w.u8(FRAME_KIND_BATCH);
    this.w.str(this.group);
    this.w.uvar(this.membership);
    this.countAt = this.w.reserveU32();
    this.count = 0;
  }
  get bytes(): number {
    return this.w.pos;
  }
  /** Encodes `msg` into the frame; returns where its encoding starts (it ends at `bytes`). */
  add(msg: Message): number {
    const at = this.w.reserveU32();
    encodeMessage(this.w, msg);
    this.w.patchU32(at, this.w.pos - at - 4);
    this.count++;
    return at + 4;
  }
  /** The finished frame (a view into the builder's buffer: send or copy it before the next reset). */
  finish(): Buffer {
    this.w.patchU32(this.countAt, this.count);
    return this.w.buf.subarray(0, this.w.pos);
  }
  /**
   * The finished frame as bytes of its own, which the caller may keep or give away: a frame that
   * fills at least half the builder's buffer takes that buffer with it (the builder starts a fresh
   * one: no copy of a large frame), a smaller one is copied. `reset` before the next `add`.
   */
  finishOwned(): Buffer {
    const frame = this.finish();
    if (frame.length * 2 < this.w.buf.length) return Buffer.from(frame);
    return this.w.detach();
  }
}

/** Bytes a frame's head takes at most: kind, a group name of MAX_GROUP_NAME_BYTES with its length. */
const MAX_FRAME_HEAD_BYTES = 1 + 2 + MAX_GROUP_NAME_BYTES;

/** Read the group name of a frame (one buffer or its pieces); returns the offset of what follows it. */
export function readFrameGroup(frame: FrameBytes): { group: string; offset: number } {
  const r = new Reader(Buffer.isBuffer(frame) ? frame : frameRange(frame, 0, MAX_FRAME_HEAD_BYTES));
  const kind = r.u8();
  if (kind !== FRAME_KIND_BATCH) throw new ProtocolError('ERR_MALFORMED', `unknown frame kind 0x${kind.toString(16)}`);
  const group = r.str(MAX_GROUP_NAME_BYTES);
  return { group, offset: r.pos };
}

/** Read the sender's membership number, just past the group name; returns the offset of the messages. */
export function readFrameMembership(frame: FrameBytes, offset: number): { membership: number; offset: number } {
  // A varint takes at most 8 bytes: a frame in pieces is read from a view (or copy) of those.
  const r = Buffer.isBuffer(frame) ? new Reader(frame, offset) : new Reader(frameRange(frame, offset, offset + 8));
  const membership = r.uvar();
  if (membership < 1 || membership > MAX_MEMBERSHIP) throw new ProtocolError('ERR_MALFORMED', `frame claims membership ${membership}`);
  return { membership, offset: Buffer.isBuffer(frame) ? r.pos : offset + r.pos };
}

/**
 * Decode the messages of a frame body; calls `each` per message. A frame whose layout is broken
 * (count, a length that overruns it, trailing bytes) throws ProtocolError: nothing after the break
 * can be trusted to start where it claims. With `onBad`, one malformed message inside an intact
 * layout is reported there and skipped (its length prefix says where the next one starts), so it
 * does not cost the good ones; without it, it throws too.
 */
export function readFrameMessages(frame: FrameBytes, offset: number, each: (msg: Message) => void, onBad?: (err: ProtocolError, index: number) => void): void {
  if (!Buffer.isBuffer(frame)) return readPiecesMessages(frame, offset, each, onBad);
  const r = new Reader(frame, offset);
  const count = r.u32();
  if (count > MAX_MESSAGES_PER_FRAME) throw new ProtocolError('ERR_MALFORMED', `frame claims ${count} messages`);
  const i = decodeWithin(r, r.end, 0, count, each, onBad);
  if (i < count) {
    // Message i does not fit: its length word is cut short (u32 throws) or its body overruns.
    const len = r.u32();
    throw new ProtocolError('ERR_MALFORMED', `message ${i} length ${len} overruns the frame`);
  }
  if (r.remaining !== 0) throw new ProtocolError('ERR_MALFORMED', `${r.remaining} trailing bytes after ${count} messages`);
}

/**
 * Decodes messages `i`, `i + 1` ... (of `count`) from `r.pos` on, as long as each one's length word
 * and body end by `end`; returns the index of the first that does not (`count` when all did), with
 * `r.pos` at its length word. A malformed message goes to `onBad` (without it, it throws).
 */
function decodeWithin(
  r: Reader,
  end: number,
  i: number,
  count: number,
  each: (msg: Message) => void,
  onBad: ((err: ProtocolError, index: number) => void) | undefined,
): number {
  const buf = r.buf;
  for (; i < count; i++) {
    const at = r.pos;
    if (at + 4 > end) break;
    const len = ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
    const stop = at + 4 + len;
    if (stop > end) break;
    r.pos = at + 4;
    let msg: Message;
    try {
      msg = decodeMessage(r, stop);
    } catch (err) {
      if (onBad === undefined || !(err instanceof ProtocolError)) throw err;
      onBad(err, i);
      r.pos = stop;
      continue;
    }
    each(msg);
  }
  return i;
}

/**
 * readFrameMessages over a frame in pieces, with the same checks in the same order: the messages
 * that lie in one piece are decoded in place (views, as in a contiguous frame) by the same loop; only
 * one that spans a cut, or whose length word is cut in two, is copied.
 */
function readPiecesMessages(pieces: FramePieces, offset: number, each: (msg: Message) => void, onBad?: (err: ProtocolError, index: number) => void): void {
  const c = new PieceCursor(pieces, offset);
  const count = c.u32();
  if (count > MAX_MESSAGES_PER_FRAME) throw new ProtocolError('ERR_MALFORMED', `frame claims ${count} messages`);
  let i = 0;
  for (;;) {
    const piece = c.piece;
    const from = c.pos;
    const r = new Reader(piece, from);
    i = decodeWithin(r, piece.length, i, count, each, onBad);
    c.advance(r.pos - from);
    if (i >= count) break;
    // Message i crosses the end of this piece.
    const len = c.u32();
    if (len > c.remaining) throw new ProtocolError('ERR_MALFORMED', `message ${i} length ${len} overruns the frame`);
    const bytes = c.take(len);
    let msg: Message;
    try {
      msg = decodeMessage(new Reader(bytes), len);
    } catch (err) {
      if (onBad === undefined || !(err instanceof ProtocolError)) throw err;
      onBad(err, i++);
      continue;
    }
    i++;
    each(msg);
  }
  if (c.remaining !== 0) throw new ProtocolError('ERR_MALFORMED', `${c.remaining} trailing bytes after ${count} messages`);
}
