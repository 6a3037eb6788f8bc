import { defineHeader, HeaderIds } from '../../codec/header-registry.js';
import { ProtocolError } from '../../core/errors.js';

/** Most entries an aggregated digest may carry (one per member of the view). */
export const MAX_AGGREGATE_ENTRIES = 4096;

/** A member's digest to the aggregator. */
export const AGG_UP = 0;
/** The aggregator's minimum over every member's digest, to the view. */
export const AGG_DOWN = 1;
/** A member's digest that SAFE is waiting on: the aggregator answers early. */
export const AGG_UP_URGENT = 2;

/**
 * STABLE's aggregated digests (large views, option `aggregateFrom`): sequence numbers by view
 * index, not by member id, so a 1,000-member digest is a few kB. Each entry is seq + 1; 0 means
 * "holds nothing of that sender" (no entry in the digest).
 */
export interface AggregateHeader {
  view: number;
  kind: number;
  /**
   * AGG_DOWN: which minimum of this view it is (1, 2, ...: a new one each time it changes). AGG_UP:
   * the last one the member took (0: none), so the aggregator answers a member that missed one.
   */
  round: number;
  seqs: number[];
}

export const STABLE_AGG_HEADER = defineHeader<AggregateHeader>(
  HeaderIds.STABLE_AGG,
  'STABLE_AGG',
  (w, h) => {
    w.uvar(h.view);
    w.u8(h.kind);
    w.uvar(h.round);
    w.uvar(h.seqs.length);
    for (const s of h.seqs) w.uvar(s);
  },
  (r) => {
    const view = r.uvar();
    const kind = r.u8();
    const round = r.uvar();
    const n = r.uvar();
    if (n > MAX_AGGREGATE_ENTRIES) throw new ProtocolError('ERR_MALFORMED', `STABLE aggregate with ${n} entries`);
    const seqs = new Array<number>(n);
    for (let i = 0; i < n; i++) seqs[i] = r.uvar();
    return { view, kind, round, seqs };
  },
);
