import type { HistoryEvent } from '../../core/history.js';
import { nodeOfMember } from '../../core/member-id.js';
import type { NodeId } from '../../core/node-id.js';
import type { ViolationList } from './violation.js';

/** What the checker knows of one member at an instant. */
interface MemberState {
  /** `key`: the member list joined, once per view event (not once per member per instant: O(n³) in a large group). */
  view: { id: number; members: readonly NodeId[]; key: string } | null;
  /** Shared by the successive members of one process: a group keeps its block reasons across a rejoin. */
  blocked: Set<string>;
  gone: boolean;
  paused: boolean;
}

/** Reasons that stop a member from delivering on its own: a minority, a flush, a join still under way. */
const STOPPED = ['minority', 'flush', 'joining'];

/** Live: in an installed view, running, neither stopped in a flush nor blocked as a minority. */
function isLive(s: MemberState): boolean {
  return s.view !== null && !s.gone && !s.paused && !STOPPED.some((r) => s.blocked.has(r));
}

/**
 * "No two primaries" (promise 7b) over one group's history, stamped with real time: at no instant
 * are two members live in views whose member lists differ. A member is live from its view install
 * until it blocks for 'minority', 'flush' (a frozen member delivers nothing past the agreed cut) or
 * 'joining' (its state has not arrived),
 * is paused, crashes, leaves or is excluded. Events at one instant are applied together before the
 * check, so a member that installs a view and blocks in the same instant was never live in it.
 * `ignore` names members whose views are not vouched for (the adversary's own member).
 */
export function checkNoTwoPrimaries(
  events: readonly HistoryEvent[],
  group: string,
  out: ViolationList,
  ignore: (member: NodeId) => boolean = () => false,
): void {
  const states = new Map<NodeId, MemberState>();
  const blockedOf = new Map<string, Set<string>>();
  const state = (m: NodeId): MemberState => {
    let s = states.get(m);
    if (s === undefined) {
      const node = nodeOfMember(m);
      let blocked = blockedOf.get(node);
      if (blocked === undefined) {
        blocked = new Set();
        blockedOf.set(node, blocked);
      }
      s = { view: null, blocked, gone: false, paused: false };
      states.set(m, s);
    }
    return s;
  };
  const relevant = new Set(['view', 'blocked', 'unblocked', 'ended', 'crash', 'pause', 'resume']);
  const ordered = events
    .filter((e) => relevant.has(e.k))
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.at - b.e.at || a.i - b.i)
    .map((x) => x.e);
  /** The split being reported, so that one overlap is one violation. */
  let open: { since: number; what: string } | null = null;
  const check = (at: number): void => {
    const lists = new Map<string, string>();
    for (const [m, s] of states) {
      if (!isLive(s) || ignore(m)) continue;
      const key = s.view!.key;
      if (!lists.has(key)) lists.set(key, `${m} in view ${s.view!.id} [${key}]`);
    }
    if (lists.size > 1) {
      open ??= { since: at, what: [...lists.values()].join(' and ') };
    } else if (open !== null) {
      out.add('two-primaries', `from ${open.since} to ${at} (${(at - open.since).toFixed(1)} ms): ${open.what}`);
      open = null;
    }
  };
  for (let i = 0; i < ordered.length; i++) {
    const ev = ordered[i]!;
    switch (ev.k) {
      case 'view':
        if (ev.group === group) {
          const s = state(ev.node);
          s.view = { id: ev.view, members: ev.members, key: ev.members.join(',') };
        }
        break;
      case 'blocked':
        if (ev.group === group) state(ev.node).blocked.add(ev.reason);
        break;
      case 'unblocked':
        if (ev.group === group) {
          const s = state(ev.node);
          if (ev.reason === undefined) s.blocked.clear();
          else s.blocked.delete(ev.reason);
        }
        break;
      case 'ended':
        if (ev.group === group) state(ev.node).gone = true;
        break;
      case 'crash':
        if (states.has(ev.node)) state(ev.node).gone = true;
        break;
      case 'pause':
        if (states.has(ev.node)) state(ev.node).paused = true;
        break;
      case 'resume':
        if (states.has(ev.node)) state(ev.node).paused = false;
        break;
    }
    const next = ordered[i + 1];
    if (next === undefined || next.at > ev.at) check(ev.at);
  }
  if (open !== null) {
    const o: { since: number; what: string } = open;
    out.add('two-primaries', `from ${o.since} to the end of the run: ${o.what}`);
  }
}
