import { z } from 'zod';
import { ProtocolError } from '../../core/errors.js';
import { wire, MAX_ID_BYTES } from '../../core/input-guard.js';
import { nodeOfMember } from '../../core/member-id.js';
import type { NodeId } from '../../core/node-id.js';
import { defineHeader, HeaderIds } from '../../codec/header-registry.js';
import { unpack } from '../../codec/payload.js';

/** GMS message kinds; bodies travel as MessagePack in the payload (StateChunk: binary). */
export enum G {
  JoinReq = 1,
  LeaveReq = 2,
  FlushStart = 3,
  FlushOk = 4,
  FlushNack = 5,
  Cut = 6,
  Done = 7,
  Install = 8,
  InstallAck = 9,
  NotMember = 10,
  StateChunk = 11,
  StateAck = 12,
  StateFail = 13,
  /** A frozen member asks the coordinator to finish a view change that nobody is driving. */
  FlushReq = 14,
  /** A member hands a gbcast to the coordinator, to be delivered at the next view change. */
  Gbcast = 15,
  /** "I am still in view v": a member of v+1 resends the install it missed. */
  InstallReq = 16,
  /** Coordinator to a process that asked to join, on its own id: prove you are there. */
  JoinChallenge = 17,
  /** The joiner's answer to a challenge, from its own connection: only then is it admitted. */
  JoinAnswer = 18,
  /** Coordinator to a joiner the group's access-control list refuses. */
  Denied = 19,
  /** Only inside a gbcast: the group's new access-control list, applied at the same point at every member. */
  AclSet = 20,
  /** Coordinator to a joiner it admitted: the view change that takes it in is under way (the joiner waits on). */
  JoinWait = 21,
}

export const GMS_HEADER = defineHeader<number>(
  HeaderIds.GMS,
  'GMS',
  (w, t) => w.u8(t),
  (r) => {
    const t = r.u8();
    if (t < G.JoinReq || t > G.JoinWait) throw new ProtocolError('ERR_MALFORMED', `unknown GMS message ${t}`);
    return t;
  },
);

/**
 * Control messages a CRYPT layer below GMS sends and hears in clear: those that carry no
 * application data. A process may have to read them without the key of the sender's view: a joiner
 * (the join protocol, its install, whose keys are sealed), a member behind (an install, an
 * "installed" flush reply, a flush start of the next view that tells it to ask for its install, a
 * "not a member" notice). Their integrity rests on the transport's authentication and GMS's sender
 * rules, as without CRYPT. State chunks, gbcasts, cuts (their gbcasts) and ordinary flush replies
 * (an accepted proposal's gbcasts) are always sealed.
 */
const CLEAR_KINDS: ReadonlySet<G> = new Set([
  G.JoinReq,
  G.JoinChallenge,
  G.JoinAnswer,
  G.Denied,
  G.JoinWait,
  G.NotMember,
  G.LeaveReq,
  G.FlushStart,
  G.FlushNack,
  G.FlushReq,
  G.Done,
  G.Install,
  G.InstallAck,
  G.InstallReq,
  G.StateAck,
]);

/** May a GMS control message of kind `t` with this payload travel in clear (see CLEAR_KINDS)? */
export function mayTravelInClear(t: number, payload: Buffer): boolean {
  if (CLEAR_KINDS.has(t)) return true;
  if (t !== G.FlushOk) return false;
  try {
    const b = unpack(payload) as { installed?: unknown; accepted?: unknown; digest?: unknown[] } | null;
    return b !== null && typeof b === 'object' && b.installed !== undefined && b.accepted === null && Array.isArray(b.digest) && b.digest.length === 0;
  } catch {
    return false;
  }
}

/** A flush attempt: higher `n` wins; on a tie, the more senior coordinator. */
export interface Attempt {
  n: number;
  coord: NodeId;
}

/** What a flush proposes: the next view's members and the cut every survivor delivers up to. */
export interface Proposal {
  members: NodeId[];
  cut: [NodeId, number][];
  holders: [NodeId, NodeId][];
  /** gbcasts delivered at the end of the view, after the cut and before the next view: [key, message bytes]. */
  gb?: [string, Uint8Array][];
  /** With group keys: the next view's key, sealed to each of its members. */
  keys?: [NodeId, Uint8Array][];
  /** Members of the view that never installed it (see FlushOkBody.fresh): the next view takes them in as joiners. */
  fresh?: NodeId[];
}

export interface FlushOkBody {
  view: number;
  a: Attempt;
  digest: [NodeId, number][];
  accepted: { a: Attempt; p: Proposal } | null;
  /** False while this member still waits for its own state: it cannot give state to others. */
  hasState?: boolean | undefined;
  /** Instead of a digest: "I already installed this later view" (the coordinator is behind). */
  installed?: { id: number; members: NodeId[]; keys?: [NodeId, Uint8Array][] | undefined } | undefined;
  /** With group keys: this member's key-agreement public key. */
  kx?: Uint8Array | undefined;
  /**
   * A joiner of this view that never installed it (its INSTALL was lost and its coordinator died):
   * it holds nothing of the view and no state; it votes, and comes into the next view as a joiner.
   */
  fresh?: boolean | undefined;
}

export interface InstallBody {
  view: { id: number; members: NodeId[] };
  /** The member that streams state to joiners, if any. */
  stateFrom: NodeId | null;
  /** With group keys: the view's key sealed to each member (joiners take theirs from here). */
  keys?: [NodeId, Uint8Array][] | undefined;
  /** Members of the view replaced that never installed it (see FlushOkBody.fresh): joiners, who get state too. */
  fresh?: NodeId[] | undefined;
}

