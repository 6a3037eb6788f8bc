import { ProtocolError } from '../core/errors.js';
import { MAX_ID_BYTES } from '../core/input-guard.js';
import { Message, MsgFlag, type HeaderType } from '../core/message.js';
import { headerTypeOf } from './header-registry.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/** Most headers a message may carry: bounds what a hostile frame can make us allocate. */
export const MAX_HEADERS = 32;

/**
 * Message layout: flags u8 | dest (string, only for unicast) | header count | (id u8, body)* in push order | payload (rest).
 * The caller frames it (a length prefix), so the payload needs no length of its own.
 */
export function encodeMessage(w: Writer, msg: Message): void {
  w.u8(msg.flags);
  if (!(msg.flags & MsgFlag.Multicast)) w.str(msg.dest ?? '');
  const types = msg.htypes;
  const values = msg.hvalues;
  const top = msg.htop;
  w.u8(top);
  for (let i = 0; i < top; i++) {
    const t = types[i]!;
    w.u8(t.id);
    t.encode(w, values[i], msg);
  }
  w.bytes(msg.payload);
}

/**
 * Decode one message that spans r.pos..end. Throws ProtocolError on malformed input; the reader
 * is bounded by `end` meanwhile, so a header decoder cannot read into the next message.
 */
export function decodeMessage(r: Reader, end: number): Message {
  if (end > r.end) throw new ProtocolError('ERR_MALFORMED', 'message overruns its buffer');
  const outer = r.end;
  r.end = end;
  try {
    return decodeBounded(r, end);
  } finally {
    r.end = outer;
  }
}

/** By header count: the types of the last message decoded with that many headers (shared, never written: see Message.typesShared). */
const lastTypes: (HeaderType<unknown>[] | undefined)[] = new Array<HeaderType<unknown>[] | undefined>(MAX_HEADERS + 1).fill(undefined);

const EMPTY = Buffer.alloc(0);
/** A decoded message's types until they are known (never written: its top is 0). */
const NO_TYPES: HeaderType<unknown>[] = [];

function decodeBounded(r: Reader, end: number): Message {
  const buf = r.buf;
  const start = r.pos;
  if (start + 2 > end) throw new ProtocolError('ERR_MALFORMED', `truncated: a message of ${end - start} bytes`);
  const flags = buf[start]!;
  if (flags & ~(MsgFlag.Multicast | MsgFlag.Unreliable | MsgFlag.Causal))
    throw new ProtocolError('ERR_MALFORMED', `unknown message flags 0x${flags.toString(16)}`);
  let dest: string | null = null;
  let n: number;
  if (flags & MsgFlag.Multicast) {
    // The common case read straight from the buffer: flags, header count.
    n = buf[start + 1]!;
    r.pos = start + 2;
  } else {
    r.pos = start + 1;
    dest = r.str(MAX_ID_BYTES);
    n = r.u8();
  }
  if (n > MAX_HEADERS) throw new ProtocolError('ERR_MALFORMED', `${n} headers, limit ${MAX_HEADERS}`);
  // The header types are nearly always those of the message before (a frame's messages went through
  // the same layers): the array of types is shared with it, and a new one made only when they differ.
  const last = lastTypes[n];
  let types: HeaderType<unknown>[] | undefined = undefined;
  const values = new Array<unknown>(n);
  // Made first: a header decoder may set one of its fields (see HeaderType.decode).
  const msg = new Message(dest, EMPTY, flags, NO_TYPES, values);
  for (let i = 0; i < n; i++) {
    const type = headerTypeOf(r.u8());
    if (types !== undefined) types[i] = type;
    else if (last === undefined || last[i] !== type) {
      types = new Array<HeaderType<unknown>>(n);
      for (let j = 0; j < i; j++) types[j] = last![j]!;
      types[i] = type;
    }
    values[i] = type.decode(r, msg);
  }
  if (types === undefined)
    types = last ?? (lastTypes[n] = []); // no header at all, the first time
  else lastTypes[n] = types;
  const at = r.pos;
  if (at > end) throw new ProtocolError('ERR_MALFORMED', 'headers overrun the message');
  msg.payload = buf.subarray(at, end);
  r.pos = end;
  msg.htypes = types;
  msg.htop = n;
  msg.typesShared = true;
  msg.wire = buf;
  msg.wireStart = start;
  msg.wireEnd = end;
  return msg;
}

/** Whole message to standalone bytes (FRAG serialises what it splits). */
export function messageToBytes(msg: Message): Buffer {
  const w = new Writer(msg.payload.length + 64);
  encodeMessage(w, msg);
  return w.toBytes();
}

export function messageFromBytes(b: Buffer): Message {
  const r = new Reader(b);
  return decodeMessage(r, b.length);
}
