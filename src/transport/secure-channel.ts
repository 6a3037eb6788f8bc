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
 * Then both derive the dialer-to-acceptor key: HKDF-SHA256(X25519(eph_d, eph_a) [| secret in psk],
 * salt nonce_d | nonce_a, info 'horus-data-v1' | SHA-256(M1 | M2 | M3)). Data flows only that way on a
 * connection (the transport's rule); PING/PONG words stay clear (they carry no data).
 *
 * Records: the stream of length-prefixed frames, cut every RECORD_BYTES (inside a frame too) and
 * each piece sealed as one AES-256-GCM record,
 *   u32be length | ciphertext | tag (16)
 * with an implicit 96-bit counter nonce (0 | u64 record number): a record dropped, repeated,
 * reordered or altered fails its tag, and the transport closes the connection. The receiver reads
 * frames out of the opened records as it does out of socket reads (a frame that straddles records
 * is copied once), and never holds more than one record's bytes unauthenticated.
 */
import {
  createCipheriv,
  createDecipheriv,
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
  type CipherGCM,
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
import { FRAME_HEADER_BYTES, FrameDecoder, type FrameCallback } from './frame-decoder.js';

/** 4: records cut the frame stream anywhere (3 sealed whole frames only); a 3 and a 4 refuse each other at the handshake. */
export const SECURE_VERSION = 4;
export const SEC_HELLO = 3;
export const SEC_ACCEPT = 4;
export const SEC_FINISH = 5;
const MAGIC = Uint8Array.of(0x48, 0x52, 0x55, 0x53); // 'HRUS'
const NONCE_BYTES = 32;
const X25519_BYTES = 32;
const MAC_BYTES = 32;
export const TAG_BYTES = 16;
/**
 * Plaintext bytes of a full record: one transport batch (64 KiB). Setting up a cipher costs about as
 * much as sealing 8 KiB (node:crypto makes a context and schedules the key for each), so records much
 * smaller cost more per byte (measured: 16 KiB records cost 20-25% more CPU per frame than 64 KiB
 * ones, see bench/micro/secure-records.ts), and the receiver holds at most one record unauthenticated.
 */
export const RECORD_BYTES = 64 * 1024;
const MAX_ID_BYTES = 512;
/** Frame limit before the handshake is done, in secure modes: M2 carries a certificate. */
export const SECURE_HELLO_FRAME = 8 + MAX_ID_BYTES + 2 * 32 + 3 + MAX_CERT_BYTES + SIGNATURE_BYTES + 16;

const MODE_CODE = { psk: 1, pki: 2 } as const;
const LABEL_ACCEPTOR = Buffer.from('horus acceptor proof v1\0');
const LABEL_DIALER = Buffer.from('horus dialer proof v1\0');
const LABEL_DATA = Buffer.from('horus-data-v1');

/** How a connection is secured: 'off' is the plaintext HELLO of protocol version 2. */
export type ChannelSecurity = { mode: 'off' } | { mode: 'psk'; secret: Buffer } | { mode: 'pki'; credentials: PkiCredentials; now?: () => number };
export type SecureMode = 'psk' | 'pki';
type Secured = Exclude<ChannelSecurity, { mode: 'off' }>;

/** The identity this node proves to its peers (what they see as its PeerIdentity), or null with security off. */
export function ownIdentity(security: ChannelSecurity, localId: NodeId): PeerIdentity | null {
  if (security.mode === 'off') return null;
  if (security.mode === 'psk') return { mode: 'psk', name: localId, publicKey: null, serial: null };
  return security.credentials.trust.identify(security.credentials.certificate, localId, security.now?.() ?? Date.now());
}

function authError(message: string, cause?: unknown): HorusError {
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
      version === 2 ? 'the peer runs security off (plaintext HELLO); this node requires an authenticated handshake' : `unsupported protocol version ${version}`,
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

  protected dataKey(shared: Buffer, dialerNonce: Buffer, acceptorNonce: Buffer, transcript: Buffer): Buffer {
    const ikm = this.sec.mode === 'psk' ? Buffer.concat([shared, this.sec.secret]) : shared;
    return Buffer.from(hkdfSync('sha256', ikm, Buffer.concat([dialerNonce, acceptorNonce]), Buffer.concat([LABEL_DATA, transcript]), 32));
  }
}

/** The dialing side: sends M1, checks M2, answers M3, then seals. */
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

  /** M2 in: the acceptor's proven id and identity, the M3 to send, and the sealer for our data. */
  accept(m2: Buffer): { peerId: NodeId; identity: PeerIdentity; finish: Buffer; sealer: RecordSealer } {
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
    const key = this.dataKey(shared, this.eph.nonce, nonce, sha256(m1, m2, m3));
    return { peerId, identity, finish: m3, sealer: new RecordSealer(key) };
  }
}

/** The accepting side: answers M1 with M2, checks M3, then opens records. */
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

  /** M3 in: the dialer's proven id and identity, and the opener for its records (which hands their frames to `onFrame`). */
  finish(m3: Buffer, onFrame: FrameCallback, maxFrameSize: number): { peerId: NodeId; identity: PeerIdentity; opener: RecordOpener } {
    const s = this.state;
    if (s === null) throw new ProtocolError('ERR_PROTOCOL', 'handshake finish before hello');
    const r = readHeader(m3, SEC_FINISH);
    const cert = r.lbytes(MAX_CERT_BYTES);
    const core = m3.subarray(0, m3.length - r.remaining);
    const proof = r.bytes(this.proofBytes());
    if (r.remaining !== 0) throw new ProtocolError('ERR_MALFORMED', `${r.remaining} trailing bytes after the handshake finish`);
    const identity = this.checkProof(cert, proof, LABEL_DIALER, sha256(s.m1, s.m2, core), s.claimed);
    const key = this.dataKey(s.shared, s.dialerNonce, this.eph.nonce, sha256(s.m1, s.m2, m3));
    this.state = null;
    return { peerId: s.claimed, identity, opener: new RecordOpener(key, onFrame, maxFrameSize) };
  }
}

