import type { HistoryEvent } from '../../core/history.js';
import type { NodeId } from '../../core/node-id.js';
import { ViolationList } from './violation.js';

const CAUSAL = 1;
const TOTAL = 2;

/**
 * Causal and total order over one group's history.
 * - Total: any two members that survive a view (install a later one) delivered their common
 *   abcasts of that view in the same relative order (`extended`, a partitionable group: any two that
 *   went on from it to the same next view). A member that is excluded may have delivered
 *   its last messages in its own order before it learned so: that is the non-uniformity that the
 *   `safe` option exists to remove, as in Isis.
 * - Causal, within each order class (cbcasts among cbcasts, abcasts among abcasts — as in Isis,
 *   the two classes are not ordered against each other): for m' sent by s, take the last message
 *   of its class from each sender that s had delivered (or sent) before sending m'; a member that
 *   delivers m' in that view must have delivered each of those first (per-sender FIFO makes the
 *   rest follow). The happened-before relation comes from the recorded sends and deliveries.
 */
export function checkOrder(events: readonly HistoryEvent[], group: string, out = new ViolationList(), opts: { extended?: boolean } = {}): ViolationList {
  const totalSeq = new Map<NodeId, string[]>();
  const position = new Map<string, Map<string, number>>(); // member -> msg -> index of delivery
  const lastSeenBy = new Map<string, Map<NodeId, { msg: string; view: number }>>(); // `${member}|${order}` -> sender -> last msg of that class delivered/sent
  const deps = new Map<string, { view: number; on: string[] }>();
  const deliveredView = new Map<string, number>();
  let counter = 0;
  for (const ev of events) {
    if (!('group' in ev) || ev.group !== group) continue;
    if (ev.k === 'send' && (ev.order === CAUSAL || ev.order === TOTAL)) {
      const seen = lastSeenBy.get(`${ev.node}|${ev.order}`);
      const on: string[] = [];
      if (seen) for (const [, v] of seen) if (v.view === ev.view) on.push(v.msg);
      deps.set(ev.msg, { view: ev.view, on });
      // Our own message is a predecessor of our next ones (we deliver it ourselves later).
      let s = lastSeenBy.get(`${ev.node}|${ev.order}`);
      if (!s) lastSeenBy.set(`${ev.node}|${ev.order}`, (s = new Map()));
      s.set(ev.node, { msg: ev.msg, view: ev.view });
    } else if (ev.k === 'deliver') {
      let p = position.get(ev.node);
      if (!p) position.set(ev.node, (p = new Map()));
      p.set(ev.msg, counter++);
      deliveredView.set(`${ev.node}|${ev.msg}`, ev.view);
      if (ev.order === TOTAL) {
        let l = totalSeq.get(ev.node);
        if (!l) totalSeq.set(ev.node, (l = []));
        l.push(`${ev.view}|${ev.msg}`);
      }
      if (ev.order === CAUSAL || ev.order === TOTAL) {
        let s = lastSeenBy.get(`${ev.node}|${ev.order}`);
        if (!s) lastSeenBy.set(`${ev.node}|${ev.order}`, (s = new Map()));
        if (ev.sender !== ev.node) s.set(ev.sender, { msg: ev.msg, view: ev.view });
      }
    }
  }
  // Total order: compare every pair of members on the common abcasts of views both survived.
  const lastView = new Map<NodeId, number>();
  for (const ev of events) if (ev.k === 'view' && ev.group === group) lastView.set(ev.node, Math.max(lastView.get(ev.node) ?? 0, ev.view));
  if (opts.extended === true) {
    // Extended: per view, among the members that went on to the same next view (each side agrees on its own).
    const nextOf = nextViews(events, group);
    const sides = new Map<string, Map<NodeId, string[]>>();
    for (const [member, list] of totalSeq) {
      for (const x of list) {
        const view = x.slice(0, x.indexOf('|'));
        const next = nextOf.get(`${member}|${view}`);
        if (next === undefined) continue; // did not survive the view
        const side = `${view}->${next}`;
        let m = sides.get(side);
        if (!m) sides.set(side, (m = new Map()));
        let l = m.get(member);
        if (!l) m.set(member, (l = []));
        l.push(x.slice(x.indexOf('|') + 1));
      }
    }
    for (const m of sides.values()) comparePairs(m, out);
    totalSeq.clear();
  }
  for (const [member, list] of totalSeq) {
    const last = lastView.get(member) ?? 0;
    totalSeq.set(
      member,
      list.filter((x) => Number(x.slice(0, x.indexOf('|'))) < last).map((x) => x.slice(x.indexOf('|') + 1)),
    );
  }
  comparePairs(totalSeq, out);
  // Causal order.
  for (const [member, p] of position) {
    for (const [msg, at] of p) {
      const d = deps.get(msg);
      if (!d) continue;
      if (deliveredView.get(`${member}|${msg}`) !== d.view) continue;
      for (const dep of d.on) {
        const depAt = p.get(dep);
        if (depAt === undefined) out.add('causal', `${member} delivered ${msg} but never ${dep}, which its sender had delivered first`);
        else if (depAt > at) out.add('causal', `${member} delivered ${msg} before ${dep}, which its sender had delivered first`);
      }
    }
  }
  checkGbcast(events, group, out, opts.extended === true);
  return out;
}

