import { defineHeader, HeaderIds } from '../../codec/header-registry.js';
import { Reader } from '../../codec/reader.js';
import { Writer } from '../../codec/writer.js';

/**
 * Relayed heartbeats for large views (FD option `relayFrom`). Below that size every member
 * heartbeats every other (n² beats per interval). From it up, `relayCount` members of the view (the
 * ones after the coordinator) are relays, and they take turns: rounds are numbered for the whole
 * view, and round r is multicast by relay (r − 1) mod relayCount (`RelayDown`: the round number,
 * the latest `t` known of every member, and the last round each member acknowledged). Each member
 * answers a round at once with one small beat (`RelayUp`: its clock `t`, the last round it received,
 * the members it no longer grants) to the relay whose turn is next, which merges the table it
 * received with the beats into the next round. So a round costs about 2n messages, not n², and each
 * relay carries a third of them (before 2026-12-04 the first relay sent every round and took every
 * beat, and the others stood by). A relay whose turn passes without its round is presumed dead
 * until a round of its own arrives: the next relay takes its turn after a short wait, later ones at
 * once (FD.ts).
 *
 * Why this still renews leases soundly: member q acknowledging round r means q received that
 * round's table, built after some relay heard t_p from p (directly, or through an earlier round it
 * merged): q heard p "at or after t_p", exactly what a direct echo of t_p proves. So p, seeing in a
 * later round that q acknowledged round r, and remembering its own entry t_p in round r, holds a
 * lease from q until t_p + leaseMs (its clock). q, asked to revoke p, waits until the last round it
 * received plus leaseMs (with drift) and names p in its `revoked` list from then on, which the relays
 * pass on as an exception (q's acks no longer count for p). Exceptions only accumulate within a view
 * (a revoke is never taken back before the next view), so a merged round that carries q's later ack
 * carries the exception too. Indices are positions in the view the FD header names; any other view
 * is ignored.
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
  /** The last round the sender received (0: none yet). */
  ack: number;
  /** View indices of the members the sender no longer grants a lease to (a view change leaves them out). */
  revoked: number[];
}

/** A relay's table for one round, multicast to the view. */
export interface RelayDown {
  round: number;
  /** Per view index: the latest clock heard from that member (0: none). */
  ts: number[] | Float64Array;
  /** Per view index: the last round that member acknowledged (0: none). */
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

/** The relay (index among the view's relays) whose turn round `round` is (rounds count from 1). */
export function producerOf(round: number, relays: number): number {
  return (round - 1) % relays;
}

/** A relay's side: what it heard from each member in the current view, directly or through the rounds of the others. */
export class RelayHub {
  /** The highest round this relay knows was sent (its own, or one it received). */
  private known = 0;
  private readonly ts: number[];
  private readonly acks: number[];
  /** Per member: the members its acks do not count for (only grows within a view). */
  private readonly except = new Map<number, Set<number>>();

  constructor(
    n: number,
    /** How many relays take turns: an ack may name a round up to one turn of each past what we know of. */
    private readonly relays: number,
  ) {
    this.ts = new Array<number>(n).fill(0);
    this.acks = new Array<number>(n).fill(0);
  }

  /** A member's beat (already checked: `from` and every revoked index are in the view). */
  onUp(from: number, u: RelayUp): void {
    if (u.t > this.ts[from]!) this.ts[from] = u.t;
    // An ack of a round far past any sent proves nothing (one we missed is fine: it came from another relay).
    if (u.ack > this.acks[from]! && u.ack <= this.known + this.relays) this.acks[from] = u.ack;
    this.addExcept(from, u.revoked);
  }

  /** Another relay's round, received: the next round of ours carries what it knew too. */
  absorb(d: RelayDown): void {
    if (d.round > this.known) this.known = d.round;
    for (let i = 0; i < this.ts.length; i++) {
      if (d.ts[i]! > this.ts[i]!) this.ts[i] = d.ts[i]!;
      if (d.acks[i]! > this.acks[i]!) this.acks[i] = d.acks[i]!;
    }
    for (const [q, x] of d.except) this.addExcept(q, [x]);
  }

  /** Our table for round `round` (our turn). */
  next(round: number): RelayDown {
    if (round > this.known) this.known = round;
    const except: [number, number][] = [];
    for (const [q, set] of this.except) for (const x of set) except.push([q, x]);
    return { round, ts: this.ts.slice(), acks: this.acks.slice(), except };
  }

  private addExcept(q: number, list: readonly number[]): void {
    if (list.length === 0) return;
    let set = this.except.get(q);
    if (set === undefined) this.except.set(q, (set = new Set()));
    for (const x of list) set.add(x);
  }
}

/** How many past rounds a member remembers its own entry of (older acks renew nothing). */
export const ROUNDS_REMEMBERED = 64;

/** A member's side: the last round received (from any relay), and its own clock in recent rounds. */
export class RelayFeed {
  lastRound = 0;
  private readonly mine = new Map<number, number>();

  /** Record a round received; false if it is older than one already seen (a duplicate, or a late turn). */
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

  /** Our clock as that round carried it (undefined: not remembered, or 0: not heard). */
  mineAt(round: number): number | undefined {
    const t = this.mine.get(round);
    return t === 0 ? undefined : t;
  }
}
