import type { DownEvent } from '../core/events.js';
import type { NodeId } from '../core/node-id.js';

/**
 * What a layer holds of each member's multicasts (taken from below, not yet delivered), told to
 * flow control below as HELD_ABOVE: once per frame for each member whose part changed, not per
 * message. Members are view indexes; `reset` at every view.
 */
export class HeldAbove {
  private messages: number[] = [];
  private payload: number[] = [];
  private changed: number[] = [];
  private isChanged = new Uint8Array(0);

  constructor(
    private readonly layer: string,
    /** Sends an event down (the layer's `below` is wired after it is made). */
    private readonly down: (ev: DownEvent) => void,
  ) {}

  /** A new view of `size` members: nothing held (flow control starts its counts over too). */
  reset(size: number): void {
    this.messages = new Array<number>(size).fill(0);
    this.payload = new Array<number>(size).fill(0);
    this.changed = [];
    this.isChanged = new Uint8Array(size);
  }

  hold(index: number, payloadBytes: number): void {
    this.messages[index]!++;
    this.payload[index]! += payloadBytes;
    this.mark(index);
  }

  release(index: number, payloadBytes: number): void {
    this.messages[index]!--;
    this.payload[index]! -= payloadBytes;
    this.mark(index);
  }

  /** Tells flow control what is held now of each member whose part changed since the last call. */
  tell(members: readonly NodeId[]): void {
    if (this.changed.length === 0) return;
    const changed = this.changed;
    this.changed = [];
    for (const i of changed) {
      this.isChanged[i] = 0;
      const member = members[i];
      if (member !== undefined) this.down({ type: 'HELD_ABOVE', layer: this.layer, member, messages: this.messages[i]!, payloadBytes: this.payload[i]! });
    }
  }

  private mark(index: number): void {
    if (this.isChanged[index] === 0) {
      this.isChanged[index] = 1;
      this.changed.push(index);
    }
  }
}
