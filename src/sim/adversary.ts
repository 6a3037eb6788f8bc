import fc from 'fast-check';
import { Writer } from '../codec/writer.js';
import { pack } from '../codec/payload.js';
import { FRAME_KIND_BATCH } from '../codec/frame.js';
import { HeaderIds } from '../codec/header-registry.js';
import { FRAME_KIND_DIRECTORY } from '../api/directory.js';
import { membershipSeq, nodeOfMember } from '../core/member-id.js';
import { endpointOf, type NodeId } from '../core/node-id.js';
import type { Rng } from '../core/rng.js';
import type { Adversary, AdversaryContext } from './scenario-vsync.js';
import type { SimNode } from './sim-world.js';
import type { AdversaryKind } from './seed-runner.js';

/*
 * The structured fuzzer of `npm run sim -- --faults all --adversary stranger|member`.
 *
 * Attacks are drawn up front with fast-check (seeded from the simulator seed, so a seed replays
 * exactly) as templates whose member ids and view ids are symbolic ("the target's view + 1", "the
 * coordinator", "another member"); each is resolved against the live run when it is sent, so that
 * wrong values are wrong in interesting ways (a foreign view, another member's id) rather than
 * merely random. Every kind of frame a node reads is covered: each GMS control message, the headers
 * of NAK, FRAG, FC, STABLE (and its aggregated digests), FD (and its relayed beats and tables),
 * CAUSAL, TOTAL, SAFE and APP in the shapes the real stack sends them,
 * COM framing, the node's directory (name service) frames, replays of real frames with bytes
 * flipped, and raw garbage. Encoders here are written by hand from the wire layouts, so that shapes
 * can also be wrong.
 *
 * What the member adversary does not forge, and why. Virtual synchrony (Isis/Horus) tolerates
 * crashes, not lies: a member that says different things to different members under one name in
 * a role it really holds cannot be caught without Byzantine agreement (issue #9 and beyond), so
 * these are left out; everything a correct member could check and refuse stays in.
 * - Data in its own stream (NAK DATA, or a NAK XMIT of its own message) under a sequence number
 *   it also uses, in the target's view or a later one: a unicast to one member is different data
 *   under one of its live numbers, which others fetch from it or from the target. Such frames
 *   are sent with the number moved out of range (OWN_STREAM_FLOOR up); older views, huge
 *   numbers, and data under other members' names are still sent.
 * - Replays of other members' frames: from the member's connection they arrive as its own
 *   stream, under numbers it also uses. A member replays its own frames instead.
 * - Replays with changed bytes: a changed byte in its own data frame is other data under a live
 *   number of its own. A member's replays are sent as they were.
 * - GMS notices only the views' members can know (inRoleLie): telling a member of its own view
 *   that a later view left it out, and installing a first view at a joiner as its coordinator or
 *   as a member the view lists. Such frames are not sent; with an older view id, from outside the
 *   view, or as a member's next view, they are.
 */

// ---- symbolic values ----

/** A member or node id, resolved when sent. */
type IdRef =
  | { k: 'self' }
  | { k: 'target' }
  | { k: 'coord' }
  | { k: 'member'; i: number }
  | { k: 'endpoint'; i: number }
  | { k: 'phantom'; i: number }
  | { k: 'lit'; s: string };

/** A number (view id, sequence number, count), resolved when sent. */
type NumRef = { k: 'view'; d: number } | { k: 'small'; n: number } | { k: 'lit'; n: number };

const idRef: fc.Arbitrary<IdRef> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<IdRef>({ k: 'self' }) },
  { weight: 2, arbitrary: fc.constant<IdRef>({ k: 'target' }) },
  { weight: 2, arbitrary: fc.constant<IdRef>({ k: 'coord' }) },
  { weight: 3, arbitrary: fc.nat(8).map<IdRef>((i) => ({ k: 'member', i })) },
  { weight: 1, arbitrary: fc.nat(8).map<IdRef>((i) => ({ k: 'endpoint', i })) },
  { weight: 1, arbitrary: fc.nat(1000).map<IdRef>((i) => ({ k: 'phantom', i })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map<IdRef>((s) => ({ k: 'lit', s })) },
);

const hugeNumber = fc.constantFrom(2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, Number.MAX_SAFE_INTEGER);
const numRef: fc.Arbitrary<NumRef> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -2, max: 3 }).map<NumRef>((d) => ({ k: 'view', d })) },
  { weight: 3, arbitrary: fc.nat(64).map<NumRef>((n) => ({ k: 'small', n })) },
  { weight: 2, arbitrary: hugeNumber.map<NumRef>((n) => ({ k: 'lit', n })) },
);

/** Something of the wrong type for any field. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string({ maxLength: 20 }),
  fc.double(),
  fc.integer({ min: -(2 ** 31), max: -1 }),
  hugeNumber,
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3, noNullPrototype: true }),
  fc.uint8Array({ maxLength: 16 }),
);

/** Body fields are values with symbols in them: `{ $id }` and `{ $num }` are resolved when sent. */
type Sym = { $id: IdRef } | { $num: NumRef };
const symId = idRef.map<Sym>(($id) => ({ $id }));
const symNum = numRef.map<Sym>(($num) => ({ $num }));

