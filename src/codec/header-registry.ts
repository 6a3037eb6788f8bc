import { HorusError, ProtocolError } from '../core/errors.js';
import type { HeaderType, Message } from '../core/message.js';
import type { Reader } from './reader.js';
import type { Writer } from './writer.js';

const byId = new Map<number, HeaderType<unknown>>();
/** The same by id as an array: looked up once per header of every message received. */
const table = new Array<HeaderType<unknown> | undefined>(256).fill(undefined);

/**
 * Declare a header type. Ids are global and stable (they are on the wire): keep the table in
 * header-ids.ts so two layers never collide.
 */
export function defineHeader<T>(
  id: number,
  name: string,
  encode: (w: Writer, h: T, msg?: Message) => void,
  decode: (r: Reader, msg?: Message) => T,
): HeaderType<T> {
  if (!Number.isInteger(id) || id < 1 || id > 255) throw new HorusError('ERR_STACK', `header id ${id} out of range 1..255`);
  const existing = byId.get(id);
  if (existing) throw new HorusError('ERR_STACK', `header id ${id} used by both ${existing.name} and ${name}`);
  const type: HeaderType<T> = { id, name, encode, decode };
  byId.set(id, type as HeaderType<unknown>);
  table[id] = type as HeaderType<unknown>;
  return type;
}

export function headerTypeOf(id: number): HeaderType<unknown> {
  const t = table[id];
  if (t === undefined) throw new ProtocolError('ERR_MALFORMED', `unknown header id ${id}`);
  return t;
}

/** Header ids on the wire. One line per layer; never reuse a number. */
export const HeaderIds = {
  APP: 1,
  COM: 2,
  NAK: 3,
  FRAG: 4,
  STABLE: 5,
  FC: 6,
  FD: 7,
  GMS: 8,
  CAUSAL: 9,
  TOTAL: 10,
  CRYPT: 11,
  DISCARD: 12,
  SAFE: 13,
  /** FD's relayed heartbeats in large views (layers/fd/relay-beat.ts). */
  FD_RELAY: 14,
  /** STABLE's aggregated digests in large views (layers/stable/aggregate-header.ts). */
  STABLE_AGG: 15,
  /** SAFE's questions to a member about what it has sent, and its answers (layers/safe/probe-header.ts). */
  SAFE_PROBE: 16,
  /** A state-transfer chunk's place in the stream (GMS state transfer). */
  STATE: 24,
  /** Point-to-point messages and calls between members (api/direct.ts). */
  DIRECT: 32,
} as const;
