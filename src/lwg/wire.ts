import { ProtocolError } from '../core/errors.js';
import { MAX_ID_BYTES } from '../core/input-guard.js';
import type { NodeId } from '../core/node-id.js';
import { pack, unpack } from '../codec/payload.js';
import { Reader } from '../codec/reader.js';
import { Writer } from '../codec/writer.js';
import { PayloadEncoding } from '../api/app-header.js';

/**
 * What light-weight groups send inside their heavy-weight group (HWG). Every one is an HWG abcast
 * (one total order for the control messages and the data of every LWG: see docs/lightweight-groups.md),
 * except the state for a joiner, which goes point-to-point. The first byte says the kind:
 *
 * - Data: `lwg id, view id, message id, order, encoding` as varints, then the application's bytes.
 * - Join / Leave / FlushOk / State / StateOk: a packed body (small, rare, batched).
 *
 * Every decoder checks every field and throws a ProtocolError (ERR_MALFORMED) on anything else:
 * the service counts it, drops it, and keeps serving.
 */
export const enum LwgKind {
  Data = 1,
  Join = 2,
  Leave = 3,
  FlushOk = 4,
  State = 5,
  StateOk = 6,
}

/** Longest light-weight group name, in UTF-8 bytes. */
export const MAX_LWG_NAME_BYTES = 200;
/** Most entries one control message may carry (names of a join, ids of a leave, flush acknowledgements, states). */
export const MAX_LWG_BATCH = 100_000;
/** Largest LWG id or view id accepted (ids are counters; anything larger is forged). */
const MAX_COUNTER = 2 ** 48;

export interface DataHeader {
  lwg: number;
  view: number;
  id: number;
  order: number;
  encoding: PayloadEncoding;
}

/** A join: the member asking (it speaks only for itself), the names, and whether it wants their state. */
export interface JoinBody {
  member: NodeId;
  names: string[];
  wantState: boolean;
}

/** One LWG's state for a joiner: the view it joins, then the encoding byte and the bytes (empty: no state kept). */
export interface StateItem {
  lwg: number;
  view: number;
  state: Buffer;
}

const writer = new Writer(256);

export function encodeData(h: DataHeader, payload: Uint8Array): Buffer {
  writer.reset();
  writer.u8(LwgKind.Data);
  writer.uvar(h.lwg);
  writer.uvar(h.view);
  writer.uvar(h.id);
  writer.u8(h.order);
  writer.u8(h.encoding);
  // The header is small; the payload is copied once, into a buffer of exactly the right size.
  const out = Buffer.allocUnsafe(writer.pos + payload.length);
  writer.buf.copy(out, 0, 0, writer.pos);
  out.set(payload, writer.pos);
  return out;
}

function malformed(what: string): ProtocolError {
  return new ProtocolError('ERR_MALFORMED', `light-weight group message: ${what}`);
}

function counter(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_COUNTER) throw malformed(`${what} is not a counter`);
  return v;
}

/** The kind of an LWG message (its first byte); throws on an empty message or an unknown kind. */
export function kindOf(bytes: Buffer): LwgKind {
  if (bytes.length === 0) throw malformed('empty');
  const k = bytes[0]!;
  if (k < LwgKind.Data || k > LwgKind.StateOk) throw malformed(`unknown kind ${k}`);
  return k as LwgKind;
}

export function decodeData(bytes: Buffer): { h: DataHeader; payload: Buffer } {
  const r = new Reader(bytes, 1);
  const lwg = counter(r.uvar(), 'lwg id');
  const view = counter(r.uvar(), 'view id');
  const id = counter(r.uvar(), 'message id');
  const order = r.u8();
  if (order > 3) throw malformed(`order ${order}`);
  const encoding = r.u8();
  if (encoding !== PayloadEncoding.Bytes && encoding !== PayloadEncoding.Packed) throw malformed(`encoding ${encoding}`);
  return { h: { lwg, view, id, order, encoding }, payload: r.rest() };
}

function control(kind: LwgKind, body: unknown): Buffer {
  return Buffer.concat([Buffer.of(kind), pack(body)]);
}

