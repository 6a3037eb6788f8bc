import type { HistoryEvent } from '../core/history.js';
import { MemoryHistory } from '../core/history.js';

/**
 * A history stamped with the world's (real, simulated) time: with drifting clocks a node's own
 * now() is not real time, and checkers that compare instants across nodes need real time.
 */
export class WorldHistory extends MemoryHistory {
  constructor(private readonly clock: { now(): number }) {
    super();
  }
  override record(ev: HistoryEvent): void {
    super.record({ ...ev, at: this.clock.now() });
  }
}
