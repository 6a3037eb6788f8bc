import { defineHeader, HeaderIds } from '../../codec/header-registry.js';
import { ProtocolError } from '../../core/errors.js';
import { MAX_WIRE_INT } from '../../core/input-guard.js';

/** "How far have you sent in view `view`?" (answer quoting `nonce`). */
export const PROBE_ASK = 1;
/** "In view `view` I had sent up to `sent` when your question `nonce` reached me." */
export const PROBE_TELL = 2;

/**
 * SAFE's question to a member about its own stream, and the member's answer (see SAFE: a safe
 * message's dependency on a member is believed only as far as that member says it has sent).
 * Unicast and unreliable: an unanswered question is asked again.
 */
export type SafeProbe = { t: typeof PROBE_ASK; view: number; nonce: number } | { t: typeof PROBE_TELL; view: number; nonce: number; sent: number };

const wireInt = (v: number, what: string): number => {
  if (v > MAX_WIRE_INT) throw new ProtocolError('ERR_MALFORMED', `SAFE probe ${what} out of range`);
  return v;
};

export const SAFE_PROBE_HEADER = defineHeader<SafeProbe>(
  HeaderIds.SAFE_PROBE,
  'SAFE_PROBE',
  (w, h) => {
    w.u8(h.t);
    w.uvar(h.view);
    w.uvar(h.nonce);
    if (h.t === PROBE_TELL) w.uvar(h.sent);
  },
  (r) => {
    const t = r.u8();
    const view = wireInt(r.uvar(), 'view');
    const nonce = wireInt(r.uvar(), 'nonce');
    if (t === PROBE_ASK) return { t, view, nonce };
    if (t === PROBE_TELL) return { t, view, nonce, sent: wireInt(r.uvar(), 'sequence number') };
    throw new ProtocolError('ERR_MALFORMED', `unknown SAFE probe type ${t}`);
  },
);
