import type { HistoryEvent } from '../../core/history.js';
import type { ViolationList } from './violation.js';

/**
 * One group per name: every member that installs view 1 of `group` sees the same member list.
 * Two lists mean two founders (nodes started together that each founded the group, or a rejoin
 * that found nobody): two groups of one name, whose views then disagree id by id. Returns whether
 * it found them, after reporting a 'two-groups' violation.
 */
export function checkOneGroupPerName(events: readonly HistoryEvent[], group: string, out: ViolationList): boolean {
  const firsts = new Map<string, string>(); // member list of a view 1 -> who installed it
  for (const ev of events) {
    if (ev.k !== 'view' || ev.group !== group || ev.view !== 1) continue;
    const key = ev.members.join(',');
    if (!firsts.has(key)) firsts.set(key, `${ev.node} at ${ev.at}`);
  }
  if (firsts.size < 2) return false;
  out.add('two-groups', `${firsts.size} groups named ${group} were founded: ${[...firsts].map(([m, by]) => `[${m}] (${by})`).join(', ')}`);
  return true;
}
