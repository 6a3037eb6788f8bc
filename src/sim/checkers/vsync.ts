import type { HistoryEvent } from '../../core/history.js';
import type { NodeId } from '../../core/node-id.js';
import { ViolationList } from './violation.js';

const GBCAST = 3;

/** Order-insensitive digest of a set of message names: what the sim app keeps as its state. */
export function setDigest(names: Iterable<string>): { count: number; digest: number } {
  let count = 0;
  let digest = 0;
  for (const n of names) {
    count++;
    digest = (digest + nameHash(n)) | 0;
  }
  return { count, digest };
}

export function nameHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/**
 * Virtual synchrony over one group's history:
 * - view agreement: all members that install view id v see the same member list, so primary
 *   views form one linear sequence; each member installs increasing view ids;
 * - same-set delivery: members that install both v and the next view w delivered the same set
 *   of messages in v;
 * - sending-view delivery: a message is delivered in the view it was sent in;
 * - integrity and FIFO: no duplicates, no invention; per sender and order, what a member delivers
 *   in a view is a prefix of what was sent in it, in send order;
 * - self-delivery: a member that sent m in v and installed the next view delivered m;
 * - state transfer: a joiner's state at its first view equals everything delivered in earlier views;
 * - safe delivery is uniform: a safe message delivered by anyone is delivered by every survivor;
 * - no faults: every 'fault' event (a stack threw and was contained) is a violation.
 *
 * `extended` (a partitionable group: extended virtual synchrony): the sides of a split each have their
 * own views, so a view is its id AND its members — two sides may both install a view 7. Every property
 * above holds per view so named, same-set delivery among the members that went on to the same next view
 * (each side agrees on what it delivered in the view they split from); the state-transfer check (whose expected state is one linear history)
 * gives way to the merge checks: the members that go on together from a view agree on the sides merged
 * in it (a merge counts as a delivery in the same-set check), and a side merged in a view leaves the
 * members that go on together from it with the same state (the scenario records a 'state' event right
 * after each 'merge').
 */