/** Every pair of members delivered their common abcasts in the same relative order. */
function comparePairs(seqs: ReadonlyMap<NodeId, readonly string[]>, out: ViolationList): void {
  const members = [...seqs.keys()];
  for (let i = 0; i < members.length; i++) {
    const pa = new Map(seqs.get(members[i]!)!.map((m, k) => [m, k]));
    for (let j = i + 1; j < members.length; j++) {
      let last = -1;
      let lastMsg = '';
      for (const m of seqs.get(members[j]!)!) {
        const k = pa.get(m);
        if (k === undefined) continue;
        if (k < last) {
          out.add('total-order', `${members[i]} delivered ${m} before ${lastMsg}; ${members[j]} delivered them the other way round`);
          break;
        }
        last = k;
        lastMsg = m;
      }
    }
  }
}

/** `${member}|${view}` -> the member's next view (its id and members): who went on together from a view. */
function nextViews(events: readonly HistoryEvent[], group: string): Map<string, string> {
  const nextOf = new Map<string, string>();
  const prevOf = new Map<NodeId, number>();
  for (const ev of events) {
    if (ev.k !== 'view' || ev.group !== group) continue;
    const prev = prevOf.get(ev.node);
    if (prev !== undefined) nextOf.set(`${ev.node}|${prev}`, `${ev.view}:${ev.members.join(',')}`);
    prevOf.set(ev.node, ev.view);
  }
  return nextOf;
}

/**
 * gbcast is ordered against everything: every member that survives a view delivered, before each
 * gbcast of that view, exactly the same set of messages (so the same gbcasts, in the same order,
 * at the same point relative to every other message and to the view change).
 * `extended` (a partitionable group): among the members that went on from the view to the same next
 * view (the two sides of a split each agree on their own).
 */
function checkGbcast(events: readonly HistoryEvent[], group: string, out: ViolationList, extended: boolean): void {
  const lastView = new Map<NodeId, number>();
  const perMemberView = new Map<string, string[]>();
  const nextOf = nextViews(events, group);
  for (const ev of events) {
    if (!('group' in ev) || ev.group !== group) continue;
    if (ev.k === 'view') lastView.set(ev.node, Math.max(lastView.get(ev.node) ?? 0, ev.view));
    if (ev.k === 'deliver') {
      const key = `${ev.node}|${ev.view}`;
      let l = perMemberView.get(key);
      if (!l) perMemberView.set(key, (l = []));
      l.push(ev.order === 3 ? `G:${ev.msg}` : ev.msg);
    }
  }
  const seen = new Map<string, { by: NodeId; before: string }>(); // `${view}|${gbcast}` -> digest of what preceded it
  for (const [key, list] of perMemberView) {
    const [member, viewS] = [key.slice(0, key.lastIndexOf('|')), key.slice(key.lastIndexOf('|') + 1)];
    const view = Number(viewS);
    if ((lastView.get(member) ?? 0) <= view) continue; // only members that survived the view
    const before: string[] = [];
    for (const m of list) {
      if (m.startsWith('G:')) {
        const digest = before.slice().sort().join(',');
        const k = extended ? `${view}|${nextOf.get(key) ?? ''}|${m}` : `${view}|${m}`;
        const prev = seen.get(k);
        if (!prev) seen.set(k, { by: member, before: digest });
        else if (prev.before !== digest)
          out.add('gbcast-order', `${member} and ${prev.by} delivered different messages before gbcast ${m.slice(2)} in view ${view}`);
      }
      before.push(m);
    }
  }
}
