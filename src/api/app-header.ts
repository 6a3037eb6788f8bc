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

export const APP_HEADER = defineHeader<AppHeader>(
  HeaderIds.APP,
  'APP',
  (w, h) => {
    const kind = h.kind ?? AppKind.Plain;
    // order: 2 bits, encoding: 1 bit, kind: 2 bits.
    w.u8(h.order | (h.encoding << 2) | (kind << 3));
    w.uvar(h.id);
    if (kind === AppKind.Reply) {
      w.uvar(h.re ?? 0);
      w.str(h.to ?? '');
    }
  },
  (r) => {
    const b = r.u8();
    const order = b & 0x03;
    const encoding = (b >> 2) & 1;
    const kind = (b >> 3) as AppKind;
    if (kind > AppKind.Merge) throw new ProtocolError('ERR_MALFORMED', `bad APP header byte 0x${b.toString(16)}`);
    const id = r.uvar();
    if (kind === AppKind.Reply) return { order, encoding, id, kind, re: r.uvar(), to: r.str(MAX_ID_BYTES) };
    return kind === AppKind.Plain ? { order, encoding, id } : { order, encoding, id, kind };
  },
);
