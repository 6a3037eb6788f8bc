import { ViolationList } from './violation.js';

/**
 * What the tools workload records, in virtual-time order. The checkers read only this.
 * `node` is an endpoint (a process place); `member` a member id of one incarnation.
 */
export type ToolEvent =
  /** A member's 'tools' group installed a view; `digest` hashes its map, lock table and counters then. */
  | { k: 'tools-view'; at: number; member: string; view: number; digest: string }
  | { k: 'grant'; at: number; member: string; name: string; grant: number; viewId: number }
  /** The holder stops acting on a grant: it released it, lost it (minority, exclusion) or crashed. */
  | { k: 'grant-end'; at: number; member: string; name: string; grant: number; why: 'release' | 'lost' | 'crash' }
  | { k: 'incr-sent'; at: number; member: string }
  | { k: 'incr-ok'; at: number; member: string; value: number }
  /** A member of the final view read every issuer's counter (the name is the issuer's member id). */
  | { k: 'counter-final'; at: number; member: string; issuer: string; value: number }
  /** The primary-backup group delivered a forward in `view` from `sender`. */
  | { k: 'pb-forward'; at: number; member: string; view: number; sender: string; head: string }
  | { k: 'pb-reply'; at: number; value: number }
  | { k: 'cc-request'; at: number; id: number }
  /** The client's answer to request `id` (a digest of it). */
  | { k: 'cc-reply'; at: number; id: number; digest: string }
  /** After the run settled: what a member of the final view holds as the result of request `id` (null: none), and its open requests. */
  | { k: 'cc-final'; at: number; member: string; id: number; digest: string | null; open: number }
  | { k: 'crash'; at: number; node: string; members: string[] };

/** Every member that installed the same view of the tools group held the same state at that point. */
function checkReplicasEqual(ev: readonly ToolEvent[], v: ViolationList): void {
  const byView = new Map<number, { member: string; digest: string }>();
  for (const e of ev) {
    if (e.k !== 'tools-view') continue;
    const first = byView.get(e.view);
    if (!first) byView.set(e.view, { member: e.member, digest: e.digest });
    else if (first.digest !== e.digest) v.add('tools-replicas-equal', `view ${e.view}: ${first.member} and ${e.member} hold different map/lock/counter state`);
  }
}

/** No two members act on one lock at once; grant numbers are unique and grow per holder. */
function checkLocks(ev: readonly ToolEvent[], v: ViolationList): void {
  const holding = new Map<string, { member: string; grant: number }>();
  const seenGrants = new Map<number, string>();
  const lastByMember = new Map<string, number>();
  for (const e of ev) {
    if (e.k === 'grant') {
      const other = seenGrants.get(e.grant);
      if (other !== undefined) v.add('tools-fencing', `grant number ${e.grant} given twice (${other} and ${e.member})`);
      seenGrants.set(e.grant, e.member);
      const last = lastByMember.get(e.member);
      if (last !== undefined && e.grant <= last) v.add('tools-fencing', `${e.member} got token ${e.grant} after ${last}`);
      lastByMember.set(e.member, e.grant);
      const h = holding.get(e.name);
      if (h)
        v.add(
          'tools-one-holder',
          `at ${e.at.toFixed(1)} ms ${e.member} got ${e.name} (token ${e.grant}) while ${h.member} still acts on it (token ${h.grant})`,
        );
      holding.set(e.name, { member: e.member, grant: e.grant });
    } else if (e.k === 'grant-end') {
      const h = holding.get(e.name);
      if (h && h.member === e.member && h.grant === e.grant) holding.delete(e.name);
    } else if (e.k === 'crash') {
      for (const [name, h] of [...holding]) if (e.members.includes(h.member)) holding.delete(name);
    }
  }
}

/** Every increment that resolved is in the issuer's counter; no counter is above what was sent. */
function checkCounters(ev: readonly ToolEvent[], v: ViolationList): void {
  const sent = new Map<string, number>();
  const ok = new Map<string, number>();
  const finals: ToolEvent[] = [];
  for (const e of ev) {
    if (e.k === 'incr-sent') sent.set(e.member, (sent.get(e.member) ?? 0) + 1);
    else if (e.k === 'incr-ok') ok.set(e.member, (ok.get(e.member) ?? 0) + 1);
    else if (e.k === 'counter-final') finals.push(e);
  }
  for (const f of finals) {
    if (f.k !== 'counter-final') continue;
    const resolved = ok.get(f.issuer) ?? 0;
    if (f.value < resolved) v.add('tools-counter-lost', `${f.member} reads ${f.value} for ${f.issuer}, which saw ${resolved} increments resolve`);
    if (f.value > (sent.get(f.issuer) ?? 0))
      v.add('tools-counter-extra', `${f.member} reads ${f.value} for ${f.issuer}, which sent ${sent.get(f.issuer) ?? 0}`);
  }
}

/** Forwards of one view come from one sender, the head of that view; each answered request has its own value. */
function checkPrimaryBackup(ev: readonly ToolEvent[], v: ViolationList): void {
  const senderOf = new Map<number, string>();
  const values = new Set<number>();
  for (const e of ev) {
    if (e.k === 'pb-forward') {
      if (e.sender !== e.head) v.add('tools-two-primaries', `view ${e.view}: ${e.member} took a forward from ${e.sender}, not the primary ${e.head}`);
      const s = senderOf.get(e.view);
      if (s !== undefined && s !== e.sender) v.add('tools-two-primaries', `view ${e.view}: forwards from both ${s} and ${e.sender}`);
      senderOf.set(e.view, e.sender);
    } else if (e.k === 'pb-reply') {
      if (values.has(e.value)) v.add('tools-pb-once', `two requests were answered with counter value ${e.value}: one request applied twice, or one lost`);
      values.add(e.value);
    }
  }
}

/**
 * Every coordinator-cohort request got exactly one reply, and every member of the final view holds
 * that same result for it (one result per request, whoever coordinated), with nothing left open.
 */
function checkCoordinatorCohort(ev: readonly ToolEvent[], v: ViolationList): void {
  const asked = new Set<number>();
  const replies = new Map<number, string[]>();
  for (const e of ev) {
    if (e.k === 'cc-request') asked.add(e.id);
    else if (e.k === 'cc-reply') replies.set(e.id, [...(replies.get(e.id) ?? []), e.digest]);
  }
  for (const id of asked) {
    const n = replies.get(id)?.length ?? 0;
    if (n !== 1) v.add('tools-cc-one-reply', `request ${id} got ${n} replies`);
  }
  for (const e of ev) {
    if (e.k !== 'cc-final') continue;
    if (e.open !== 0) v.add('tools-cc-open', `${e.member} still has ${e.open} open requests after the run settled`);
    const r = replies.get(e.id)?.[0];
    if (r !== undefined && e.digest !== r) v.add('tools-cc-one-result', `request ${e.id}: ${e.member} holds ${e.digest ?? 'no result'}, the client got ${r}`);
  }
}

/** Every tool-level property over one run's recorded events. */
export function checkTools(ev: readonly ToolEvent[], v: ViolationList): void {
  checkReplicasEqual(ev, v);
  checkLocks(ev, v);
  checkCounters(ev, v);
  checkPrimaryBackup(ev, v);
  checkCoordinatorCohort(ev, v);
}