/** Mostly the right shape; now and then the wrong type. */
function field(right: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 6, arbitrary: right }, { weight: 1, arbitrary: wrongValue });
}
function rec(shape: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, a] of Object.entries(shape)) fields[k] = field(a);
  // Sometimes a field is missing altogether.
  return fc
    .record(fields, { requiredKeys: [], noNullPrototype: true })
    .chain((full) =>
      fc
        .boolean()
        .map((drop) => (drop ? full : Object.assign({}, ...Object.keys(shape).map((k) => (k in full ? { [k]: (full as Record<string, unknown>)[k] } : {}))))),
    );
}

const attempt = rec({ n: symNum, coord: symId });
const idList = fc.array(symId, { maxLength: 8 });
const proposal = rec({
  members: idList,
  cut: fc.array(fc.tuple(symId, symNum), { maxLength: 6 }),
  holders: fc.array(fc.tuple(symId, symId), { maxLength: 4 }),
  gb: fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 64 })), { maxLength: 3 }),
});
const installedView = rec({ id: symNum, members: idList });

/** GMS message kinds (GMS.ts): bodies are MessagePack in the payload; a StateChunk's payload is raw bytes under a STATE header. */
const GMS_BODIES: Record<number, fc.Arbitrary<unknown>> = {
  1: rec({ member: symId }), // JoinReq
  2: rec({ member: symId }), // LeaveReq
  3: rec({ view: symNum, a: attempt }), // FlushStart
  4: rec({
    view: symNum,
    a: attempt,
    digest: fc.array(fc.tuple(symId, symNum), { maxLength: 6 }),
    accepted: fc.option(rec({ a: attempt, p: proposal })),
    hasState: fc.boolean(),
    installed: installedView,
  }), // FlushOk
  5: rec({ n: symNum }), // FlushNack
  6: rec({ view: symNum, a: attempt, p: proposal }), // Cut
  7: rec({ view: symNum, a: attempt }), // Done
  8: rec({ view: installedView, stateFrom: fc.option(symId) }), // Install
  9: rec({ view: symNum }), // InstallAck
  10: rec({ view: symNum }), // NotMember
  12: rec({ view: symNum, next: symNum }), // StateAck
  13: rec({ view: symNum, message: fc.string({ maxLength: 30 }) }), // StateFail
  14: rec({ view: symNum }), // FlushReq
  15: rec({
    key: fc.oneof(
      fc.tuple(symId, fc.nat(100)).map(([id, n]) => ({ $key: id, n })),
      fc.string({ maxLength: 20 }),
    ),
    bytes: fc.oneof(fc.constant('app-message'), fc.uint8Array({ maxLength: 64 })),
  }), // Gbcast
  16: rec({ view: symNum }), // InstallReq
};

// ---- message and frame templates ----

type HeaderT =
  | { h: 'APP'; order: number; encoding: number; kind: number; id: NumRef; re: NumRef; to: IdRef }
  | { h: 'TOTAL_DATA'; stamp: NumRef }
  | { h: 'TOTAL_ORDER'; view: NumRef; runs: [NumRef, NumRef][] }
  | { h: 'CAUSAL'; deps: NumRef[] }
  | { h: 'SAFE' }
  | { h: 'FRAG'; id: NumRef; index: NumRef; count: NumRef }
  | { h: 'NAK'; t: number; view: NumRef; seq: NumRef; origin: IdRef; from: NumRef; to: NumRef }
  | { h: 'FC'; t: number; view: NumRef; total: NumRef }
  | { h: 'STABLE'; view: NumRef; entries: [IdRef, NumRef][] }
  | { h: 'FD'; view: NumRef }
  /** Relayed heartbeats of large views (fd/relay-beat.ts): kind 0 a beat to a relay, 1 a relay's table; the body is in the payload. */
  | { h: 'FD_RELAY'; view: NumRef; kind: number }
  /** Aggregated stability of large views (stable/aggregate-header.ts): kind 0 a digest, 1 the minimum, 2 an urgent digest. */
  | { h: 'STABLE_AGG'; view: NumRef; kind: number; round: NumRef; seqs: NumRef[] }
  | { h: 'GMS'; t: number }
  /** A state chunk's place in the stream (GMS StateChunk: its payload is the raw bytes). */
  | { h: 'STATE'; view: NumRef; offset: NumRef; size: NumRef; ackNow: boolean }
  | { h: 'RAW'; id: number; bytes: Uint8Array };

type PayloadT = { p: 'bytes'; b: Uint8Array } | { p: 'gms'; body: unknown } | { p: 'app-message' };

interface MsgT {
  flags: number;
  dest: IdRef;
  headers: HeaderT[];
  payload: PayloadT;
}