function nonceFor(counter: number, iv: Buffer): Buffer {
  iv.writeUInt32BE(Math.floor(counter / 2 ** 32), 4);
  iv.writeUInt32BE(counter % 2 ** 32, 8);
  return iv;
}

/**
 * Seals a dialer's stream of length-prefixed frames into records, in order. Records cut the stream
 * wherever RECORD_BYTES falls, inside a frame too (the opener reassembles frames across records), so
 * the sealer never reads the frames: a batch may be handed over in any pieces (a frame's length word
 * in one, its body by reference in the next).
 */
export class RecordSealer {
  private counter = 0;
  private readonly iv = Buffer.alloc(12);
  constructor(private readonly key: Buffer) {}

  /**
   * Seals `chunks` (consecutive bytes of the frame stream) as records of RECORD_BYTES each (the last
   * one shorter), handing each record's pieces to `write` in order: its length word, the ciphertext
   * of each piece of the chunks it covers, and its tag. The ciphertext is the one copy of the bytes;
   * nothing else is copied. Returns the wire bytes.
   */
  seal(chunks: readonly Buffer[], write: (piece: Buffer) => void): number {
    let left = 0;
    for (const c of chunks) left += c.length;
    const wire = left + Math.ceil(left / RECORD_BYTES) * (FRAME_HEADER_BYTES + TAG_BYTES);
    let cipher: CipherGCM | null = null;
    /** Plaintext bytes still to go into the record being sealed. */
    let room = 0;
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.length) {
        if (cipher === null) {
          room = left < RECORD_BYTES ? left : RECORD_BYTES;
          left -= room;
          cipher = createCipheriv('aes-256-gcm', this.key, nonceFor(this.counter++, this.iv));
          const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
          head.writeUInt32BE(room + TAG_BYTES, 0);
          write(head);
        }
        const take = Math.min(room, chunk.length - off);
        write(cipher.update(off === 0 && take === chunk.length ? chunk : chunk.subarray(off, off + take)));
        off += take;
        room -= take;
        if (room === 0) {
          cipher.final();
          write(cipher.getAuthTag());
          cipher = null;
        }
      }
    }
    return wire;
  }
}

/**
 * Opens an acceptor's records, in order, and hands on the frames of the stream they carry; any
 * failure is final (the connection must close). A frame that straddles records is kept until its
 * last record arrives (bufferedBytes counts it), then copied once, as for socket reads.
 */
export class RecordOpener {
  private counter = 0;
  private readonly iv = Buffer.alloc(12);
  private readonly frames: FrameDecoder;

  /** `onFrame` gets each frame of the stream (a view of a record's plaintext, or a copy if it straddled records). */
  constructor(
    private readonly key: Buffer,
    onFrame: FrameCallback,
    maxFrameSize: number,
  ) {
    this.frames = new FrameDecoder(onFrame, maxFrameSize);
  }

  /** Authenticated bytes of a frame not complete yet (records to come hold the rest). */
  get bufferedBytes(): number {
    return this.frames.bufferedBytes;
  }

  /** Opens one record (as the stream delivers it: length word stripped) and delivers the frames it completes. */
  open(record: Buffer): void {
    if (record.length < TAG_BYTES) throw new ProtocolError('ERR_MALFORMED', `sealed record of ${record.length} bytes is shorter than its tag`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonceFor(this.counter++, this.iv));
    decipher.setAuthTag(record.subarray(record.length - TAG_BYTES));
    const plain = decipher.update(record.subarray(0, record.length - TAG_BYTES));
    try {
      decipher.final();
    } catch (cause) {
      throw authError('sealed record does not authenticate: altered, replayed, reordered or not from the handshake peer', cause);
    }
    this.frames.push(plain);
  }
}

/** The record limit a receiver accepts from a sealing peer (a length word and tag around RECORD_BYTES). */
export const MAX_RECORD_BYTES = RECORD_BYTES + TAG_BYTES;
