import type { Message } from '../../core/message.js';
import type { NodeId } from '../../core/node-id.js';
import { messageFromBytes, messageToBytes } from '../../codec/message-codec.js';

/** Keys of delivered gbcasts remembered, so a late resend is not delivered twice. */
const DELIVERED_KEYS = 10_000;

/**
 * gbcast: a message totally ordered against every message and every view change. A member hands
 * it to the coordinator (resending until it is delivered); the coordinator puts the ones it holds
 * into the next flush proposal, and every survivor delivers them after the cut, before the new view.
 * A key is `<sender member id>:<counter>`: it names the sender and makes resends idempotent.
 */
export class Gbcasts {
  /** Coordinator: gbcasts handed in and not yet delivered, in arrival order. */
  private readonly pending = new Map<string, Buffer>();
  /** Our own gbcasts, resent to the coordinator until they are delivered. */
  private readonly mine = new Map<string, Buffer>();
  private counter = 0;
  /** When we last resent ours. */
  lastSend = 0;
  /** Keys of gbcasts already delivered (bounded): a late resend must not deliver one twice. */
  private readonly delivered = new Set<string>();
  /** The gbcasts of the proposal this coordinator installs. */
  lastProposal: [string, Uint8Array][] = [];

  /** Ours, to hand to the coordinator: stamped with our id. */
  submit(me: NodeId, msg: Message): void {
    const key = `${me}:${++this.counter}`;
    msg.src = me;
    this.mine.set(key, messageToBytes(msg));
  }

  /** Ours not yet delivered, to (re)send. */
  get own(): ReadonlyMap<string, Buffer> {
    return this.mine;
  }

  /** Coordinator: one handed in. True if it is new (a view change should deliver it). */
  accept(key: string, bytes: Uint8Array): boolean {
    if (this.delivered.has(key) || this.pending.has(key)) return false;
    this.pending.set(key, Buffer.from(bytes));
    return true;
  }

  wasDelivered(key: string): boolean {
    return this.delivered.has(key);
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Coordinator: forget the gbcasts of senders no longer in the view. None was delivered (no view
   * carried it), and members refuse a proposal with a gbcast from outside their view.
   */
  forgetAllBut(members: readonly NodeId[]): void {
    for (const key of [...this.pending.keys()]) if (!members.includes(senderOfKey(key))) this.pending.delete(key);
  }

  /** Coordinator: what the next proposal delivers. */
  undelivered(): [string, Buffer][] {
    return [...this.pending].filter(([k]) => !this.delivered.has(k));
  }

  /** Deliver a proposal's gbcasts in order, each once, with its sender named by its key. */
  deliver(list: readonly [string, Buffer | Uint8Array][], each: (msg: Message) => void): void {
    for (const [key, bytes] of list) {
      this.pending.delete(key);
      this.mine.delete(key);
      if (this.delivered.has(key)) continue;
      this.delivered.add(key);
      if (this.delivered.size > DELIVERED_KEYS) this.delivered.delete(this.delivered.values().next().value!);
      let msg: Message;
      try {
        msg = messageFromBytes(Buffer.from(bytes));
      } catch {
        continue;
      }
      msg.src = senderOfKey(key);
      msg.dest = null;
      each(msg);
    }
    this.lastProposal = [];
  }
}

/** The member a gbcast key names. */
export function senderOfKey(key: string): NodeId {
  return key.slice(0, key.lastIndexOf(':'));
}
