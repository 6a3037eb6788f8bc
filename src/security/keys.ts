/**
 * Ed25519 node and CA keys on disk. A private key file is PKCS#8 PEM written with mode 0600; like
 * ssh, we refuse to load one that group or others can read. Public keys travel as their raw 32 bytes
 * (base64 in certificates and config).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { constants, promises as fs, statSync, readFileSync } from 'node:fs';
import { HorusError } from '../core/errors.js';

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function authError(message: string, cause?: unknown): HorusError {
  return new HorusError('ERR_AUTH', message, { cause });
}

export function generateEd25519(): KeyPair {
  return generateKeyPairSync('ed25519');
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw authError('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** An Ed25519 public key from its raw 32 bytes; a wrong length or point is ERR_AUTH. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== PUBLIC_KEY_BYTES) throw authError(`an Ed25519 public key has ${PUBLIC_KEY_BYTES} bytes, not ${raw.length}`);
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  } catch (cause) {
    throw authError('invalid Ed25519 public key', cause);
  }
}

/** Base64 of the raw public key: how keys are named in certificates, allow-lists and revocation lists. */
export function publicKeyId(key: KeyObject): string {
  return rawPublicKey(key).toString('base64');
}

export function parsePublicKeyId(s: string): KeyObject {
  const raw = Buffer.from(s.trim(), 'base64');
  if (raw.toString('base64') !== s.trim()) throw authError(`public key ${JSON.stringify(s.slice(0, 60))} is not base64`);
  return publicKeyFromRaw(raw);
}

/** Writes a new key pair: `file` (private, mode 0600, never overwritten) and `file.pub` (public). */
export async function writeKeyPair(file: string, pair: KeyPair = generateEd25519()): Promise<KeyPair> {
  const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  let handle: fs.FileHandle;
  try {
    // O_EXCL: an existing key is never replaced by accident (a node's identity would change).
    handle = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new HorusError(
      'ERR_CONFIG',
      code === 'EEXIST' ? `key file ${file} exists already: not overwritten` : `cannot create key file ${file}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  try {
    await handle.chmod(0o600); // the umask may have removed bits, never added: make it exact
    await handle.writeFile(pem);
  } finally {
    await handle.close();
  }
  await fs.writeFile(`${file}.pub`, publicKeyId(pair.publicKey) + '\n', { mode: 0o644 });
  return pair;
}

/**
 * Loads a private key file. Missing, unreadable, readable by group/others, or not an Ed25519
 * private key: ERR_AUTH naming the file. Synchronous: it runs once at start-up, before listening.
 */
export function loadPrivateKey(file: string): KeyPair {
  checkSecretFileMode(file, 'key file');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw authError(`cannot read key file ${file}: ${(cause as Error).message}`, cause);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(text);
  } catch (cause) {
    throw authError(`key file ${file} does not hold a private key in PEM`, cause);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw authError(`key file ${file} holds a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** ERR_AUTH unless `file` exists and only its owner can read it (like ssh with private keys). */
export function checkSecretFileMode(file: string, what: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw authError(code === 'ENOENT' ? `${what} ${file} does not exist` : `cannot read ${what} ${file}: ${(cause as Error).message}`, cause);
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw authError(`${what} ${file} is readable by others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${file}`);
  }
}

/** A public key from a `.pub` file (base64 raw) or a private key file. */
export function loadPublicKey(file: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw authError(`cannot read public key file ${file}: ${(cause as Error).message}`, cause);
  }
  if (text.includes('PRIVATE KEY')) return loadPrivateKey(file).publicKey;
  return parsePublicKeyId(text.trim());
}
