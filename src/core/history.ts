import type { NodeId } from './node-id.js';

/** Records what the application sees: the checker reads only this. */
export type HistoryEvent =
  | { k: 'send'; at: number; node: NodeId; group: string; msg: string; order: number; view: number; safe?: boolean }
  | { k: 'deliver'; at: number; node: NodeId; group: string; msg: string; sender: NodeId; order: number; view: number }
  | { k: 'view'; at: number; node: NodeId; group: string; view: number; members: readonly NodeId[] }
  | { k: 'crash'; at: number; node: NodeId }
  /** The process was stopped (SIGSTOP) / continued: while stopped it runs nothing (harness-recorded). */
  | { k: 'pause'; at: number; node: NodeId }
  | { k: 'resume'; at: number; node: NodeId }
  /** Sends (and, for 'minority', deliveries) held for `reason`; 'unblocked' without one: every reason is over. */
  | { k: 'blocked'; at: number; node: NodeId; group: string; reason: string }
  | { k: 'unblocked'; at: number; node: NodeId; group: string; reason?: string }
  /** This member's membership ended: it left, was excluded, or its join failed. */
  | { k: 'ended'; at: number; node: NodeId; group: string; how: 'left' | 'excluded' | 'join-failed' }
  /**
   * A group's stack threw (in a timer, a handler or a layer) and was contained: the node kept
   * serving. A real node survives it; in the simulator it is a bug, and the checker fails the seed.
   */
  | { k: 'fault'; at: number; node: NodeId; group: string; error: string }
  /** The application's state right after a view install (the sim app: the set of messages it holds). */
  | { k: 'state'; at: number; node: NodeId; group: string; view: number; count: number; digest: number }
  /** A partitionable group's junior side delivered its merge marker: this member leaves for the senior group. */
  | { k: 'merge-marker'; at: number; node: NodeId; group: string; view: number }
  /** A partitionable group reconciled the junior side `key` (its last view) into this view. */
  | { k: 'merge'; at: number; node: NodeId; group: string; view: number; key: string };

export interface HistoryRecorder {
  record(ev: HistoryEvent): void;
}

/** Keeps every event in memory (simulator and tests). */
export class MemoryHistory implements HistoryRecorder {
  readonly events: HistoryEvent[] = [];
  record(ev: HistoryEvent): void {
    this.events.push(ev);
  }
}

/** A message's name in histories: sender and its per-sender number. */
export function messageName(sender: NodeId, id: number): string {
  return `${sender}#${id}`;
}
