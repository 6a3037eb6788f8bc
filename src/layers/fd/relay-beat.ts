import { defineHeader, HeaderIds } from '../../codec/header-registry.js';
import { Reader } from '../../codec/reader.js';
import { Writer } from '../../codec/writer.js';

/**
 * Relayed heartbeats for large views (FD option `relayFrom`). Below that size every member
 * heartbeats every other (n² beats per interval). From it up, `relayCount` members of the view (the
 * ones after the coordinator) are relays; the first one is active: once a round (`relayRounds`
 * heartbeat intervals) it multicasts its table (`RelayDown`: its round number, the latest `t` it
 * heard from every member, and the round each member last acknowledged), and each member answers
 * with one small beat (`RelayUp`: its clock `t`, the last round of that relay it received, the
 * members it no longer grants). The others stand by and go on air when it falls silent. So a round
 * costs about 2n messages, not n² (FD.ts).
 *
 * Why this still renews leases soundly: member q acknowledging round r of relay j means q received
 * that round's table, built after relay j heard t_p from p: q heard p "at or after t_p", exactly
 * what a direct echo of t_p proves. So p, seeing in a later round that q acknowledged round r, and
 * remembering its own entry t_p in round r, holds a lease from q until t_p + leaseMs (its clock). q,
 * asked to revoke p, waits until the last round it received plus leaseMs (with drift) and names p in
 * its `revoked` list from then on, which the relay passes on as an exception (q's acks no longer
 * count for p). Indices are positions in the view the FD header names; any other view is ignored.
 */

/** 0: a member's beat to a relay; 1: a relay's table to the view. */
export interface RelayHeader {
  viewId: number;
  kind: number;
}

export const RELAY_UP = 0;
export const RELAY_DOWN = 1;

/** A header of its own (not FD's), so small groups' beats stay byte for byte as they were. */
export const FD_RELAY_HEADER = defineHeader<RelayHeader>(
  HeaderIds.FD_RELAY,
  'FD_RELAY',
  (w, h) => {
    w.uvar(h.viewId);
    w.u8(h.kind);
  },
  (r) => ({ viewId: r.uvar(), kind: r.u8() }),
);

/** A member's beat to one relay. */
export interface RelayUp {
  /** The sender's clock (whole ms). */
  t: number;
  /** The last round of this relay the sender received (0: none yet). */
  ack: number;
  /** View indices of the members the sender no longer grants a lease to (a view change leaves them out). */
  revoked: number[];
}

/** A relay's table, multicast once per interval. */
export interface RelayDown {
  round: number;
  /** Per view index: the latest clock heard from that member (0: none). */
  ts: number[] | Float64Array;
  /** Per view index: the last round of this relay that member acknowledged (0: none). */
  acks: number[] | Float64Array;
  /** [member, revoked member] view-index pairs: that member's acks do not count for that one. */
  except: [number, number][];
}

export function encodeRelayUp(u: RelayUp): Buffer {
  const w = new Writer(16 + u.revoked.length * 3);
  w.uvar(u.t);
  w.uvar(u.ack);
  w.uvar(u.revoked.length);
  for (const i of u.revoked) w.uvar(i);
  return w.toBytes();
}

/** Throws on malformed bytes; 'too-many' when a list is longer than the view (`n`). */
export function decodeRelayUp(bytes: Buffer, n: number): RelayUp | 'too-many' {
  const r = new Reader(bytes);
  const t = r.uvar();
  const ack = r.uvar();
  const k = r.uvar();
  if (k > n) return 'too-many';
  const revoked: number[] = [];
  for (let i = 0; i < k; i++) revoked.push(r.uvar());
  return { t, ack, revoked };
}

export function encodeRelayDown(d: RelayDown): Buffer {
  const w = new Writer(16 + d.ts.length * 8 + d.except.length * 4);
  w.uvar(d.round);
  w.uvar(d.ts.length);
  for (let i = 0; i < d.ts.length; i++) {
    w.uvar(d.ts[i]!);
    w.uvar(d.acks[i]!);
  }
  w.uvar(d.except.length);
  for (const [a, b] of d.except) {
    w.uvar(a);
    w.uvar(b);
  }
  return w.toBytes();
}

/** Where a member decodes tables: two arrays of the view's size, reused for every table (n tables of n entries per interval). */
export interface RelayScratch {
  ts: Float64Array;
  acks: Float64Array;
}

/**
 * Throws on malformed bytes; 'too-many' when the table is not the view's size or the exceptions
 * outnumber n². With `into`, the entries land in its arrays (valid until the next decode).
 */
export function decodeRelayDown(bytes: Buffer, n: number, into?: RelayScratch): RelayDown | 'too-many' {
  const r = new Reader(bytes);
  const round = r.uvar();
  const len = r.uvar();
  if (len !== n) return 'too-many';
  const ts = into?.ts.length === len ? into.ts : new Float64Array(len);
  const acks = into?.acks.length === len ? into.acks : new Float64Array(len);
  for (let i = 0; i < len; i++) {
    ts[i] = r.uvar();
    acks[i] = r.uvar();
  }
  const k = r.uvar();
  if (k > n * n) return 'too-many';
  const except: [number, number][] = [];
  for (let i = 0; i < k; i++) except.push([r.uvar(), r.uvar()]);
  return { round, ts, acks, except };
}

/** A relay's side: what it heard from each member in the current view. */
export class RelayHub {
  private round = 0;
  private readonly ts: number[];
  private readonly acks: number[];
  private readonly except = new Map<number, number[]>();

  constructor(n: number) {
    this.ts = new Array<number>(n).fill(0);
    this.acks = new Array<number>(n).fill(0);
  }

  /** A member's beat (already checked: `from` and every revoked index are in the view). */
  onUp(from: number, u: RelayUp): void {
    if (u.t > this.ts[from]!) this.ts[from] = u.t;
    // An ack of a round not sent yet proves nothing.
    if (u.ack > this.acks[from]! && u.ack <= this.round) this.acks[from] = u.ack;
    if (u.revoked.length > 0) this.except.set(from, u.revoked.slice());
    else this.except.delete(from);
  }

  /** The next round's table. */
  next(): RelayDown {
    this.round++;
    const except: [number, number][] = [];
    for (const [q, list] of this.except) for (const x of list) except.push([q, x]);
    return { round: this.round, ts: this.ts.slice(), acks: this.acks.slice(), except };
  }
}

/** How many past rounds of each relay a member remembers its own entry of (older acks renew nothing). */
export const ROUNDS_REMEMBERED = 64;

/** A member's side, per relay: the last round received, and its own clock in recent rounds. */
export class RelayFeed {
  lastRound = 0;
  private readonly mine = new Map<number, number>();

  /** Record a round received; false if it is older than one already seen (a duplicate or reordered table). */
  accept(round: number, myT: number): boolean {
    if (round <= this.lastRound) return false;
    this.lastRound = round;
    this.mine.set(round, myT);
    // Rounds grow, so the first key is the oldest (lost rounds leave gaps: count, do not subtract).
    if (this.mine.size > ROUNDS_REMEMBERED)
      for (const old of this.mine.keys()) {
        this.mine.delete(old);
        break;
      }
    return true;
  }

  /** Our clock as that round of this relay carried it (undefined: not remembered, or 0: not heard). */
  mineAt(round: number): number | undefined {
    const t = this.mine.get(round);
    return t === 0 ? undefined : t;
  }
}
