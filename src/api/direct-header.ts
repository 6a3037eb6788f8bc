import { ProtocolError } from '../core/errors.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { PayloadEncoding } from './app-header.js';

/** Header id of point-to-point traffic. */
export const DIRECT_HEADER_ID = HeaderIds.DIRECT;

/** What a point-to-point message is. */
export const enum DirectKind {
  /** group.send: delivered to the target's 'direct' listeners. */
  Send = 0,
  /** group.call: answered by the target's onCall handler. */
  Call = 1,
  /** The handler's value, for the call named in `call`. */
  Reply = 2,
  /** The handler threw (or no handler): the payload is the message text. */
  Failure = 3,
}

/**
 * Data is sequenced per (sender, receiver) member pair and carries the cumulative ack of the
 * reverse direction; Ack is a bare cumulative ack (sent unreliably: the next one repairs a loss).
 */
export type DirectHeader = { t: 1; seq: number; ack: number; kind: DirectKind; encoding: PayloadEncoding; call: number } | { t: 2; ack: number };

export const DIRECT_HEADER = defineHeader<DirectHeader>(
  DIRECT_HEADER_ID,
  'DIRECT',
  (w, h) => {
    w.u8(h.t);
    if (h.t === 1) {
      w.uvar(h.seq);
      w.uvar(h.ack);
      w.u8(h.kind | (h.encoding << 2));
      w.uvar(h.call);
    } else w.uvar(h.ack);
  },
  (r) => {
    const t = r.u8();
    if (t === 1) {
      const seq = r.uvar();
      const ack = r.uvar();
      const b = r.u8();
      if (b > 7) throw new ProtocolError('ERR_MALFORMED', `bad DIRECT kind byte 0x${b.toString(16)}`);
      return { t, seq, ack, kind: (b & 3) as DirectKind, encoding: (b >> 2) as PayloadEncoding, call: r.uvar() };
    }
    if (t === 2) return { t, ack: r.uvar() };
    throw new ProtocolError('ERR_MALFORMED', `unknown DIRECT header type ${t}`);
  },
);
