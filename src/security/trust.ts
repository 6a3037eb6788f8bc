/**
 * Which certificates a node accepts, and its own credentials. Trust anchors are CA public keys (any
 * certificate they signed is accepted) and allow-listed node keys (accepted with a certificate they
 * signed themselves). A revocation list names serials and keys that are refused whatever signed them.
 */
import type { KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../core/env.js';
import { HorusError } from '../core/errors.js';
import { certificateAllows, checkSignature, encodeCertificate, loadCertificate, type Certificate } from './certificate.js';
import { loadPrivateKey, loadPublicKey, parsePublicKeyId, publicKeyId, type KeyPair } from './keys.js';

export interface RevocationList {
  /** Certificate serials (hex) that are no longer valid. */
  serials?: readonly string[];
  /** Node or CA public keys (base64) that are no longer trusted. */
  keys?: readonly string[];
}

export interface TrustOptions {
  /** CA public keys (base64, or KeyObjects): certificates they signed are accepted. */
  ca?: readonly (string | KeyObject)[];
  /** Node public keys accepted with a self-signed certificate (an allow-list instead of a CA). */
  allow?: readonly (string | KeyObject)[];
  revoked?: RevocationList;
}

function keyId(k: string | KeyObject): string {
  return typeof k === 'string' ? publicKeyId(parsePublicKeyId(k)) : publicKeyId(k);
}

export class TrustStore {
  private readonly ca: Set<string>;
  private readonly allow: Set<string>;
  private readonly revokedSerials: Set<string>;
  private readonly revokedKeys: Set<string>;

  constructor(o: TrustOptions) {
    this.ca = new Set((o.ca ?? []).map(keyId));
    this.allow = new Set((o.allow ?? []).map(keyId));
    this.revokedSerials = new Set((o.revoked?.serials ?? []).map((s) => s.toLowerCase()));
    this.revokedKeys = new Set((o.revoked?.keys ?? []).map(keyId));
    if (this.ca.size === 0 && this.allow.size === 0) throw new HorusError('ERR_CONFIG', 'pki security needs at least one CA key or allow-listed node key');
  }

  /**
   * Throws ERR_AUTH unless `cert` is signed by a trust anchor, valid at `now` (ms since the epoch)
   * and not revoked. Does not look at the endpoint (see `identify`).
   */
  check(cert: Certificate, now: number): void {
    const who = `certificate ${cert.serial} of ${JSON.stringify(cert.subject)}`;
    const selfSigned = cert.issuerKey === cert.publicKey;
    if (!this.ca.has(cert.issuerKey) && !(selfSigned && this.allow.has(cert.publicKey))) {
      throw new HorusError('ERR_AUTH', `${who} is not signed by a trusted CA (issuer ${JSON.stringify(cert.issuer)}) nor an allow-listed key`);
    }
    checkSignature(cert);
    if (now < cert.notBefore) throw new HorusError('ERR_AUTH', `${who} is not valid before ${new Date(cert.notBefore).toISOString()}`);
    if (now > cert.notAfter) throw new HorusError('ERR_AUTH', `${who} expired at ${new Date(cert.notAfter).toISOString()}`);
    if (this.revokedSerials.has(cert.serial)) throw new HorusError('ERR_AUTH', `${who} is revoked`);
    if (this.revokedKeys.has(cert.publicKey)) throw new HorusError('ERR_AUTH', `${who}: its key is revoked`);
    if (this.revokedKeys.has(cert.issuerKey)) throw new HorusError('ERR_AUTH', `${who}: its issuer's key is revoked`);
  }

  /** `check`, and the certificate must allow `nodeId`: the identity a peer proved by it. */
  identify(cert: Certificate, nodeId: string, now: number): PeerIdentity {
    this.check(cert, now);
    if (!certificateAllows(cert, nodeId)) {
      throw new HorusError(
        'ERR_AUTH',
        `certificate of ${JSON.stringify(cert.subject)} does not allow node id ${JSON.stringify(nodeId.slice(0, 120))} (endpoints ${cert.endpoints.join(', ')})`,
      );
    }
    return { mode: 'pki', name: cert.subject, publicKey: cert.publicKey, serial: cert.serial };
  }
}

/** What a node needs to prove who it is in `pki` mode, loaded and checked. */
export interface PkiCredentials {
  keys: KeyPair;
  certificate: Certificate;
  /** The certificate as sent in the handshake. */
  certificateBytes: Buffer;
  trust: TrustStore;
}

export interface PkiFiles {
  /** Private key file (mode 0600). */
  key: string;
  /** Certificate file (JSON, from `horus cert sign`). */
  cert: string;
  /** CA public keys: `.pub` files or base64 keys. */
  ca?: readonly string[];
  /** Allow-listed node keys: `.pub` files or base64 keys. */
  allow?: readonly string[];
  revoked?: RevocationList;
}

/** A base64 key as it is, else a file holding one. */
function keyFromSpec(s: string): KeyObject {
  if (/^[A-Za-z0-9+/]{43}=$/.test(s)) return parsePublicKeyId(s);
  return loadPublicKey(s);
}

/**
 * Loads and checks a node's key, certificate and trust anchors: every problem (missing or
 * world-readable key, a certificate for another key, expired, not signed by a trusted CA, revoked)
 * is a HorusError ERR_AUTH or ERR_CONFIG here, at start-up, before anything listens.
 */
export function loadPkiCredentials(files: PkiFiles, now: number = Date.now()): PkiCredentials {
  const keys = loadPrivateKey(files.key);
  const certificate = loadCertificate(files.cert);
  const trust = new TrustStore({
    ca: (files.ca ?? []).map(keyFromSpec),
    allow: (files.allow ?? []).map(keyFromSpec),
    ...(files.revoked ? { revoked: files.revoked } : {}),
  });
  return pkiCredentials(keys, certificate, trust, now, files.cert);
}

/** Checks that a key and certificate belong together and that the node's own trust accepts them. */
export function pkiCredentials(
  keys: KeyPair,
  certificate: Certificate,
  trust: TrustStore,
  now: number = Date.now(),
  source = 'the certificate',
): PkiCredentials {
  if (certificate.publicKey !== publicKeyId(keys.publicKey)) {
    throw new HorusError('ERR_AUTH', `${source} is for another key than this node's private key`);
  }
  try {
    trust.check(certificate, now);
  } catch (cause) {
    throw new HorusError('ERR_AUTH', `this node's own ${source} is not acceptable: ${(cause as Error).message}`, { cause });
  }
  return { keys, certificate, certificateBytes: encodeCertificate(certificate), trust };
}