export function checkVirtualSynchrony(
  events: readonly HistoryEvent[],
  group: string,
  out = new ViolationList(),
  opts: { extended?: boolean } = {},
): ViolationList {
  const extended = opts.extended === true;
  /** A view's name in the agreement maps: its id, and in extended mode its members too. */
  const memberView = new Map<string, string>(); // `${member}|${id}` -> members key
  const viewName = (member: NodeId, id: number): string => (extended ? `${id}|${memberView.get(`${member}|${id}`) ?? ''}` : String(id));
  /** Each member's state right after it reconciled a merge (compared once next views are known). */
  const mergeStates: { node: NodeId; mk: string; view: number; count: number; digest: number }[] = [];
  const pendingMerge = new Map<NodeId, string>(); // member -> merge key whose state comes next
  const viewMembers = new Map<number, string>();
  const installs = new Map<NodeId, number[]>(); // member -> view ids in order
  const sentIn = new Map<string, { sender: NodeId; view: number }>();
  const deliveredIn = new Map<string, Set<string>>(); // `${member}|${view}` -> msgs
  const seen = new Map<NodeId, Set<string>>();
  const lastFrom = new Map<string, number>();
  const sentSeq = new Map<string, string[]>(); // `${sender}|${view}|${order}` -> msgs in send order
  const gbcasts = new Set<string>();
  for (const ev of events) {
    if (!('group' in ev) || ev.group !== group) continue;
    switch (ev.k) {
      case 'view': {
        const key = ev.members.join(',');
        memberView.set(`${ev.node}|${ev.view}`, key);
        const prev = viewMembers.get(ev.view);
        if (prev === undefined) viewMembers.set(ev.view, key);
        else if (prev !== key && !extended) out.add('view-agreement', `view ${ev.view} is [${prev}] at some members and [${key}] at ${ev.node}`);
        if (!ev.members.includes(ev.node)) out.add('view-agreement', `${ev.node} installed view ${ev.view} that does not include it`);
        let l = installs.get(ev.node);
        if (!l) installs.set(ev.node, (l = []));
        const last = l.at(-1);
        if (last !== undefined && ev.view <= last) out.add('view-order', `${ev.node} installed view ${ev.view} after ${last}`);
        l.push(ev.view);
        break;
      }
      case 'send': {
        sentIn.set(ev.msg, { sender: ev.node, view: ev.view });
        if (ev.order === GBCAST) gbcasts.add(ev.msg);
        const sk = `${ev.node}|${ev.view}|${ev.order}`;
        let l = sentSeq.get(sk);
        if (!l) sentSeq.set(sk, (l = []));
        l.push(ev.msg);
        break;
      }
      case 'deliver': {
        const s = sentIn.get(ev.msg);
        if (!s || s.sender !== ev.sender) {
          out.add('integrity', `${ev.node} delivered ${ev.msg}, which ${ev.sender} never sent`);
          break;
        }
        // A gbcast is carried by the next view change, whichever view that happens in.
        if (s.view !== ev.view && ev.order !== GBCAST)
          out.add('sending-view', `${ev.node} delivered ${ev.msg} in view ${ev.view}; it was sent in view ${s.view}`);
        let d = seen.get(ev.node);
        if (!d) seen.set(ev.node, (d = new Set()));
        if (d.has(ev.msg)) out.add('integrity', `${ev.node} delivered ${ev.msg} twice`);
        d.add(ev.msg);
        const key = `${ev.node}|${ev.view}`;
        let set = deliveredIn.get(key);
        if (!set) deliveredIn.set(key, (set = new Set()));
        set.add(ev.msg);
        // Per sender and order: the deliveries in a view are a prefix of what was sent in it.
        if (ev.order === GBCAST) break;
        const lk = `${ev.node}|${ev.sender}|${ev.view}|${ev.order}`;
        const k = lastFrom.get(lk) ?? 0;
        const expected = sentSeq.get(`${ev.sender}|${ev.view}|${ev.order}`)?.[k];
        if (expected !== ev.msg)
          out.add('fifo', `${ev.node} delivered ${ev.msg} from ${ev.sender} where ${expected ?? 'nothing more'} was next (order ${ev.order}, view ${ev.view})`);
        lastFrom.set(lk, k + 1);
        break;
      }
      case 'merge': {
        // In the same-set check a merge is one more delivery of that view: the members that go on
        // together from it agree on it. (One junior side may merge into two sides of a senior group
        // that split meanwhile: each reconciles it on its own.)
        const key = `${ev.node}|${ev.view}`;
        let set = deliveredIn.get(key);
        if (!set) deliveredIn.set(key, (set = new Set()));
        set.add(`merge:${ev.key}`);
        pendingMerge.set(ev.node, `${ev.key} in view ${viewName(ev.node, ev.view)}`);
        break;
      }
      case 'state': {
        const mk = pendingMerge.get(ev.node);
        if (mk === undefined) break;
        pendingMerge.delete(ev.node);
        mergeStates.push({ node: ev.node, mk, view: ev.view, count: ev.count, digest: ev.digest });
        break;
      }
      case 'fault':
        // A contained stack failure keeps a real node up, but in the simulator it is always a bug.
        out.add('fault', `${ev.node} contained a failure of its ${ev.group} stack at ${ev.at}: ${ev.error}`);
        break;
      default:
        break;
    }
  }
  // Same-set delivery between consecutive views of each member, and the agreed set per view.
  const agreed = new Map<string, { set: Set<string>; by: NodeId }>();
  for (const [member, views] of installs) {
    for (let i = 0; i + 1 < views.length; i++) {
      const v = views[i]!;
      const got = deliveredIn.get(`${member}|${v}`) ?? new Set<string>();
      // Extended: the members that went on together (from v to the same next view) agree on v.
      const name = extended ? `${viewName(member, v)}->${viewName(member, views[i + 1]!)}` : viewName(member, v);
      const a = agreed.get(name);
      if (!a) agreed.set(name, { set: got, by: member });
      else if (!sameSet(a.set, got)) {
        const extra = [...got].filter((m) => !a.set.has(m)).slice(0, 3);
        const missing = [...a.set].filter((m) => !got.has(m)).slice(0, 3);
        out.add(
          'same-set',
          `${member} and ${a.by} both went from view ${v} to a next view but delivered different sets in ${v} (${member} extra [${extra}], missing [${missing}])`,
        );
      }
    }
  }
  // A side merged in a view leaves the members that go on together from that view (to the same next
  // view, or to none) with the same state. (A view that splits while a record is delivered in it: each
  // side reconciles at its own cut, after what it delivered, as for any message of that view.)
  const mergedTo = new Map<string, { count: number; digest: number; by: NodeId }>();
  for (const m of mergeStates) {
    const views = installs.get(m.node) ?? [];
    const next = views[views.indexOf(m.view) + 1];
    const k = `${m.mk} -> ${next === undefined ? 'no next view' : viewName(m.node, next)}`;
    const s = mergedTo.get(k);
    if (!s) mergedTo.set(k, { count: m.count, digest: m.digest, by: m.node });
    else if (s.count !== m.count || s.digest !== m.digest)
      out.add('merge', `${m.node} holds ${m.count} messages after merging side ${k}; ${s.by} holds ${s.count} (or others)`);
  }
  // Self-delivery for senders that survived into a next view.
  for (const [msg, s] of sentIn) {
    // A gbcast rides the next view change after the coordinator has it, not necessarily the next view.
    if (gbcasts.has(msg)) continue;
    const views = installs.get(s.sender) ?? [];
    const i = views.indexOf(s.view);
    if (i >= 0 && i + 1 < views.length && !seen.get(s.sender)?.has(msg))
      out.add('self-delivery', `${s.sender} sent ${msg} in view ${s.view}, installed ${views[i + 1]} and never delivered it`);
  }
  // Safe delivery is uniform: once anyone (even a member about to fail) delivered a safe message,
  // every member that survives that view delivers it too.
  const safeMsgs = new Set<string>();
  // (Extended: a side that splits off may not deliver what the other side delivered as safe — every
  // member had received it, but only the members that go on together agree on what they deliver.)
  if (!extended) for (const ev of events) if (ev.k === 'send' && ev.group === group && ev.safe) safeMsgs.add(ev.msg);
  for (const ev of events) {
    if (ev.k !== 'deliver' || ev.group !== group || !safeMsgs.has(ev.msg)) continue;
    const a = agreed.get(viewName(ev.node, ev.view));
    if (a && !a.set.has(ev.msg))
      out.add('safe', `${ev.node} delivered safe message ${ev.msg} in view ${ev.view}, which the survivors of that view did not deliver`);
  }
  // State transfer: a joiner's first state is everything agreed before its first view.
  if (extended) return out;
  const sortedViews = [...agreed.keys()].map(Number).sort((a, b) => a - b);
  for (const ev of events) {
    if (ev.k !== 'state' || ev.group !== group) continue;
    const expected = new Set<string>();
    for (const v of sortedViews) {
      if (v >= ev.view) break;
      for (const m of agreed.get(String(v))!.set) expected.add(m);
    }
    const { count, digest } = setDigest(expected);
    if (count !== ev.count || digest !== ev.digest)
      out.add('state-transfer', `${ev.node} joined view ${ev.view} with a state of ${ev.count} messages; ${count} were delivered before that view`);
  }
  return out;
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
