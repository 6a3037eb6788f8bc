import { ProtocolError } from '../core/errors.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { MAX_ID_BYTES } from '../core/input-guard.js';

/** Delivery order a message asks for. */
export type Order = 'fifo' | 'causal' | 'total' | 'group';
export const ORDERS: readonly Order[] = ['fifo', 'causal', 'total', 'group'];

/** How the payload bytes are to be read. */
export const enum PayloadEncoding {
  Bytes = 0,
  Packed = 1,
}

/** What an application message is: an ordinary message, a query that asks for replies, or a reply. */
export const enum AppKind {
  Plain = 0,
  Query = 1,
  Reply = 2,
  /** A partitionable group's merge control (marker or record, see src/api/merge.ts): never delivered to the application. */
  Merge = 3,
}

/** Pushed by the group for every application message: order, encoding, kind and a per-sender id. */
export interface AppHeader {
  order: number;
  encoding: PayloadEncoding;
  /** Per-sender message number, for histories and replies. */
  id: number;
  kind?: AppKind;
  /** For a reply: the query's id (the querier is named in `to`). */
  re?: number;
  to?: string;
}

/**
 * A plain message's APP header in memory, as one number instead of an object per message (sent and
 * received at the message rate): `id * 8 + (order | encoding << 2)`, the header's first byte in its
 * low 3 bits. Ids from PACKED_ID_LIMIT up (never in practice) stay records, as do queries, replies
 * and merge controls. The wire bytes are the same either way.
 */
export type AppHeaderValue = AppHeader | number;

/** id * 8 stays an exact integer below 2^53. */
const PACKED_ID_LIMIT = 2 ** 50;

/** A plain message's header: packed when its id allows. */
export function plainAppHeader(order: number, encoding: PayloadEncoding, id: number): AppHeaderValue {
  return id < PACKED_ID_LIMIT ? id * 8 + (order | (encoding << 2)) : { order, encoding, id };
}

export function appId(h: AppHeaderValue): number {
  return typeof h === 'number' ? Math.floor(h / 8) : h.id;
}

/** Order code (the low bits of an exact integer survive `&`: ToInt32 keeps them). */
export function appOrder(h: AppHeaderValue): number {
  return typeof h === 'number' ? h & 0x03 : h.order;
}

export function appEncoding(h: AppHeaderValue): PayloadEncoding {
  return typeof h === 'number' ? (((h >> 2) & 1) as PayloadEncoding) : h.encoding;
}

export function appKind(h: AppHeaderValue): AppKind {
  return typeof h === 'number' ? AppKind.Plain : (h.kind ?? AppKind.Plain);
}

export const APP_HEADER = defineHeader<AppHeaderValue>(
  HeaderIds.APP,
  'APP',
  (w, h) => {
    if (typeof h === 'number') {
      w.u8(h & 0x07);
      w.uvar(Math.floor(h / 8));
      return;
    }
    const kind = h.kind ?? AppKind.Plain;
    w.u8(h.order | (h.encoding << 2) | (kind << 3));
    w.uvar(h.id);
    if (kind === AppKind.Reply) {
      w.uvar(h.re ?? 0);
      w.str(h.to ?? '');
    }
  },
  (r) => {
    const b = r.u8();
    const kind = (b >> 3) as AppKind;
    if (kind > AppKind.Merge) throw new ProtocolError('ERR_MALFORMED', `bad APP header byte 0x${b.toString(16)}`);
    const id = r.uvar();
    // A plain header's byte is its order and encoding alone (below 8).
    if (kind === AppKind.Plain && id < PACKED_ID_LIMIT) return id * 8 + b;
    const order = b & 0x03;
    const encoding = (b >> 2) & 1;
    if (kind === AppKind.Reply) return { order, encoding, id, kind, re: r.uvar(), to: r.str(MAX_ID_BYTES) };
    return kind === AppKind.Plain ? { order, encoding, id } : { order, encoding, id, kind };
  },
);
