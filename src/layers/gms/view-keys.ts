import type { Env } from '../../core/env.js';
import type { NodeId } from '../../core/node-id.js';
import type { View } from '../../core/view.js';
import {
  attachViewKey,
  envRandomBytes,
  GROUP_KEY_BYTES,
  KX_KEY_BYTES,
  kxKeyPair,
  openKey,
  sealKey,
  sealLabel,
  type KxKeyPair,
} from '../../security/group-key.js';

/** A view's key sealed to each of its members: [member, sealed key]. */
export type SealedKeys = [NodeId, Uint8Array][];

/** Most key-agreement keys of joiners remembered (one per join waiting for its view). */
const MAX_JOINER_KEYS = 4096;

/**
 * GMS's side of the group keys (with `groupKeys` on). Each member has an X25519 key pair made
 * from the env's random bytes; its public half goes to the coordinator in its join answer and in
 * every flush reply (over the member's own authenticated connection). The coordinator that makes
 * a fresh proposal draws the next view's key and seals it to each member of the proposal; the
 * sealed keys travel in the proposal (so a coordinator that finishes a failed one's change installs
 * the same key) and in the install (for joiners, who take no part in the flush). A member opens
 * its copy and hands the key down to CRYPT with the view.
 */
export class ViewKeys {
  readonly kx: KxKeyPair;
  /** Coordinator: joiners' public keys from their join answers. */
  private readonly joiners = new Map<NodeId, Uint8Array>();
  /** The sealed keys of the view we are in: resent with an install a member missed. */
  current: SealedKeys | null = null;

  constructor(
    private readonly env: Env,
    private readonly group: string,
    private readonly me: NodeId,
  ) {
    this.kx = kxKeyPair(envRandomBytes(env, KX_KEY_BYTES));
  }

  get publicKey(): Buffer {
    return this.kx.pub;
  }

  noteJoiner(member: NodeId, pub: Uint8Array): void {
    if (this.joiners.size >= MAX_JOINER_KEYS && !this.joiners.has(member)) this.joiners.delete(this.joiners.keys().next().value!);
    this.joiners.set(member, pub);
  }

  joinerKey(member: NodeId): Uint8Array | undefined {
    return this.joiners.get(member);
  }

  /** Forget joiners that are members now, or never will be. */
  forgetJoinersBut(pending: readonly NodeId[]): void {
    for (const j of [...this.joiners.keys()]) if (!pending.includes(j)) this.joiners.delete(j);
  }

  /** A fresh key for view `viewId`, sealed to each member whose public key `pubOf` knows (the others are returned apart). */
  seal(viewId: number, members: readonly NodeId[], pubOf: (m: NodeId) => Uint8Array | undefined): { keys: SealedKeys; unknown: NodeId[] } {
    const key = envRandomBytes(this.env, GROUP_KEY_BYTES);
    // One ephemeral key pair for the whole view change: a key-pair generation, then one ECDH per member.
    const eph = kxKeyPair(envRandomBytes(this.env, KX_KEY_BYTES));
    const keys: SealedKeys = [];
    const unknown: NodeId[] = [];
    for (const m of members) {
      const pub = m === this.me ? this.kx.pub : pubOf(m);
      if (pub === undefined || pub.length !== KX_KEY_BYTES) {
        unknown.push(m);
        continue;
      }
      keys.push([m, sealKey(key, pub, eph, sealLabel(this.group, viewId, m))]);
    }
    return { keys, unknown };
  }

  /** The founder's first view: a key of its own. */
  founding(view: View): void {
    const { keys } = this.seal(view.id, [this.me], () => undefined);
    this.install(view, keys);
  }

  /**
   * Open our copy of `view`'s key and attach it to the view for CRYPT; false if there is none for
   * us (or it does not open): we cannot read this view.
   */
  install(view: View, keys: SealedKeys | undefined): boolean {
    const mine = keys?.find(([m]) => m === this.me)?.[1];
    const key = mine === undefined ? null : openKey(mine, this.kx, sealLabel(this.group, view.id, this.me));
    if (key === null) return false;
    attachViewKey(view, key);
    this.current = keys!;
    return true;
  }
}
