import type { NodeId } from './node-id.js';

/** A group view: members ordered by seniority, the first is the coordinator. */
export interface View {
  readonly group: string;
  readonly id: number;
  readonly members: readonly NodeId[];
}

export function coordinatorOf(view: View): NodeId {
  const c = view.members[0];
  if (c === undefined) throw new Error('empty view has no coordinator');
  return c;
}

export function viewKey(view: View): string {
  return `${view.group}#${view.id}`;
}