export function cmpAttempt(a: Attempt, b: Attempt, seniority: readonly NodeId[]): number {
  if (a.n !== b.n) return a.n - b.n;
  if (a.coord === b.coord) return 0;
  const ra = seniority.indexOf(a.coord);
  const rb = seniority.indexOf(b.coord);
  // More senior (lower rank) wins ties; unknown coordinators lose.
  return (rb < 0 ? Infinity : rb) - (ra < 0 ? Infinity : ra) > 0 ? 1 : -1;
}

export function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

/** A member list that makes sense: no duplicates, one member per node, at most `max`. */
export function saneMembers(members: readonly NodeId[], max: number): boolean {
  if (members.length === 0 || members.length > max) return false;
  const nodes = new Set<string>();
  for (const m of members) {
    const n = nodeOfMember(m);
    if (nodes.has(n)) return false;
    nodes.add(n);
  }
  return true;
}

/** Longest gbcast key: a member id, ':' and a counter. */
export const MAX_GBCAST_KEY = MAX_ID_BYTES + 11;

/** Limits the body schemas enforce (from the layer's options). */
export interface BodyLimits {
  /** Most members a view, a proposal or a digest may name. */
  maxMembers: number;
  /** Most gbcasts one proposal may carry. */
  maxPendingGbcasts: number;
}

/**
 * One schema per control body: every field a peer sends is checked before GMS acts on it (a
 * wrong type once reached a timer callback and killed the coordinator). Arrays are bounded.
 */
export function bodySchemas(lim: BodyLimits) {
  const id = wire.id;
  const int = wire.int;
  const view = z.object({ view: int });
  const members = z.array(id).max(lim.maxMembers);
  const attempt = z.object({ n: int, coord: id });
  const pairs = z.array(z.tuple([id, int])).max(lim.maxMembers);
  // A sealed key is 80 bytes; a key-agreement public key 32.
  const sealed = z.array(z.tuple([id, wire.bytes.refine((b) => b.length <= 128)])).max(lim.maxMembers);
  const kx = wire.bytes.refine((b) => b.length === 32).optional();
  const proposal = z.object({
    members,
    fresh: members.optional(),
    cut: pairs,
    holders: z.array(z.tuple([id, id])).max(lim.maxMembers),
    gb: z
      .array(z.tuple([z.string().min(3).max(MAX_GBCAST_KEY), wire.bytes]))
      .max(lim.maxPendingGbcasts)
      .optional(),
    keys: sealed.optional(),
  });
  const viewBody = z.object({ id: int, members, keys: sealed.optional() });
  return {
    /** `kx`: the joiner's key-agreement key, when it sends the request itself (see GMS.onJoinReq). */
    [G.JoinReq]: z.object({ member: id, kx }),
    [G.LeaveReq]: z.object({ member: id }),
    [G.FlushStart]: z.object({ view: int, a: attempt }),
    [G.FlushOk]: z.object({
      view: int,
      a: attempt,
      digest: pairs,
      accepted: z.object({ a: attempt, p: proposal }).nullable(),
      hasState: z.boolean().optional(),
      fresh: z.boolean().optional(),
      installed: viewBody.optional(),
      kx,
    }),
    [G.FlushNack]: z.object({ n: int }),
    /** `frozen`: the members that answered this attempt (they stopped in it; no lease of theirs needs waiting out). */
    [G.Cut]: z.object({ view: int, a: attempt, p: proposal, frozen: members.optional() }),
    [G.Done]: z.object({ view: int, a: attempt }),
    [G.Install]: z.object({ view: z.object({ id: int, members }), stateFrom: id.nullable(), keys: sealed.optional(), fresh: members.optional() }),
    [G.InstallAck]: view,
    // `member`: the id it is meant for, when told to a joiner (its join id is spent); a node's
    // next membership must not take a notice meant for its previous one.
    [G.NotMember]: z.object({ view: int, member: id.optional() }),
    [G.StateChunk]: z.never(),
    [G.StateAck]: z.object({ view: int, next: int }),
    [G.StateFail]: z.object({ view: int, message: z.string().max(1024) }),
    [G.FlushReq]: view,
    [G.Gbcast]: z.object({ key: z.string().min(3).max(MAX_GBCAST_KEY), bytes: wire.bytes }),
    [G.InstallReq]: view,
    [G.JoinChallenge]: z.object({ nonce: int }),
    [G.JoinAnswer]: z.object({ member: id, nonce: int, kx }),
    [G.Denied]: z.object({ member: id, reason: z.string().max(512) }),
    [G.AclSet]: z.never(),
    [G.JoinWait]: z.object({ member: id }),
  } satisfies Record<G, z.ZodType>;
}
export type BodySchemas = ReturnType<typeof bodySchemas>;

/** Schema sets made so far, by their limits (a handful of distinct option sets per process). */
const schemaCache = new Map<string, BodySchemas>();
const MAX_CACHED_SCHEMA_SETS = 16;

/**
 * bodySchemas for `lim`, shared by every GMS with the same limits. zod compiles a schema's checks
 * on its first use (its fast path is generated code): a set made per GMS made every joiner, whose
 * stack is new, compile each control message's schema again during its first view change (about
 * 2 ms of CPU per join, on the joiner's path to its first view). Schemas hold no state.
 */
export function sharedBodySchemas(lim: BodyLimits): BodySchemas {
  const key = `${lim.maxMembers}/${lim.maxPendingGbcasts}`;
  let s = schemaCache.get(key);
  if (s === undefined) {
    if (schemaCache.size >= MAX_CACHED_SCHEMA_SETS) schemaCache.delete(schemaCache.keys().next().value!);
    s = bodySchemas(lim);
    schemaCache.set(key, s);
  }
  return s;
}
/** The checked body of control message `t`. */
export type Body<T extends G> = z.infer<BodySchemas[T]>;
