/**
 * The authenticated handshake and sealed records of a TCP connection (security 'psk' or 'pki').
 *
 *   M1 dialer -> acceptor:  'HRUS' | 3 | SEC_HELLO  | mode | dialer id | nonce_d (32) | X25519 eph_d (32)
 *   M2 acceptor -> dialer:  'HRUS' | 3 | SEC_ACCEPT | mode | acceptor id | nonce_a (32) | X25519 eph_a (32)
 *                           | certificate (uvar len; empty in psk) | proof_a
 *   M3 dialer -> acceptor:  'HRUS' | 3 | SEC_FINISH | certificate (uvar len; empty in psk) | proof_d
 *
 * proof_a signs (pki: Ed25519 with the certificate's key; psk: HMAC-SHA256 with the shared secret)
 * SHA-256 of M1 and M2 up to the proof; proof_d the same over M1, M2 and M3 up to the proof. So each
 * proof covers both fresh nonces, both ephemeral keys, both claimed ids and the certificates: an
 * old handshake replayed, or one relayed between two other connections, fails its proof. A claimed
 * id must be one the certificate allows, so a valid node cannot speak as another.
 *
 * Then both derive the connection's key: HKDF-SHA256(X25519(eph_d, eph_a) [| secret in psk], salt
 * nonce_d | nonce_a, info 'horus-tls-psk-v1' | SHA-256(M1 | M2 | M3)), fresh per connection and bound
 * to the transcript that proved both identities.
 *
 * Records: TLS 1.3 with that key as its external pre-shared key (RFC 8446 2.2, psk_dhe_ke: one more
 * ephemeral exchange inside TLS), the acceptor as TLS client, the dialer as TLS server. Everything
 * after M3 goes through it both ways: frames (dialer to acceptor only: the transport's rule) and the
 * PING/PONG control words. TLS's record layer gives what the channel needs: each direction's records
 * sealed with an AEAD under its own traffic key, the record number in the nonce, so a record dropped,
 * repeated, reordered, altered or moved to another connection fails, and the connection closes; a
 * receiver holds at most one record (16 KiB) unauthenticated. It runs inside OpenSSL on its own
 * buffers, which is why it is used rather than sealing in JavaScript: node:crypto's per-call costs (a
 * cipher context per record, a fresh output buffer per update, a copy and a garbage-collected buffer
 * per record at each end) made security cost 1.27-1.41x the CPU per delivery of security off at
 * 1 KiB in a group of 3 (abcast, fbcast: medians of twelve A/B rounds), against 1.23-1.29x with TLS records
 * (docs/security.md, "What it costs"; bench/micro/secure-records.ts measures the channel alone).
 */
