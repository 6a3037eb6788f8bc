/**
 * Merging the sides of a partitionable group (`partition: { kind: 'partitionable' }`) when they meet
 * again. Every side of a split kept its own views and its own state; when a node finds a second live
 * group of the same name (the probes of src/api/node.ts), the junior side merges into the senior one
 * in three agreed steps:
 *
 * 1. A member of the junior side multicasts a *merge marker* in group order (gbcast): every junior
 *    member delivers it at the same point of its sequence, takes a snapshot of its state there (the
 *    same snapshot everywhere, by virtual synchrony) and leaves for the senior group.
 * 2. Each junior member joins the senior group as a new member (taking the senior state, as any
 *    joiner does) and multicasts a *merge record* in group order: the junior side's last view and
 *    that snapshot.
 * 3. Every member of the merged group delivers the first record of that junior view at the same point
 *    of its sequence and reconciles there: the application's merge handler gets its own (the
 *    senior) state and the junior side's, returns the merged state, and the group emits 'merge'. The
 *    other junior members' records (the same snapshot) are recognised by the junior view's key and
 *    ignored; the keys seen travel with the state, so a later joiner ignores them too.
 *
 * So the merge is agreed: every member of the merged group sees the same 'merge' events at the same
 * points, between the same messages, and ends with the same state if the handler is deterministic.
 */
import { z } from 'zod';
import type { View } from '../core/view.js';
import type { NodeId } from '../core/node-id.js';
import { nodeOfMember } from '../core/member-id.js';
import { wire, MAX_ID_BYTES } from '../core/input-guard.js';
import { pack, unpack } from '../codec/payload.js';

/** What a merge handler is given. */
export interface MergeInput<S = unknown> {
  /** This group's state at the merge (the senior side's: every member of the merged group has it). */
  mine: S;
  /** The junior side's state as of its merge marker. */
  theirs: S;
  /** The merged group's view when the junior side's record is delivered. */
  view: View;
  /** The junior side's last view before it merged. */
  theirView: View;
}

/**
 * Reconciles the two sides' states into the merged group's state. It runs on every member at the same
 * point of the total order with the same input: it must be deterministic (no clock, no randomness).
 */
export type MergeHandler<S = unknown> = (input: MergeInput<S>) => S;

/** What the 'merge' event carries: the merged group's view, and the junior side's last view. */
export interface MergeEvent {
  view: View;
  theirView: View;
}

/**
 * Ready-made merge handlers, typed by the state they expect and given to `JoinOptions.merge` as they
 * are (the states arrive as the state handlers' `get()` gave them, decoded).
 */
export const mergePolicies = {
  /** The senior side's state wins; the junior side's is dropped (what a group without a handler does). */
  seniorWins(): MergeHandler {
    return ({ mine }) => mine;
  },
  /** One side's state wins by a rule on the two states: `pick` returns 'mine' or 'theirs'. */
  pick<S>(rule: (mine: S, theirs: S) => 'mine' | 'theirs'): MergeHandler {
    return ({ mine, theirs }) => (rule(mine as S, theirs as S) === 'theirs' ? theirs : mine);
  },
  /**
   * Key-value states (plain objects) merged key by key, each value with a version: the higher version
   * wins, ties to the senior side (last-writer-wins when versions are write times or counters).
   */
  lastWriterWins<V>(versionOf: (value: V) => number): MergeHandler {
    return (input) => {
      const mine = input.mine as Record<string, V>;
      const theirs = input.theirs as Record<string, V>;
      const out: Record<string, V> = { ...mine };
      for (const [k, v] of Object.entries(theirs)) {
        const have = out[k];
        if (have === undefined || versionOf(v) > versionOf(have)) out[k] = v;
      }
      return out;
    };
  },
};

/** Most junior views remembered as merged (each key is tens of bytes; a group merges rarely). */
export const MAX_MERGE_KEYS = 256;
/** Most members a marker may name as the senior group's. */
const MAX_MERGE_MEMBERS = 1024;

const viewSchema = z.object({ group: z.string().min(1).max(MAX_ID_BYTES), id: wire.int, members: z.array(wire.id).min(1).max(MAX_MERGE_MEMBERS) });

const controlSchema = z.discriminatedUnion('t', [
  /** Junior side: leave for the senior group (members `into`), with the state as of this point. */
  z.object({ t: z.literal('marker'), into: z.array(wire.id).min(1).max(MAX_MERGE_MEMBERS) }).strict(),
  /** Merged group: the junior side's last view and its state (`enc` + `state`, as a snapshot is sent). */
  z.object({ t: z.literal('record'), was: viewSchema, enc: z.number().int().min(0).max(1), state: wire.bytes }).strict(),
]);
export type MergeControl = z.infer<typeof controlSchema>;

/** The control message as bytes (sent as an application message of kind Merge). */
export function encodeMergeControl(c: MergeControl): Buffer {
  return pack(c);
}

/** A control message from a member, or null if it does not decode or is out of bounds. */
export function decodeMergeControl(bytes: Buffer): MergeControl | null {
  let raw: unknown;
  try {
    raw = unpack(bytes);
  } catch {
    return null;
  }
  const parsed = controlSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** The key of a junior view: the same for every member's record of it. */
export function mergeKey(was: View): string {
  return `${was.id}@${was.members[0] ?? ''}`;
}

/** A record speaks for its sender's own side only: the sender's node must have been in that view. */
export function recordFromItsSide(sender: NodeId, was: View): boolean {
  const node = nodeOfMember(sender);
  return was.members.some((m) => nodeOfMember(m) === node);
}

/**
 * The junior views already merged into this group: replicated state (it travels with the state to
 * joiners), so every member ignores the same duplicate records. Oldest first, bounded.
 */
export class MergedKeys {
  private keys: string[] = [];

  has(key: string): boolean {
    return this.keys.includes(key);
  }

  add(key: string): void {
    this.keys.push(key);
    if (this.keys.length > MAX_MERGE_KEYS) this.keys.shift();
  }

  /** The state for a joiner: these keys around the application's snapshot bytes. */
  wrap(encoding: number, appState: Buffer): Buffer {
    return pack({ k: this.keys, e: encoding, s: appState });
  }

  /** A joiner's state: takes the keys, returns the application's part (throws if malformed). */
  unwrap(bytes: Buffer): { encoding: number; state: Buffer } {
    const parsed = wrappedSchema.parse(unpack(bytes));
    this.keys = parsed.k.slice(-MAX_MERGE_KEYS);
    return { encoding: parsed.e, state: Buffer.from(parsed.s.buffer, parsed.s.byteOffset, parsed.s.byteLength) };
  }
}

const wrappedSchema = z.object({ k: z.array(z.string().max(2 * MAX_ID_BYTES)).max(4 * MAX_MERGE_KEYS), e: z.number().int().min(0).max(1), s: wire.bytes });