type FrameT =
  | { f: 'group'; group: string | null; msgs: MsgT[]; lie: 'none' | 'count' | 'length' | 'trailing' | 'truncate'; kind: number | null }
  | { f: 'directory'; body: unknown }
  | { f: 'garbage'; b: Uint8Array }
  | { f: 'replay'; index: number; flips: [number, number][] };

interface AttackT {
  /** Which member gets it. */
  to: IdRef;
  frame: FrameT;
  /** Virtual ms until the next attack. */
  gapMs: number;
}

const appH = fc.record({
  h: fc.constant('APP' as const),
  order: fc.nat(3),
  encoding: fc.nat(1),
  kind: fc.oneof(fc.constant(0), fc.nat(3)),
  id: numRef,
  re: numRef,
  to: idRef,
});
const nakH = (t: fc.Arbitrary<number>): fc.Arbitrary<HeaderT> =>
  fc.record({ h: fc.constant('NAK' as const), t, view: numRef, seq: numRef, origin: idRef, from: numRef, to: numRef });
const nakData = nakH(fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(2) }));
const headerAny: fc.Arbitrary<HeaderT> = fc.oneof(
  appH,
  fc.record({ h: fc.constant('TOTAL_DATA' as const), stamp: numRef }),
  fc.record({ h: fc.constant('TOTAL_ORDER' as const), view: numRef, runs: fc.array(fc.tuple(numRef, numRef), { maxLength: 5 }) }),
  fc.record({ h: fc.constant('CAUSAL' as const), deps: fc.array(numRef, { maxLength: 10 }) }),
  fc.constant<HeaderT>({ h: 'SAFE' }),
  fc.record({ h: fc.constant('FRAG' as const), id: numRef, index: numRef, count: numRef }),
  nakH(fc.oneof(fc.integer({ min: 1, max: 4 }), fc.nat(255))),
  fc.record({ h: fc.constant('FC' as const), t: fc.oneof(fc.integer({ min: 1, max: 2 }), fc.nat(255)), view: numRef, total: numRef }),
  fc.record({ h: fc.constant('STABLE' as const), view: numRef, entries: fc.array(fc.tuple(idRef, numRef), { maxLength: 8 }) }),
  fc.record({ h: fc.constant('FD' as const), view: numRef }),
  fc.record({ h: fc.constant('FD_RELAY' as const), view: numRef, kind: fc.oneof(fc.nat(1), fc.nat(255)) }),
  fc.record({
    h: fc.constant('STABLE_AGG' as const),
    view: numRef,
    kind: fc.oneof(fc.nat(2), fc.nat(255)),
    round: numRef,
    seqs: fc.array(numRef, { maxLength: 24 }),
  }),
  fc.record({ h: fc.constant('GMS' as const), t: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.nat(255)) }),
  fc.record({ h: fc.constant('RAW' as const), id: fc.nat(255), bytes: fc.uint8Array({ maxLength: 24 }) }),
);

const bytesP = fc.uint8Array({ maxLength: 200 }).map<PayloadT>((b) => ({ p: 'bytes', b }));
/** A run of unsigned varints, as relay beats and tables are made of (small counts and indices, some huge). */
const uvarsP = fc.array(fc.oneof({ weight: 4, arbitrary: fc.nat(70) }, { weight: 1, arbitrary: fc.nat() }), { maxLength: 48 }).map<PayloadT>((list) => {
  const w = new Writer(list.length * 5 + 1);
  for (const v of list) w.uvar(v);
  return { p: 'bytes', b: w.toBytes() };
});
const uni = fc.constant(2);
const mcastReliable = fc.constant(1);
const mcastUnreliable = fc.constant(3);
const toTarget = fc.oneof({ weight: 8, arbitrary: fc.constant<IdRef>({ k: 'target' }) }, { weight: 1, arbitrary: idRef });

function msg(flags: fc.Arbitrary<number>, headers: fc.Arbitrary<HeaderT[]>, payload: fc.Arbitrary<PayloadT> = bytesP): fc.Arbitrary<MsgT> {
  return fc.record({ flags, dest: toTarget, headers, payload });
}