import * as tls from 'node:tls';
import type * as net from 'node:net';
import {
  constants as cryptoConstants,
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { PeerIdentity } from '../core/env.js';
import { HorusError, ProtocolError } from '../core/errors.js';
import type { NodeId } from '../core/node-id.js';
import { Reader } from '../codec/reader.js';
import { Writer } from '../codec/writer.js';
import { decodeCertificate, MAX_CERT_BYTES } from '../security/certificate.js';
import { publicKeyFromRaw, SIGNATURE_BYTES } from '../security/keys.js';
import type { PkiCredentials } from '../security/trust.js';

/**
 * 6: a cbcast that names no dependency carries MsgFlag.Causal instead of a CAUSAL header (5 would
 * drop its frames as malformed); 5: records by TLS 1.3 under the handshake's key (4 sealed its own
 * records). Versions refuse each other at the handshake.
 */
export const SECURE_VERSION = 6;
/**
 * The plaintext HELLO's version (security off; tcp-transport writes and checks it, and a secure
 * handshake that finds it knows the peer runs security off). 3: a cbcast that names no dependency
 * carries MsgFlag.Causal instead of a CAUSAL header, which version 2 would drop as malformed;
 * 2: control words (ping, pong) after the HELLO, which version 1 would read as oversized frames.
 */
export const PROTOCOL_VERSION = 3;
export const SEC_HELLO = 3;
export const SEC_ACCEPT = 4;
export const SEC_FINISH = 5;
const MAGIC = Uint8Array.of(0x48, 0x52, 0x55, 0x53); // 'HRUS'
const NONCE_BYTES = 32;
const X25519_BYTES = 32;
const MAC_BYTES = 32;
const MAX_ID_BYTES = 512;
/** Frame limit before the handshake is done, in secure modes: M2 carries a certificate. */
export const SECURE_HELLO_FRAME = 8 + MAX_ID_BYTES + 2 * 32 + 3 + MAX_CERT_BYTES + SIGNATURE_BYTES + 16;

const MODE_CODE = { psk: 1, pki: 2 } as const;
const LABEL_ACCEPTOR = Buffer.from('horus acceptor proof v1\0');
const LABEL_DIALER = Buffer.from('horus dialer proof v1\0');
const LABEL_PSK = Buffer.from('horus-tls-psk-v1');

/** How a connection is secured: 'off' is the plaintext HELLO (PROTOCOL_VERSION). */
export type ChannelSecurity = { mode: 'off' } | { mode: 'psk'; secret: Buffer } | { mode: 'pki'; credentials: PkiCredentials; now?: () => number };
export type SecureMode = 'psk' | 'pki';
type Secured = Exclude<ChannelSecurity, { mode: 'off' }>;

/** The identity this node proves to its peers (what they see as its PeerIdentity), or null with security off. */
export function ownIdentity(security: ChannelSecurity, localId: NodeId): PeerIdentity | null {
  if (security.mode === 'off') return null;
  if (security.mode === 'psk') return { mode: 'psk', name: localId, publicKey: null, serial: null };
  return security.credentials.trust.identify(security.credentials.certificate, localId, security.now?.() ?? Date.now());
}

export function authError(message: string, cause?: unknown): HorusError {
  return new HorusError('ERR_AUTH', message, { cause });
}

function header(w: Writer, kind: number): void {
  w.bytes(MAGIC);
  w.u8(SECURE_VERSION);
  w.u8(kind);
}

function readHeader(frame: Buffer, kind: number): Reader {
  if (frame.length < MAGIC.length + 2 || MAGIC.some((b, i) => frame[i] !== b)) throw new ProtocolError('ERR_PROTOCOL', 'not a Horus handshake (bad magic)');
  const r = new Reader(frame, MAGIC.length);
  const version = r.u8();
  if (version !== SECURE_VERSION) {
    throw new HorusError(
      'ERR_AUTH',
      version === PROTOCOL_VERSION
        ? 'the peer runs security off (plaintext HELLO); this node requires an authenticated handshake'
        : `unsupported protocol version ${version}`,
    );
  }
  const k = r.u8();
  if (k !== kind) throw new ProtocolError('ERR_PROTOCOL', `expected handshake message ${kind}, got ${k}`);
  return r;
}

function x25519Raw(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

function x25519FromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** One side's half of the exchange: an ephemeral key and a nonce, fresh per connection. */
class Ephemeral {
  readonly nonce = randomBytes(NONCE_BYTES);
  private readonly pair = generateKeyPairSync('x25519');
  readonly publicRaw = x25519Raw(this.pair.publicKey);
  shared(peerRaw: Buffer): Buffer {
    try {
      return diffieHellman({ privateKey: this.pair.privateKey, publicKey: x25519FromRaw(peerRaw) });
    } catch (cause) {
      throw authError('the peer sent an unusable ephemeral key', cause);
    }
  }
}

interface Validator {
  /** Checks a claimed node id's syntax (the transport's rule). */
  isValidId(id: string): boolean;
}

abstract class Side {
  private ephemeral: Ephemeral | null = null;
  constructor(
    protected readonly sec: Secured,
    protected readonly localId: NodeId,
    protected readonly v: Validator,
  ) {}

  /** Made on first use: a connection that never sends a hello costs no key generation. */
  protected get eph(): Ephemeral {
    return (this.ephemeral ??= new Ephemeral());
  }

  protected get modeCode(): number {
    return MODE_CODE[this.sec.mode];
  }

  protected readMode(r: Reader): void {
    const m = r.u8();
    if (m !== this.modeCode) {
      const theirs = m === 1 ? 'psk' : m === 2 ? 'pki' : `unknown (${m})`;
      throw authError(`the peer runs security ${theirs}, this node ${this.sec.mode}`);
    }
  }

  protected readId(r: Reader): NodeId {
    const id = r.str(MAX_ID_BYTES);
    if (!this.v.isValidId(id)) throw new ProtocolError('ERR_MALFORMED', `handshake carries an invalid node id ${JSON.stringify(id.slice(0, 80))}`);
    return id;
  }

  protected certificate(): Buffer {
    return this.sec.mode === 'pki' ? this.sec.credentials.certificateBytes : Buffer.alloc(0);
  }

  protected prove(label: Buffer, transcript: Buffer): Buffer {
    if (this.sec.mode === 'psk') return createHmac('sha256', this.sec.secret).update(label).update(transcript).digest();
    return sign(null, Buffer.concat([label, transcript]), this.sec.credentials.keys.privateKey);
  }

  protected proofBytes(): number {
    return this.sec.mode === 'psk' ? MAC_BYTES : SIGNATURE_BYTES;
  }

  /** Checks the peer's certificate and proof for `claimedId`; returns who it is. */
  protected checkProof(cert: Buffer, proof: Buffer, label: Buffer, transcript: Buffer, claimedId: NodeId): PeerIdentity {
    if (this.sec.mode === 'psk') {
      if (cert.length !== 0) throw new ProtocolError('ERR_MALFORMED', 'a certificate in a psk handshake');
      const mac = createHmac('sha256', this.sec.secret).update(label).update(transcript).digest();
      if (proof.length !== MAC_BYTES || !timingSafeEqual(mac, proof))
        throw authError('handshake proof does not verify: wrong shared secret, or a replayed or altered handshake');
      return { mode: 'psk', name: claimedId, publicKey: null, serial: null };
    }
    const c = decodeCertificate(cert);
    const now = this.sec.now?.() ?? Date.now();
    const identity = this.sec.credentials.trust.identify(c, claimedId, now);
    const ok = verify(null, Buffer.concat([label, transcript]), publicKeyFromRaw(Buffer.from(c.publicKey, 'base64')), proof);
    if (!ok) throw authError(`handshake signature of ${JSON.stringify(c.subject)} does not verify: a replayed or altered handshake, or not the key holder`);
    return identity;
  }

  protected channelKey(shared: Buffer, dialerNonce: Buffer, acceptorNonce: Buffer, transcript: Buffer): Buffer {
    const ikm = this.sec.mode === 'psk' ? Buffer.concat([shared, this.sec.secret]) : shared;
    return Buffer.from(hkdfSync('sha256', ikm, Buffer.concat([dialerNonce, acceptorNonce]), Buffer.concat([LABEL_PSK, transcript]), 32));
  }
}

/** The dialing side: sends M1, checks M2, answers M3, then writes through sealDialer. */
export class DialerHandshake extends Side {
  private m1: Buffer | null = null;

  hello(): Buffer {
    const w = new Writer(128 + this.localId.length);
    header(w, SEC_HELLO);
    w.u8(this.modeCode);
    w.str(this.localId);
    w.bytes(this.eph.nonce);
    w.bytes(this.eph.publicRaw);
    this.m1 = w.toBytes();
    return this.m1;
  }

  /** M2 in: the acceptor's proven id and identity, the M3 to send, and the connection's key (for sealDialer). */
  accept(m2: Buffer): { peerId: NodeId; identity: PeerIdentity; finish: Buffer; key: Buffer } {
    const m1 = this.m1;
    if (m1 === null) throw new ProtocolError('ERR_PROTOCOL', 'handshake answer before our hello');
    const r = readHeader(m2, SEC_ACCEPT);
    this.readMode(r);
    const peerId = this.readId(r);
    const nonce = r.bytes(NONCE_BYTES);
    const eph = r.bytes(X25519_BYTES);
    const cert = r.lbytes(MAX_CERT_BYTES);
    const core = m2.subarray(0, m2.length - r.remaining);
    const proof = r.bytes(this.proofBytes());
    if (r.remaining !== 0) throw new ProtocolError('ERR_MALFORMED', `${r.remaining} trailing bytes after the handshake answer`);
    const identity = this.checkProof(cert, proof, LABEL_ACCEPTOR, sha256(m1, core), peerId);
    const shared = this.eph.shared(eph);
    const w = new Writer(256);
    header(w, SEC_FINISH);
    w.lbytes(this.certificate());
    const m3core = w.toBytes();
    const m3 = Buffer.concat([m3core, this.prove(LABEL_DIALER, sha256(m1, m2, m3core))]);
    const key = this.channelKey(shared, this.eph.nonce, nonce, sha256(m1, m2, m3));
    return { peerId, identity, finish: m3, key };
  }
}

/** The accepting side: answers M1 with M2, checks M3, then reads through sealAcceptor. */
export class AcceptorHandshake extends Side {
  private state: { m1: Buffer; m2: Buffer; claimed: NodeId; dialerNonce: Buffer; shared: Buffer } | null = null;

  /** M1 in: the id the dialer claims (not yet proven) and the M2 to send. */
  hello(m1: Buffer): { claimedId: NodeId; reply: Buffer } {
    if (this.state !== null) throw new ProtocolError('ERR_PROTOCOL', 'a second handshake hello');
    const r = readHeader(m1, SEC_HELLO);
    this.readMode(r);
    const claimed = this.readId(r);
    const dialerNonce = Buffer.from(r.bytes(NONCE_BYTES));
    const eph = r.bytes(X25519_BYTES);
    if (r.remaining !== 0) throw new ProtocolError('ERR_MALFORMED', `${r.remaining} trailing bytes after the handshake hello`);
    const shared = this.eph.shared(eph);
    const m1copy = Buffer.from(m1);
    const w = new Writer(256 + this.localId.length);
    header(w, SEC_ACCEPT);
    w.u8(this.modeCode);
    w.str(this.localId);
    w.bytes(this.eph.nonce);
    w.bytes(this.eph.publicRaw);
    w.lbytes(this.certificate());
    const core = w.toBytes();
    const m2 = Buffer.concat([core, this.prove(LABEL_ACCEPTOR, sha256(m1copy, core))]);
    this.state = { m1: m1copy, m2, claimed, dialerNonce, shared };
    return { claimedId: claimed, reply: m2 };
  }

  /** M3 in: the dialer's proven id and identity, and the connection's key (for sealAcceptor). */
  finish(m3: Buffer): { peerId: NodeId; identity: PeerIdentity; key: Buffer } {
    const s = this.state;
    if (s === null) throw new ProtocolError('ERR_PROTOCOL', 'handshake finish before hello');
    const r = readHeader(m3, SEC_FINISH);
    const cert = r.lbytes(MAX_CERT_BYTES);
    const core = m3.subarray(0, m3.length - r.remaining);
    const proof = r.bytes(this.proofBytes());
    if (r.remaining !== 0) throw new ProtocolError('ERR_MALFORMED', `${r.remaining} trailing bytes after the handshake finish`);
    const identity = this.checkProof(cert, proof, LABEL_DIALER, sha256(s.m1, s.m2, core), s.claimed);
    const key = this.channelKey(s.shared, s.dialerNonce, this.eph.nonce, sha256(s.m1, s.m2, m3));
    this.state = null;
    return { peerId: s.claimed, identity, key };
  }
}

/** The PSK identity both ends name in the TLS handshake (the key itself says which connection it is). */
const TLS_PSK_IDENTITY = 'horus-channel-v5';
/**
 * TLS 1.3 only, with ChaCha20-Poly1305 (one of the two AEADs issue 11 names; AES-256-GCM is not on
 * offer with an external PSK through node:tls, whose PSKs hash with SHA-256; AES-128-GCM measured
 * 10-20% cheaper than ChaCha20 in sealing overhead here, and would be the one to add if that matters more).
 * No session tickets: a PSK serves exactly one connection.
 */
const TLS_OPTIONS = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: 'TLS_CHACHA20_POLY1305_SHA256',
  secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
} as const;

/**
 * After the handshake: the dialer's end of the connection's record layer. The dialer is the TLS
 * *server* (it waits for the acceptor's ClientHello), so no TLS byte is ever in flight towards a side
 * that is still reading the clear handshake: the acceptor starts TLS only once M3 is in, and sends
 * nothing after M2 before that. Writes made before the TLS handshake is done are held by the socket
 * and go out sealed once it is. All reads and writes go through the returned socket from now on;
 * destroying either socket destroys both.
 */
export function sealDialer(socket: net.Socket, psk: Buffer): tls.TLSSocket {
  return closeOnEnd(
    new tls.TLSSocket(socket, {
      isServer: true,
      ...TLS_OPTIONS,
      // The socket's own write buffer limit (TLS sockets default to 16 KiB): backpressure as in clear.
      highWaterMark: socket.writableHighWaterMark,
      pskCallback: (_socket: tls.TLSSocket, identity: string): Buffer | null => (identity === TLS_PSK_IDENTITY ? psk : null),
      // Node takes both options here; @types/node 20 lists neither for a TLSSocket.
    } as tls.TLSSocketOptions),
  );
}

/** After the handshake: the acceptor's end of the record layer (the TLS client); see sealDialer. */
export function sealAcceptor(socket: net.Socket, psk: Buffer): tls.TLSSocket {
  return closeOnEnd(
    tls.connect({
      socket,
      ...TLS_OPTIONS,
      pskCallback: () => ({ psk, identity: TLS_PSK_IDENTITY }),
      // No certificates: the PSK, derived from the handshake that proved both identities, is the authentication.
      checkServerIdentity: () => undefined,
    }),
  );
}

/**
 * The peer's end closed: close ours (and the socket under it). A TLS server socket made over an open
 * socket stays half-open otherwise when the peer goes before the TLS handshake is done, and the
 * transport, which never half-closes, would not hear of it.
 */
function closeOnEnd(stream: tls.TLSSocket): tls.TLSSocket {
  stream.once('end', () => stream.destroy());
  return stream;
}

/** A TLS stream's error that says its peer's bytes did not authenticate or parse (not a reset or a close). */
export function isRecordFailure(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code.startsWith('ERR_SSL');
}