function body(bytes: Buffer): unknown {
  try {
    return unpack(bytes.subarray(1));
  } catch (cause) {
    throw new ProtocolError('ERR_MALFORMED', `light-weight group message does not unpack: ${(cause as Error).message}`, { cause });
  }
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw malformed(`${what} is not a list`);
  if (v.length > MAX_LWG_BATCH) throw malformed(`${what} has ${v.length} entries, over ${MAX_LWG_BATCH}`);
  return v;
}

/** A member id as it may appear on the wire. */
export function memberId(v: unknown, what = 'member'): NodeId {
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > MAX_ID_BYTES) throw malformed(`${what} is not a member id`);
  return v;
}

/** Checks an LWG name (local calls and the wire): a non-empty string of at most MAX_LWG_NAME_BYTES. */
export function lwgNameProblem(v: unknown): string | null {
  if (typeof v !== 'string' || v.length === 0) return 'a light-weight group name is a non-empty string';
  const n = Buffer.byteLength(v);
  if (n > MAX_LWG_NAME_BYTES) return `light-weight group name of ${n} bytes is over the ${MAX_LWG_NAME_BYTES}-byte limit`;
  return null;
}

export function encodeJoin(b: JoinBody): Buffer {
  return control(LwgKind.Join, [b.member, b.names, b.wantState]);
}

export function decodeJoin(bytes: Buffer): JoinBody {
  const v = list(body(bytes), 'join');
  if (v.length !== 3) throw malformed('join is not [member, names, wantState]');
  const member = memberId(v[0]);
  const names = list(v[1], 'join names').map((n) => {
    const why = lwgNameProblem(n);
    if (why !== null) throw malformed(why);
    return n as string;
  });
  if (typeof v[2] !== 'boolean') throw malformed('join wantState is not a boolean');
  return { member, names, wantState: v[2] };
}

export function encodeLeave(ids: readonly number[]): Buffer {
  return control(LwgKind.Leave, ids);
}

export function decodeLeave(bytes: Buffer): number[] {
  return list(body(bytes), 'leave').map((x) => counter(x, 'lwg id'));
}

/** Flush acknowledgements: pairs of (lwg id, view id), flattened. */
export function encodeFlushOk(pairs: readonly number[]): Buffer {
  return control(LwgKind.FlushOk, pairs);
}

export function decodeFlushOk(bytes: Buffer): number[] {
  const v = list(body(bytes), 'flush-ok');
  if (v.length % 2 !== 0) throw malformed('flush-ok is not a list of (lwg, view) pairs');
  return v.map((x) => counter(x, 'flush-ok id'));
}

/** Joiners that have their state: pairs of (lwg id, view joined), flattened. */
export function encodeStateOk(pairs: readonly number[]): Buffer {
  return control(LwgKind.StateOk, pairs);
}

export function decodeStateOk(bytes: Buffer): number[] {
  const v = list(body(bytes), 'state-ok');
  if (v.length % 2 !== 0) throw malformed('state-ok is not a list of (lwg, view) pairs');
  return v.map((x) => counter(x, 'state-ok id'));
}

export function encodeState(items: readonly StateItem[]): Buffer {
  return control(
    LwgKind.State,
    items.flatMap((s) => [s.lwg, s.view, s.state]),
  );
}

export function decodeState(bytes: Buffer, maxStateBytes: number): StateItem[] {
  const v = list(body(bytes), 'state');
  if (v.length % 3 !== 0) throw malformed('state is not a list of (lwg, view, bytes)');
  const out: StateItem[] = [];
  for (let i = 0; i < v.length; i += 3) {
    const s = v[i + 2];
    if (!(s instanceof Uint8Array)) throw malformed('state bytes are not bytes');
    if (s.length > maxStateBytes) throw malformed(`state of ${s.length} bytes is over the ${maxStateBytes}-byte limit`);
    out.push({ lwg: counter(v[i], 'lwg id'), view: counter(v[i + 1], 'view id'), state: Buffer.from(s.buffer, s.byteOffset, s.byteLength) });
  }
  return out;
}