/** Messages in the shapes the real stack sends (header lists in push order, as on the wire). */
const shapedMsg: fc.Arbitrary<MsgT> = fc.oneof(
  // Every GMS control message, with a body of (mostly) the right shape.
  fc.constantFrom(...Object.keys(GMS_BODIES).map(Number)).chain((t) =>
    msg(
      uni,
      fc.constant<HeaderT[]>([{ h: 'GMS', t }]),
      GMS_BODIES[t]!.map<PayloadT>((body) => ({ p: 'gms', body })),
    ),
  ),
  msg(
    uni,
    fc.record({ view: numRef, offset: numRef, size: numRef, ackNow: fc.boolean() }).map<HeaderT[]>((st) => [
      { h: 'STATE', ...st },
      { h: 'GMS', t: 11 },
    ]),
    fc.uint8Array({ maxLength: 64 }).map<PayloadT>((b) => ({ p: 'bytes', b })),
  ),
  // Application data through the ordering layers, then NAK.
  msg(
    fc.oneof(mcastReliable, uni),
    fc
      .tuple(
        appH,
        fc.option(numRef),
        fc.option(fc.record({ h: fc.constant('CAUSAL' as const), deps: fc.array(numRef, { maxLength: 10 }) })),
        fc.boolean(),
        nakData,
      )
      .map(([app, total, causal, safe, nak]) => {
        const hs: HeaderT[] = [app];
        if (total !== null) hs.push({ h: 'TOTAL_DATA', stamp: total });
        if (causal) hs.push(causal);
        if (safe) hs.push({ h: 'SAFE' });
        hs.push(nak);
        return hs;
      }),
  ),
  msg(
    fc.oneof(mcastReliable, uni),
    fc
      .tuple(fc.record({ h: fc.constant('TOTAL_ORDER' as const), view: numRef, runs: fc.array(fc.tuple(numRef, numRef), { maxLength: 5 }) }), nakData)
      .map((hs) => hs as HeaderT[]),
  ),
  msg(
    fc.oneof(mcastReliable, uni),
    fc.tuple(fc.record({ h: fc.constant('FRAG' as const), id: numRef, index: numRef, count: numRef }), fc.option(nakData)).map(([f, n]) => (n ? [f, n] : [f])),
    fc.uint8Array({ maxLength: 600 }).map<PayloadT>((b) => ({ p: 'bytes', b })),
  ),
  msg(
    uni,
    fc.record({ h: fc.constant('FC' as const), t: fc.integer({ min: 1, max: 2 }), view: numRef, total: numRef }).map((h) => [h]),
  ),
  msg(
    mcastUnreliable,
    nakH(fc.integer({ min: 3, max: 4 })).map((h) => [h]),
  ),
  msg(
    uni,
    nakH(fc.constant(3)).map((h) => [h]),
  ),
  msg(
    mcastUnreliable,
    fc.record({ h: fc.constant('FD' as const), view: numRef }).map((h) => [h]),
  ),
  msg(
    mcastUnreliable,
    fc.record({ h: fc.constant('STABLE' as const), view: numRef, entries: fc.array(fc.tuple(idRef, numRef), { maxLength: 8 }) }).map((h) => [h]),
  ),
  // A beat to a relay (unicast) or a relay's table (multicast), each with a body of varints.
  msg(
    uni,
    fc.record({ h: fc.constant('FD_RELAY' as const), view: numRef, kind: fc.constant(0) }).map((h) => [h]),
    uvarsP,
  ),
  msg(
    mcastUnreliable,
    fc.record({ h: fc.constant('FD_RELAY' as const), view: numRef, kind: fc.constant(1) }).map((h) => [h]),
    uvarsP,
  ),
  // An aggregated digest to the coordinator, or a minimum to the view.
  msg(
    uni,
    fc
      .record({ h: fc.constant('STABLE_AGG' as const), view: numRef, kind: fc.constantFrom(0, 2), round: numRef, seqs: fc.array(numRef, { maxLength: 24 }) })
      .map((h) => [h]),
    fc.constant<PayloadT>({ p: 'bytes', b: new Uint8Array(0) }),
  ),
  msg(
    mcastUnreliable,
    fc
      .record({ h: fc.constant('STABLE_AGG' as const), view: numRef, kind: fc.constant(1), round: numRef, seqs: fc.array(numRef, { maxLength: 24 }) })
      .map((h) => [h]),
    fc.constant<PayloadT>({ p: 'bytes', b: new Uint8Array(0) }),
  ),
);

/** Wrong shapes: random header lists, unknown flags and header ids, random payloads. */
const shapelessMsg: fc.Arbitrary<MsgT> = fc.record({
  flags: fc.oneof({ weight: 4, arbitrary: fc.nat(3) }, { weight: 1, arbitrary: fc.nat(255) }),
  dest: toTarget,
  headers: fc.array(headerAny, { maxLength: 6 }),
  payload: fc.oneof(
    bytesP,
    fc.constant<PayloadT>({ p: 'app-message' }),
    fc.jsonValue({ maxDepth: 2 }).map<PayloadT>((body) => ({ p: 'gms', body })),
  ),
});

const directoryBody: fc.Arbitrary<unknown> = fc.oneof(
  rec({ t: fc.constant('lookup'), group: fc.oneof(fc.constant('vs'), fc.string({ maxLength: 10 })), req: symNum }),
  rec({ t: fc.constant('info'), req: symNum, group: fc.constant('vs'), info: fc.option(rec({ group: fc.constant('vs'), viewId: symNum, members: idList })) }),
  rec({ t: fc.constant('list'), req: symNum }),
  rec({
    t: fc.constant('listing'),
    req: symNum,
    groups: fc.array(rec({ group: fc.string({ maxLength: 8 }), viewId: symNum, members: idList }), { maxLength: 20 }),
  }),
  fc.jsonValue({ maxDepth: 2 }),
);

