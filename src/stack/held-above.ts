import type { DownEvent } from '../core/events.js';
import type { NodeId } from '../core/node-id.js';

/**
 * Flow control is told again once what is held of a member moved this many bytes from what it was
 * last told (or fell to nothing): a short wait in the normal pipeline costs no event, and what flow
 * control believes is never off by more than this per layer.
 */
export const HELD_REPORT_QUANTUM = 64 * 1024;

/** What a held message weighs towards the quantum besides its payload (headers, objects). */
const PER_MESSAGE = 64;

/**
 * What a layer holds of each member's multicasts (taken from below, not yet delivered), told to
 * flow control below as HELD_ABOVE: at most once per frame for each member whose part changed, and
 * only when it moved by HELD_REPORT_QUANTUM or fell to nothing (an event per frame cost a safe
 * abcast a fifth more CPU in bench/micro/stack-cpu.ts). Members are view indexes; `reset` at every view.
 */
export class HeldAbove {
  private messages: number[] = [];
  private payload: number[] = [];
  /** Per member: the weight (payload and PER_MESSAGE each) held when flow control was last told. */
  private told: number[] = [];
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
    this.told = new Array<number>(size).fill(0);
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
      const messages = this.messages[i]!;
      const weight = this.payload[i]! + PER_MESSAGE * messages;
      const told = this.told[i]!;
      const moved = weight > told ? weight - told : told - weight;
      if (moved < HELD_REPORT_QUANTUM && !(messages === 0 && told !== 0)) continue;
      this.told[i] = weight;
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
