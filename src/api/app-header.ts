import { ProtocolError } from '../core/errors.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';

/** Delivery order a message asks for. */
export type Order = 'fifo' | 'causal' | 'total' | 'group';
export const ORDERS: readonly Order[] = ['fifo', 'causal', 'total', 'group'];

/** How the payload bytes are to be read. */
export const enum PayloadEncoding {
  Bytes = 0,
  Packed = 1,
}

/** Pushed by the group for every application message: order, encoding and a per-sender id. */
export interface AppHeader {
  order: number;
  encoding: PayloadEncoding;
  /** Per-sender message number, for histories and replies. */
  id: number;
}

export const APP_HEADER = defineHeader<AppHeader>(
  HeaderIds.APP,
  'APP',
  (w, h) => {
    w.u8(h.order | (h.encoding << 4));
    w.uvar(h.id);
  },
  (r) => {
    const b = r.u8();
    const order = b & 0x0f;
    const encoding = b >> 4;
    if (order >= ORDERS.length || encoding > 1) throw new ProtocolError('ERR_MALFORMED', `bad APP header byte 0x${b.toString(16)}`);
    return { order, encoding, id: r.uvar() };
  },
);
