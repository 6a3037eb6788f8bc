import type { HistoryEvent } from '../../core/history.js';
import type { NodeId } from '../../core/node-id.js';
import { ViolationList } from './violation.js';

/**
 * Integrity and FIFO for one group's history:
 * - no invention: each delivery matches a send by that sender;
 * - no duplicates: a member delivers a message at most once;
 * - per-sender FIFO without gaps: each member delivers a sender's messages as 1, 2, 3, ...;
 * - self-delivery and no loss among live members: a message sent by a member that did not crash
 *   is delivered by every member that did not crash.
 * `live` are the members that were up (not crashed) to the end of the run.
 */
export function checkFifoIntegrity(events: readonly HistoryEvent[], group: string, live: ReadonlySet<NodeId>, out = new ViolationList()): ViolationList {
  const sent = new Map<string, NodeId>(); // msg -> sender
  const sentBy = new Map<NodeId, string[]>();
  const delivered = new Map<NodeId, Set<string>>();
  const lastId = new Map<string, number>(); // `${receiver}|${sender}` -> last id delivered
  const members = new Set<NodeId>();
  for (const ev of events) {
    if (ev.k === 'view' && ev.group === group) for (const m of ev.members) members.add(m);
    if (ev.k === 'send' && ev.group === group) {
      sent.set(ev.msg, ev.node);
      let l = sentBy.get(ev.node);
      if (!l) sentBy.set(ev.node, (l = []));
      l.push(ev.msg);
    }
  }
  for (const ev of events) {
    if (ev.k !== 'deliver' || ev.group !== group) continue;
    const sender = sent.get(ev.msg);
    if (sender === undefined || sender !== ev.sender) out.add('integrity', `${ev.node} delivered ${ev.msg}, which ${ev.sender} never sent`);
    let d = delivered.get(ev.node);
    if (!d) delivered.set(ev.node, (d = new Set()));
    if (d.has(ev.msg)) out.add('integrity', `${ev.node} delivered ${ev.msg} twice`);
    d.add(ev.msg);
    const id = Number(ev.msg.slice(ev.msg.lastIndexOf('#') + 1));
    const key = `${ev.node}|${ev.sender}`;
    const prev = lastId.get(key) ?? 0;
    if (id !== prev + 1) out.add('fifo', `${ev.node} delivered ${ev.msg} after #${prev} from ${ev.sender}`);
    lastId.set(key, id);
  }
  for (const [sender, msgs] of sentBy) {
    if (!live.has(sender)) continue;
    for (const receiver of members) {
      if (!live.has(receiver)) continue;
      const d = delivered.get(receiver);
      for (const msg of msgs) if (!d?.has(msg)) out.add(receiver === sender ? 'self-delivery' : 'loss', `${receiver} never delivered ${msg}`);
    }
  }
  return out;
}
