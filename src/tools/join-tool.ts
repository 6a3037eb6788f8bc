import type { Group, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';

/** A tool that keeps its replicated state in one group: joiners get it through `state`. */
export interface GroupTool {
  readonly state: SnapshotStateHandlers;
  attach(group: Group): unknown;
}

/** Join `name` on `node` with `tool`'s state handlers and attach the tool to the group (each tool's static `join`). */
export async function joinTool<T extends GroupTool>(node: HorusNode, name: string, tool: T, opts: Omit<JoinOptions, 'state'>): Promise<T> {
  tool.attach(await node.join(name, { ...opts, state: tool.state }));
  return tool;
}
