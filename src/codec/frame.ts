import { ProtocolError } from '../core/errors.js';
import type { Message } from '../core/message.js';
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
/** Bytes a frame's head takes at most: kind, group name (its length is at most 2 bytes), membership, count. */
export const MAX_FRAME_HEAD_BYTES = 1 + 2 + MAX_GROUP_NAME_BYTES + MAX_MEMBERSHIP_BYTES + 4;

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

/** Read the group name of a frame; returns the offset of what follows it. */
export function readFrameGroup(frame: Buffer): { group: string; offset: number } {
  const r = new Reader(frame);
  const kind = r.u8();
  if (kind !== FRAME_KIND_BATCH) throw new ProtocolError('ERR_MALFORMED', `unknown frame kind 0x${kind.toString(16)}`);
  const group = r.str(MAX_GROUP_NAME_BYTES);
  return { group, offset: r.pos };
}

/** Read the sender's membership number, just past the group name; returns the offset of the messages. */
export function readFrameMembership(frame: Buffer, offset: number): { membership: number; offset: number } {
  const r = new Reader(frame, offset);
  const membership = r.uvar();
  if (membership < 1 || membership > MAX_MEMBERSHIP) throw new ProtocolError('ERR_MALFORMED', `frame claims membership ${membership}`);
  return { membership, offset: r.pos };
}

/**
 * How many messages the frame at `offset` (its message section) can hold: the count it claims, but
 * no more than its bytes have room for (a message takes at least 6), so a hostile count sizes
 * nothing. For sizing the array that receives them; readFrameMessages checks the count itself.
 */
export function frameMessageRoom(frame: Buffer, offset: number): number {
  if (offset + 4 > frame.length) throw new ProtocolError('ERR_MALFORMED', 'truncated frame: no message count');
  return Math.min(frame.readUInt32BE(offset), Math.floor((frame.length - offset - 4) / 6));
}

/**
 * Message `index` of a frame, from `r` up to `end`; with `onBad`, a malformed one is reported there and
 * null returned (without it, it throws). Anything but a ProtocolError is a bug: it always throws.
 */
export function decodeOrReport(r: Reader, end: number, index: number, onBad?: (err: ProtocolError, index: number) => void): Message | null {
  try {
    return decodeMessage(r, end);
  } catch (err) {
    if (onBad === undefined || !(err instanceof ProtocolError)) throw err;
    onBad(err, index);
    return null;
  }
}

/**
 * Decode the messages of a frame body; calls `each` per message. A frame whose layout is broken
 * (count, a length that overruns it, trailing bytes) throws ProtocolError: nothing after the break
 * can be trusted to start where it claims. With `onBad`, one malformed message inside an intact
 * layout is reported there and skipped (its length prefix says where the next one starts), so it
 * does not cost the good ones; without it, it throws too.
 */
export function readFrameMessages(frame: Buffer, offset: number, each: (msg: Message) => void, onBad?: (err: ProtocolError, index: number) => void): void {
  const r = new Reader(frame, offset);
  const count = r.u32();
  if (count > MAX_MESSAGES_PER_FRAME) throw new ProtocolError('ERR_MALFORMED', `frame claims ${count} messages`);
  for (let i = 0; i < count; i++) {
    const len = r.u32();
    const end = r.pos + len;
    if (end > r.end) throw new ProtocolError('ERR_MALFORMED', `message ${i} length ${len} overruns the frame`);
    const msg = decodeOrReport(r, end, i, onBad);
    if (msg === null) r.pos = end;
    else each(msg);
  }
  if (r.remaining !== 0) throw new ProtocolError('ERR_MALFORMED', `${r.remaining} trailing bytes after ${count} messages`);
}
