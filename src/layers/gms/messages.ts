import { ProtocolError } from '../../core/errors.js';
import type { NodeId } from '../../core/node-id.js';
import { defineHeader, HeaderIds } from '../../codec/header-registry.js';

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
}

export const GMS_HEADER = defineHeader<number>(
  HeaderIds.GMS,
  'GMS',
  (w, t) => w.u8(t),
  (r) => {
    const t = r.u8();
    if (t < G.JoinReq || t > G.InstallReq) throw new ProtocolError('ERR_MALFORMED', `unknown GMS message ${t}`);
    return t;
  },
);

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
  gb?: [string, Buffer][];
}

export interface FlushOkBody {
  view: number;
  a: Attempt;
  digest: [NodeId, number][];
  accepted: { a: Attempt; p: Proposal } | null;
  /** False while this member still waits for its own state: it cannot give state to others. */
  hasState: boolean;
}

export interface InstallBody {
  view: { id: number; members: NodeId[] };
  /** The member that streams state to joiners, if any. */
  stateFrom: NodeId | null;
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
