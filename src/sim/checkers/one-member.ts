import type { HistoryEvent } from '../../core/history.js';
import { nodeOfMember } from '../../core/member-id.js';
import { endpointOf } from '../../core/node-id.js';
import type { ViolationList } from './violation.js';

/**
 * One member per node: no view of `group` lists two members of one endpoint (two incarnations of a
 * process, or two memberships `~n` of one incarnation). A view that did would count a process
 * that no longer exists toward its majority: after a heal, such views jam the group.
 * Each offending view is reported once, whoever installed it.
 */
export function checkOneMemberPerNode(events: readonly HistoryEvent[], group: string, out: ViolationList): void {
  const reported = new Set<string>();
  for (const ev of events) {
    if (ev.k !== 'view' || ev.group !== group) continue;
    const key = `${ev.view}:${ev.members.join(',')}`;
    if (reported.has(key)) continue;
    const seen = new Map<string, string>();
    for (const m of ev.members) {
      const ep = endpointOf(nodeOfMember(m));
      const other = seen.get(ep);
      if (other !== undefined) {
        reported.add(key);
        out.add(
          'one-member-per-node',
          `view ${ev.view} (installed by ${ev.node} at ${ev.at}) lists ${other} and ${m} of one endpoint: [${ev.members.join(',')}]`,
        );
        break;
      }
      seen.set(ep, m);
    }
  }
}