const frameT: fc.Arbitrary<FrameT> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      f: fc.constant('group' as const),
      group: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
      msgs: fc.array(fc.oneof({ weight: 3, arbitrary: shapedMsg }, { weight: 1, arbitrary: shapelessMsg }), { minLength: 1, maxLength: 4 }),
      lie: fc.oneof(
        { weight: 12, arbitrary: fc.constant('none' as const) },
        { weight: 1, arbitrary: fc.constantFrom('count' as const, 'length' as const, 'trailing' as const, 'truncate' as const) },
      ),
      kind: fc.oneof({ weight: 20, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(255) }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ f: fc.constant('directory' as const), body: directoryBody }) },
  { weight: 1, arbitrary: fc.record({ f: fc.constant('garbage' as const), b: fc.uint8Array({ maxLength: 300 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ f: fc.constant('replay' as const), index: fc.nat(31), flips: fc.array(fc.tuple(fc.nat(4000), fc.nat(255)), { maxLength: 3 }) }),
  },
);

const attackT: fc.Arbitrary<AttackT> = fc.record({
  to: fc.oneof({ weight: 4, arbitrary: fc.constant<IdRef>({ k: 'member', i: 0 }) }, { weight: 4, arbitrary: idRef }),
  frame: frameT,
  gapMs: fc.integer({ min: 2, max: 40 }),
});

// ---- resolving and encoding ----

export interface Scope {
  self: NodeId;
  target: NodeId;
  targetView: number;
  members: readonly NodeId[];
  endpoints: readonly string[];
  group: string;
  /** The adversary is a member: `self` is a real member id, with a real stream of its own. */
  insider: boolean;
  /** The members of the target's view (empty: it is joining). */
  targetMembers: readonly NodeId[];
  /** Set while encoding when the frame turned out to be a lie in a role the member holds (see the top): not sent. */
  inRole?: string;
}

/** Own-stream sequence numbers are moved up to here (out of any receiver's window): see the top. */
const OWN_STREAM_FLOOR = 2 ** 20;

function resolveId(r: IdRef, s: Scope): string {
  switch (r.k) {
    case 'self':
      return s.self;
    case 'target':
      return s.target;
    case 'coord':
      return s.members[0] ?? s.target;
    case 'member':
      return s.members.length > 0 ? s.members[r.i % s.members.length]! : s.target;
    case 'endpoint':
      return s.endpoints[r.i % s.endpoints.length]!;
    case 'phantom':
      return `ghost${r.i}:7000/1`;
    case 'lit':
      return r.s;
  }
}

function resolveNum(r: NumRef, s: Scope): number {
  switch (r.k) {
    case 'view':
      return Math.max(0, s.targetView + r.d);
    case 'small':
      return r.n;
    case 'lit':
      return r.n;
  }
}

/** Replace `{ $id }`, `{ $num }` and `{ $key }` symbols in a body by their values. */
function resolveBody(v: unknown, s: Scope, appMessage: () => Uint8Array): unknown {
  if (v === 'app-message') return appMessage();
  if (Array.isArray(v)) return v.map((x) => resolveBody(x, s, appMessage));
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  const o = v as Record<string, unknown>;
  if ('$id' in o) return resolveId(o['$id'] as IdRef, s);
  if ('$num' in o) return resolveNum(o['$num'] as NumRef, s);
  if ('$key' in o) return `${resolveId(o['$key'] as IdRef, s)}:${o['n'] as number}`;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = resolveBody(x, s, appMessage);
  return out;
}

/** uvar of any number: the wire has no negatives or fractions, so those become what a peer could send. */
function uvar(w: Writer, n: number): void {
  w.uvar(Number.isFinite(n) && n >= 0 ? Math.floor(Math.min(n, Number.MAX_SAFE_INTEGER)) : 0);
}

function writeHeader(w: Writer, h: HeaderT, s: Scope): void {
  const n = (r: NumRef): void => uvar(w, resolveNum(r, s));
  switch (h.h) {
    case 'APP':
      w.u8(HeaderIds.APP);
      w.u8((h.order & 3) | ((h.encoding & 1) << 2) | ((h.kind & 3) << 3));
      n(h.id);
      if (h.kind === 2) {
        n(h.re);
        w.str(resolveId(h.to, s));
      }
      return;
    case 'TOTAL_DATA':
      w.u8(HeaderIds.TOTAL);
      w.u8(1);
      n(h.stamp);
      return;
    case 'TOTAL_ORDER':
      w.u8(HeaderIds.TOTAL);
      w.u8(2);
      n(h.view);
      uvar(w, h.runs.length);
      for (const [i, c] of h.runs) {
        n(i);
        n(c);
      }
      return;
    case 'CAUSAL':
      // (member, count) pairs: uvar(pairs) then pairs x (uvar index, uvar count).
      w.u8(HeaderIds.CAUSAL);
      uvar(w, h.deps.length >> 1);
      for (const x of h.deps.slice(0, (h.deps.length >> 1) * 2)) n(x);
      return;
    case 'SAFE':
      // No dependencies (uvar count 0): see SAFE_HEADER.
      w.u8(HeaderIds.SAFE);
      uvar(w, 0);
      return;
    case 'FRAG':
      w.u8(HeaderIds.FRAG);
      n(h.id);
      n(h.index);
      n(h.count);
      return;
    case 'NAK': {
      w.u8(HeaderIds.NAK);
      w.u8(h.t);
      const view = resolveNum(h.view, s);
      uvar(w, view);
      const origin = h.t === 2 || h.t === 3 ? resolveId(h.origin, s) : null;
      if (origin !== null) w.str(origin);
      if (h.t === 3) {
        n(h.from);
        n(h.to);
        return;
      }
      // Our own stream (data, or a retransmission of our own message) in a view the target has or
      // will have: a sequence number we also use for our real messages would be equivocation.
      const seq = resolveNum(h.seq, s);
      const ownStream = s.insider && (h.t === 1 || (h.t === 2 && origin === s.self)) && view >= s.targetView;
      uvar(w, ownStream && seq < OWN_STREAM_FLOOR ? OWN_STREAM_FLOOR + seq : seq);
      return;
    }
    case 'FC':
      w.u8(HeaderIds.FC);
      w.u8(h.t);
      n(h.view);
      n(h.total);
      return;
    case 'STABLE':
      w.u8(HeaderIds.STABLE);
      n(h.view);
      uvar(w, h.entries.length);
      for (const [id, seq] of h.entries) {
        w.str(resolveId(id, s));
        n(seq);
      }
      return;
    case 'FD':
      w.u8(HeaderIds.FD);
      n(h.view);
      return;
    case 'FD_RELAY':
      w.u8(HeaderIds.FD_RELAY);
      n(h.view);
      w.u8(h.kind & 255);
      return;
    case 'STABLE_AGG':
      w.u8(HeaderIds.STABLE_AGG);
      n(h.view);
      w.u8(h.kind & 255);
      n(h.round);
      uvar(w, h.seqs.length);
      for (const q of h.seqs) n(q);
      return;
    case 'GMS':
      w.u8(HeaderIds.GMS);
      w.u8(h.t);
      return;
    case 'STATE':
      w.u8(HeaderIds.STATE);
      n(h.view);
      n(h.offset);
      n(h.size);
      w.u8(h.ackNow ? 1 : 0);
      return;
    case 'RAW':
      w.u8(h.id);
      w.bytes(h.bytes);
      return;
  }
}

function packOrRaw(v: unknown): Uint8Array {
  try {
    return pack(v);
  } catch {
    return Buffer.from(JSON.stringify(v) ?? 'null');
  }
}

/** A plausible application message (as a gbcast carries it): APP header, order 'group', some bytes. */
function appMessageBytes(s: Scope, id: number): Uint8Array {
  const w = new Writer(64);
  w.u8(1); // multicast
  w.u8(1);
  w.u8(HeaderIds.APP);
  w.u8(3);
  w.uvar(id);
  w.bytes(Buffer.from(`forged by ${s.self}`));
  return w.toBytes();
}

function writeMessage(w: Writer, m: MsgT, s: Scope): void {
  w.u8(m.flags);
  if (!(m.flags & 1)) w.str(resolveId(m.dest, s));
  w.u8(m.headers.length);
  for (const h of m.headers) writeHeader(w, h, s);
  const p = m.payload;
  switch (p.p) {
    case 'bytes':
      w.bytes(p.b);
      return;
    case 'gms': {
      const body = resolveBody(p.body, s, () => appMessageBytes(s, 1 + (w.pos % 97)));
      const gms = m.headers.find((h): h is Extract<HeaderT, { h: 'GMS' }> => h.h === 'GMS');
      if (s.insider && gms !== undefined) s.inRole ??= inRoleLie(gms.t, body, s) ?? undefined;
      w.bytes(packOrRaw(body));
      return;
    }
    case 'app-message':
      w.bytes(appMessageBytes(s, 7));
      return;
  }
}

/**
 * A GMS notice the member adversary would send as a lie in a role it really holds (see the top),
 * which no receiver can check and which leaves it stuck: why, or null. Two: telling a fellow member
 * of its view that a later view left it out (only the views' members know; with two members the
 * liar is half of the view, and the told member's clean leave then waits on the liar for good:
 * seed 170), and a view install sent to a joiner by the coordinator or a member the view lists (a
 * joiner takes its first view from either, and a view numbered 2^32 - 1 is never followed: seed
 * 279). A forged next view for a member is still sent: members recover from it, and the fuzzer
 * keeps checking that they do.
 */
export function inRoleLie(t: number, body: unknown, s: Scope): string | null {
  if (body === null || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  const mine = (m: unknown): boolean => typeof m === 'string' && nodeOfMember(m) === nodeOfMember(s.self);
  if (t === 10 && s.targetMembers.some(mine) && typeof b['view'] === 'number' && b['view'] > s.targetView) return 'a later view left the target out';
  const v = b['view'];
  if (t === 8 && s.targetMembers.length === 0 && v !== null && typeof v === 'object') {
    const members = (v as Record<string, unknown>)['members'];
    if ((Array.isArray(members) && members.some(mine)) || mine(s.members[0])) return 'a first view for a joiner';
  }
  return null;
}

function encodeFrame(f: FrameT, s: Scope, seen: readonly Uint8Array[]): Uint8Array {
  switch (f.f) {
    case 'garbage':
      return f.b;
    case 'directory':
      return Buffer.concat([Buffer.of(FRAME_KIND_DIRECTORY), packOrRaw(resolveBody(f.body, s, () => new Uint8Array(0)))]);
    case 'replay': {
      const orig = seen[f.index % Math.max(1, seen.length)];
      if (orig === undefined) return Buffer.of(FRAME_KIND_BATCH);
      const b = Buffer.from(orig);
      // A member replays its own frames as they were (see the top): changed, they would carry other data under its live sequence numbers.
      if (!s.insider) for (const [at, v] of f.flips) if (b.length > 0) b[at % b.length] = v;
      return b;
    }
    case 'group': {
      const w = new Writer(256);
      w.u8(f.kind ?? FRAME_KIND_BATCH);
      w.str(f.group ?? s.group);
      w.uvar(membershipSeq(s.self));
      const countAt = w.reserveU32();
      for (const m of f.msgs) {
        const at = w.reserveU32();
        writeMessage(w, m, s);
        w.patchU32(at, f.lie === 'length' && m === f.msgs[0] ? 0xffff : w.pos - at - 4);
      }
      w.patchU32(countAt, f.lie === 'count' ? f.msgs.length + 1000 : f.msgs.length);
      if (f.lie === 'trailing') w.bytes(Buffer.of(0, 1, 2));
      const out = w.toBytes();
      return f.lie === 'truncate' ? out.subarray(0, Math.max(1, out.length >> 1)) : out;
    }
  }
}

/** What a frame carries, for the per-node tally: each message's innermost header, or the frame kind. */
function kindsOf(f: FrameT): string[] {
  if (f.f !== 'group') return [f.f];
  return f.msgs.map((m) => {
    const h = m.headers.at(0);
    if (h === undefined) return 'no-header';
    return h.h === 'GMS' ? `GMS:${h.t}` : h.h === 'NAK' ? `NAK:${h.t}` : h.h === 'FC' ? `FC:${h.t}` : h.h === 'RAW' ? 'RAW' : h.h;
  });
}

/** A resolved body as short JSON (bytes shown by length). */
function show(v: unknown, s: Scope): string {
  const json = JSON.stringify(
    resolveBody(v, s, () => new Uint8Array(0)),
    (_k, x: unknown) => (x instanceof Uint8Array ? `<${x.length} bytes>` : x),
  );
  return json === undefined ? 'undefined' : json.length > 160 ? `${json.slice(0, 160)}...` : json;
}

function describe(a: AttackT, bytes: Uint8Array, s: Scope): string {
  const f = a.frame;
  switch (f.f) {
    case 'group': {
      const msgs = f.msgs.map((m) => {
        const hs = m.headers
          .map((h) => (h.h === 'GMS' ? `GMS:${h.t}` : h.h === 'NAK' ? `NAK:${h.t}` : h.h === 'FC' ? `FC:${h.t}` : h.h === 'RAW' ? `RAW:${h.id}` : h.h))
          .join(',');
        const body = m.payload.p === 'gms' ? ` ${show(m.payload.body, s)}` : '';
        return `[flags ${m.flags} ${hs}${body}]`;
      });
      const lie = f.lie !== 'none' ? ` lie=${f.lie}` : '';
      const kind = f.kind !== null ? ` kind=${f.kind}` : '';
      return `group frame (${bytes.length} B${lie}${kind}${f.group !== null ? ` group=${JSON.stringify(f.group)}` : ''}) ${msgs.join(' ')}`;
    }
    case 'directory':
      return `directory frame ${show(f.body, s)}`;
    case 'garbage':
      return `garbage (${bytes.length} B)`;
    case 'replay':
      return `replayed frame #${f.index} with ${f.flips.length} bytes changed (${bytes.length} B)`;
  }
}

/** FNV-1a: tells forged frames from the member's genuine ones when they land. */
function fingerprint(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return `${b.length}:${(h >>> 0).toString(16)}`;
}

/** How many attacks are drawn per seed at most (a run of 14 s sends about 650). */
const MAX_ATTACKS = 2000;
/** Real frames kept for replays. */
const SEEN_FRAMES = 32;

class Fuzzer implements Adversary {
  /** Recent forged frames that landed, per receiving node: explains a failure there. */
  private readonly landed = new Map<NodeId, string[]>();
  private readonly inFlight = new Map<string, { what: string; kinds: string[] }>();
  /** Per receiving node: how many forged messages of each kind landed (GMS:10, NAK:3, directory...). */
  private readonly tally = new Map<NodeId, Map<string, number>>();
  private readonly seen: Uint8Array[] = [];
  private seenCount = 0;
  private captured = 0;
  /** The member adversary's endpoint (each incarnation there is the same adversary). */
  private insider: string | null = null;

  constructor(
    private readonly kind: AdversaryKind,
    private readonly fcSeed: number,
  ) {}

  start(ctx: AdversaryContext): void {
    const { world } = ctx;
    const rng: Rng = world.forkRng(`adversary:${this.kind}`);
    const first = 1200 + rng.float() * 200;
    const attacks = fc.sample(attackT, { seed: this.fcSeed, numRuns: Math.min(MAX_ATTACKS, Math.ceil((ctx.until - first) / 10)) });
    const stranger: SimNode | null = this.kind === 'stranger' ? world.addNode('stranger:6666', '1') : null;
    // The stranger holds no key: the handshake would prove nothing of it.
    if (stranger !== null) world.withoutIdentity('stranger:6666');
    // The stranger reads nothing; it may be answered (directory info, "not a member"), which is fine.
    if (stranger) stranger.env.transport.onFrame(() => {});
    const insider = ctx.endpoints[rng.int(0, ctx.endpoints.length - 1)]!;
    if (this.kind === 'member') this.insider = insider;
    let adversaryNode: NodeId | null = stranger?.id ?? null;

    world.onDeliver = (from, to, bytes) => {
      // Keep a sample of genuine traffic to replay with bytes changed.
      // A stranger replays others' frames; a member only its own (see the top: others' streams
      // would arrive as its own, under sequence numbers it also uses).
      const replayable = this.kind === 'member' ? from === adversaryNode && !this.inFlight.has(fingerprint(bytes)) : from !== adversaryNode;
      if (replayable && this.seenCount++ % 53 === 0) this.seen[this.captured++ % SEEN_FRAMES] = new Uint8Array(bytes);
      if (from !== adversaryNode || this.inFlight.size === 0) return;
      const key = fingerprint(bytes);
      const sent = this.inFlight.get(key);
      if (sent === undefined) return;
      this.inFlight.delete(key);
      let l = this.landed.get(to);
      if (!l) this.landed.set(to, (l = []));
      l.push(`${sent.what} at ${world.now().toFixed(1)}`);
      let t = this.tally.get(to);
      if (!t) this.tally.set(to, (t = new Map()));
      for (const k of sent.kinds) t.set(k, (t.get(k) ?? 0) + 1);
      if (l.length > 3) l.shift();
    };

    let i = 0;
    const next = (): void => {
      const a = attacks[i++];
      if (a === undefined || world.now() > ctx.until) return;
      world.scheduler.schedule(a.gapMs, next);
      const members = ctx.members();
      const inside = members.find((m) => m.endpoint === insider);
      const sender = stranger ?? inside?.node;
      if (!sender || sender.status !== 'up') return;
      adversaryNode = sender.id;
      const others = members.filter((m) => m.node !== sender);
      if (others.length === 0) return;
      const ids = members.map((m) => m.id);
      const viewed = members.find((m) => m.view.id > 0)?.view;
      const self = inside?.id ?? sender.id;
      const pick = resolveId(a.to, {
        self,
        target: others[0]!.id,
        targetView: 0,
        members: ids,
        endpoints: ctx.endpoints,
        group: ctx.group,
        insider: false,
        targetMembers: [],
      });
      const target = others.find((m) => m.id === pick) ?? others[(pick.length + i) % others.length]!;
      const scope: Scope = {
        self,
        target: target.id,
        targetView: target.view.id || (viewed?.id ?? 0),
        members: viewed?.members ?? ids,
        endpoints: ctx.endpoints,
        group: ctx.group,
        insider: inside !== undefined,
        targetMembers: target.view.id > 0 ? target.view.members : [],
      };
      const bytes = encodeFrame(a.frame, scope, this.seen);
      if (scope.inRole !== undefined) return;
      this.inFlight.set(fingerprint(bytes), { what: describe(a, bytes, scope), kinds: kindsOf(a.frame) });
      if (this.inFlight.size > 256) this.inFlight.delete(this.inFlight.keys().next().value!);
      sender.env.transport.send(target.node.id, bytes);
    };
    world.scheduler.schedule(first, next);
  }

  speaksAs(member: NodeId): boolean {
    return this.insider !== null && endpointOf(nodeOfMember(member)) === this.insider;
  }

  explain(node: NodeId): string[] {
    const t = this.tally.get(node);
    if (t === undefined) return [];
    const counts = [...t].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} x${n}`);
    return [`in all: ${counts.join(', ')}`, ...(this.landed.get(node) ?? [])];
  }
}

/** A fuzzer for one seed; its fast-check seed is derived from the simulator seed. */
export function makeAdversary(kind: AdversaryKind, seed: number): Adversary {
  return new Fuzzer(kind, (Math.imul(seed, 0x9e3779b1) ^ (kind === 'member' ? 0x5bd1e995 : 0x1b873593)) | 0);
}
