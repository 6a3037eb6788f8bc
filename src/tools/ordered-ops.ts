import type { Delivery } from '../api/delivery.js';
import type { ExcludedEvent, Group, MergedEvent, SendOptions } from '../api/group.js';
import { ClosedError, HorusError } from '../core/errors.js';
import type { View } from '../core/view.js';

/** What a tool's replicated state machine does with one operation delivered in total order. */
export interface OrderedMachine {
  /**
   * Apply one operation (the same on every replica: deterministic, from the state and `op` alone).
   * The return value resolves the issuer's promise; a HorusError thrown rejects it (and must leave
   * the state as it was). `op` comes from the network: check its shape before use.
   */
  apply(op: unknown, sender: string, d: Delivery): unknown;
  /** A view was installed: every replica sees the same views at the same point among the operations. */
  viewChanged?(view: View): void;
}

/** Operations of this member awaiting their turn in the total order, at most (more fail with ERR_BACKPRESSURE). */
export const DEFAULT_MAX_PENDING_OPS = 100_000;

interface PendingOp {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * The engine under the replicated tools: operations go out by abcast as `[tag, opId, op]`, and
 * every replica applies them in the one total order; the issuing member's promise settles with
 * what its own operation returned when applied there. Messages of other tags are left alone, so
 * several tools (of distinct tags) may share a group. A member that is excluded, merged away or
 * leaves cannot know whether its pending operations were applied: they fail (ERR_NOT_MEMBER or
 * ERR_CLOSED), and a retry must be idempotent (see the clients' request ids).
 *
 * An operation is applied only in the membership that submitted it: each carries its issuer's member
 * id, and every replica drops one whose id is not its sender's. A send the group held while this
 * member was excluded goes out after the rejoin under the new member id; applying it then would act
 * for a membership whose promises already failed (a lock granted to nobody who waits for it).
 */
export class OrderedOps {
  private readonly pending = new Map<number, PendingOp>();
  private nextOp = 1;
  /** Operations of this tag whose shape was wrong (from a buggy or hostile member). */
  malformed = 0;
  /** Operations dropped because their sender was not the member that submitted them (held across a rejoin). */
  stale = 0;

  constructor(
    readonly group: Group,
    readonly tag: string,
    private readonly machine: OrderedMachine,
    private readonly maxPending = DEFAULT_MAX_PENDING_OPS,
    /**
     * Send operations with safe delivery unless told otherwise: an operation then settles only once
     * every member holds it, so one that settled survives its issuer being cut off right after
     * (without it, a member cut off may apply its own operation that the others never see).
     */
    private readonly defaultSafe = false,
  ) {
    group.on('message', (d) => this.onMessage(d));
    group.on('view', (v) => this.machine.viewChanged?.(v));
    group.on('excluded', (e: ExcludedEvent) =>
      this.failAll(new HorusError('ERR_NOT_MEMBER', `excluded from group ${group.name} (${e.type}): outcome unknown`)),
    );
    group.on('merged', (e: MergedEvent) =>
      this.failAll(new HorusError('ERR_NOT_MEMBER', `group ${group.name} merged into view ${e.joined.id}: outcome unknown`)),
    );
    group.on('left', () => this.failAll(new ClosedError(`group ${group.name} was left`)));
  }

  /** Operations of this member not applied yet. */
  get pendingOps(): number {
    return this.pending.size;
  }

  /** Send `op` in total order; resolves with what applying it returned on this member. */
  submit(op: unknown, opts: SendOptions = {}): Promise<unknown> {
    if (this.group.isClosed) return Promise.reject(new ClosedError(`group ${this.group.name} was left`));
    if (this.pending.size >= this.maxPending)
      return Promise.reject(new HorusError('ERR_BACKPRESSURE', `${this.pending.size} operations on group ${this.group.name} are already waiting`));
    const id = this.nextOp++;
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.group.abcast([this.tag, id, op, this.group.localId], { safe: opts.safe ?? this.defaultSafe }).catch((err: Error) => {
        if (this.pending.delete(id)) reject(err);
      });
    });
  }

  private onMessage(d: Delivery): void {
    let raw: unknown;
    try {
      raw = d.payload;
    } catch {
      return; // not decodable: not ours to judge (the group reports it to whoever owns it)
    }
    if (!Array.isArray(raw) || raw[0] !== this.tag) return;
    const [, id, op, by] = raw as [string, unknown, unknown, unknown];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || typeof by !== 'string' || raw.length !== 4) {
      this.malformed++;
      return;
    }
    // Only our own operation settles a promise here: ids are numbered per member.
    const mine = d.sender === this.group.localId ? this.pending.get(id) : undefined;
    if (mine) this.pending.delete(id);
    if (by !== d.sender) {
      // Submitted by an earlier membership of its sender: dropped by every replica alike.
      this.stale++;
      mine?.reject(new HorusError('ERR_NOT_MEMBER', `operation submitted as ${by}, a membership of group ${this.group.name} that ended: not applied`));
      return;
    }
    let result: unknown;
    try {
      result = this.machine.apply(op, d.sender, d);
    } catch (err) {
      if (!(err instanceof HorusError)) throw err; // a bug in the machine: let the group report it
      if (err.code === 'ERR_MALFORMED') this.malformed++;
      mine?.reject(err);
      return;
    }
    mine?.resolve(result);
  }

  private failAll(err: HorusError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}
