import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import type { Env } from '../core/env.js';
import type { NodeId } from '../core/node-id.js';
import type { Rng } from '../core/rng.js';
import type { View } from '../core/view.js';

/**
 * Group keys: one fresh AES-256 key per view, made by the coordinator that decides the view and
 * sealed to each member's X25519 key-agreement public key (ephemeral-static ECDH, HKDF-SHA256,
 * AES-256-GCM), so only the members of that view can open it. See docs/security.md "Group keys".
 */

/** Bytes of a group key, of an X25519 key, of a sealed key (ephemeral public key | key | tag). */
export const GROUP_KEY_BYTES = 32;
export const KX_KEY_BYTES = 32;
export const SEALED_KEY_BYTES = KX_KEY_BYTES + GROUP_KEY_BYTES + 16;

const ZERO_NONCE = Buffer.alloc(12);

/** `n` bytes from a seeded stream (the simulator's Env.randomBytes, and the fallback when an Env has none). */
export function bytesFromRng(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(0, 255);
  return out;
}

/** Random bytes from the environment: the OS in a real process, the seed in the simulator. */
export function envRandomBytes(env: Env, n: number): Buffer {
  const b = env.randomBytes?.(n) ?? bytesFromRng(env.rng, n);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A member's key-agreement key pair; `pub` is the raw 32-byte public key it hands the coordinator. */
export interface KxKeyPair {
  readonly priv: KeyObject;
  readonly pub: Buffer;
}

/** The X25519 base point (u = 9): ECDH with it gives a private key's public key. */
const BASE_POINT = Buffer.alloc(KX_KEY_BYTES);
BASE_POINT[0] = 9;

/**
 * An X25519 key pair from 32 secret bytes (drawn from the env, so the simulator replays it). The
 * private key is imported as a JWK (its public half is not read on import: a placeholder stands in)
 * and the public key is computed by ECDH with the base point: a tenth of the time of a PKCS#8 import.
 */
export function kxKeyPair(secret: Uint8Array): KxKeyPair {
  const priv = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(secret).toString('base64url'), x: BASE_POINT.toString('base64url') },
    format: 'jwk',
  });
  const pub = diffieHellman({ privateKey: priv, publicKey: basePointKey() });
  return { priv, pub };
}

let basePoint: KeyObject | null = null;
function basePointKey(): KeyObject {
  basePoint ??= publicKeyFromRaw(BASE_POINT);
  return basePoint;
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** What a sealed key is bound to: the group, the view it is for and the member it is sealed to. */
export function sealLabel(group: string, viewId: number, member: NodeId): Buffer {
  return Buffer.from(`horus group key\0${group}\0${viewId}\0${member}`);
}

function wrapKey(shared: Buffer, eph: Buffer, recipient: Buffer, label: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([eph, recipient]), label, 32));
}

/**
 * Seal `key` to `recipientPub`: ECDH between an ephemeral key pair and the recipient, HKDF over the
 * shared secret bound to both public keys and `label`, AES-256-GCM. One ephemeral pair may seal
 * the same key to many recipients (each gets its own shared secret and wrapping key, as in
 * multi-recipient HPKE); a wrapping key is used once, so a fixed nonce is safe.
 */
export function sealKey(key: Uint8Array, recipientPub: Uint8Array, eph: KxKeyPair | Uint8Array, label: Buffer): Buffer {
  const e = eph instanceof Uint8Array ? kxKeyPair(eph) : eph;
  const recipient = Buffer.from(recipientPub);
  const shared = diffieHellman({ privateKey: e.priv, publicKey: publicKeyFromRaw(recipient) });
  const c = createCipheriv('aes-256-gcm', wrapKey(shared, e.pub, recipient, label), ZERO_NONCE);
  c.setAAD(label);
  const ct = Buffer.concat([c.update(key), c.final()]);
  return Buffer.concat([e.pub, ct, c.getAuthTag()]);
}

/** Open a key sealed to `me`, or null if it was not sealed to this key pair and label (or was altered). */
export function openKey(sealed: Uint8Array, me: KxKeyPair, label: Buffer): Buffer | null {
  if (sealed.length !== SEALED_KEY_BYTES) return null;
  try {
    const s = Buffer.from(sealed);
    const eph = s.subarray(0, KX_KEY_BYTES);
    const shared = diffieHellman({ privateKey: me.priv, publicKey: publicKeyFromRaw(eph) });
    const d = createDecipheriv('aes-256-gcm', wrapKey(shared, eph, me.pub, label), ZERO_NONCE);
    d.setAAD(label);
    d.setAuthTag(s.subarray(KX_KEY_BYTES + GROUP_KEY_BYTES));
    return Buffer.concat([d.update(s.subarray(KX_KEY_BYTES, KX_KEY_BYTES + GROUP_KEY_BYTES)), d.final()]);
  } catch {
    return null;
  }
}

/**
 * The key of a view, handed from GMS to the CRYPT layer below it with the view itself (the VIEW
 * event carries the view object down the stack). A side table keyed by the view object, until the
 * VIEW down-event has a field of its own for it.
 */
const viewKeys = new WeakMap<View, Buffer>();

export function attachViewKey(view: View, key: Buffer): void {
  viewKeys.set(view, key);
}

export function viewKeyOf(view: View): Buffer | undefined {
  return viewKeys.get(view);
}
