/**
 * Node certificates: a small record signed by a cluster CA key (or by the node's own key when that
 * key is on an allow-list). Binary on the wire, JSON on disk; the signature covers the binary form.
 *
 *   body = 'HCRT' | version u8 (1) | serial 16 bytes | subject (uvar len + UTF-8)
 *        | node public key 32 | endpoints: uvar count, each uvar len + UTF-8
 *        | notBefore u64 ms | notAfter u64 ms | issuer name (uvar len + UTF-8) | issuer public key 32
 *   wire = body | Ed25519 signature over body by the issuer key (64)
 *
 * Endpoints the node may claim as its id (`host:port/incarnation`): `host:port`, `host:*` (any
 * port), or `*` (anywhere; weak, for tests). Hosts compare case-insensitively.
 */
import { randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync, promises as fs } from 'node:fs';
import { z } from 'zod';
import { HorusError } from '../core/errors.js';
import { endpointOf, parseEndpoint } from '../core/node-id.js';
import { Reader } from '../codec/reader.js';
import { Writer } from '../codec/writer.js';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, parsePublicKeyId, publicKeyFromRaw, rawPublicKey } from './keys.js';

export const CERT_MAGIC = Uint8Array.of(0x48, 0x43, 0x52, 0x54); // 'HCRT'
export const CERT_VERSION = 1;
export const SERIAL_BYTES = 16;
const MAX_NAME_BYTES = 128;
const MAX_ENDPOINTS = 16;
const MAX_ENDPOINT_BYTES = 300;
/** Largest certificate on the wire: bounded by the field limits above. */
export const MAX_CERT_BYTES = 4 + 1 + SERIAL_BYTES + 2 + MAX_NAME_BYTES + 32 + 1 + MAX_ENDPOINTS * (2 + MAX_ENDPOINT_BYTES) + 16 + 2 + MAX_NAME_BYTES + 32 + 64;

export interface CertificateFields {
  /** Hex, 32 digits. */
  serial: string;
  subject: string;
  /** Base64 of the node's raw Ed25519 public key. */
  publicKey: string;
  endpoints: string[];
  /** Milliseconds since the epoch. */
  notBefore: number;
  notAfter: number;
  issuer: string;
  /** Base64 of the issuer's raw Ed25519 public key. */
  issuerKey: string;
}

export interface Certificate extends CertificateFields {
  /** Base64 Ed25519 signature over `encodeCertificateBody(fields)`. */
  signature: string;
}

function certError(message: string, cause?: unknown): HorusError {
  return new HorusError('ERR_AUTH', message, { cause });
}

function u64(w: Writer, v: number): void {
  w.u32(Math.floor(v / 2 ** 32));
  w.u32(v % 2 ** 32);
}

export function encodeCertificateBody(c: CertificateFields): Buffer {
  const w = new Writer(512);
  w.bytes(CERT_MAGIC);
  w.u8(CERT_VERSION);
  w.bytes(Buffer.from(c.serial, 'hex'));
  w.str(c.subject);
  w.bytes(Buffer.from(c.publicKey, 'base64'));
  w.uvar(c.endpoints.length);
  for (const e of c.endpoints) w.str(e);
  u64(w, c.notBefore);
  u64(w, c.notAfter);
  w.str(c.issuer);
  w.bytes(Buffer.from(c.issuerKey, 'base64'));
  return w.toBytes();
}

export function encodeCertificate(c: Certificate): Buffer {
  return Buffer.concat([encodeCertificateBody(c), Buffer.from(c.signature, 'base64')]);
}

/** Parses a certificate from the wire (no trust decision: see verifyCertificate). Any deviation: ERR_AUTH. */
export function decodeCertificate(bytes: Uint8Array): Certificate {
  try {
    if (bytes.length > MAX_CERT_BYTES) throw new Error(`${bytes.length} bytes, over ${MAX_CERT_BYTES}`);
    const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    const magic = r.bytes(4);
    if (!magic.equals(CERT_MAGIC)) throw new Error('bad magic');
    const version = r.u8();
    if (version !== CERT_VERSION) throw new Error(`unsupported version ${version}`);
    const serial = r.bytes(SERIAL_BYTES).toString('hex');
    const subject = r.str(MAX_NAME_BYTES);
    const publicKey = r.bytes(PUBLIC_KEY_BYTES).toString('base64');
    const n = r.uvar();
    if (n > MAX_ENDPOINTS) throw new Error(`${n} endpoints, over ${MAX_ENDPOINTS}`);
    const endpoints: string[] = [];
    for (let i = 0; i < n; i++) endpoints.push(r.str(MAX_ENDPOINT_BYTES));
    const notBefore = r.u32() * 2 ** 32 + r.u32();
    const notAfter = r.u32() * 2 ** 32 + r.u32();
    const issuer = r.str(MAX_NAME_BYTES);
    const issuerKey = r.bytes(PUBLIC_KEY_BYTES).toString('base64');
    const signature = r.bytes(SIGNATURE_BYTES).toString('base64');
    if (r.remaining !== 0) throw new Error(`${r.remaining} trailing bytes`);
    return { serial, subject, publicKey, endpoints, notBefore, notAfter, issuer, issuerKey, signature };
  } catch (cause) {
    throw certError(`malformed certificate: ${(cause as Error).message}`, cause);
  }
}

export interface SignOptions {
  subject: string;
  nodeKey: KeyObject;
  endpoints: readonly string[];
  issuer: string;
  issuerKey: KeyObject;
  /** Default: now. */
  notBefore?: number;
  /** Default: 365 days after notBefore. */
  validDays?: number;
}

export function signCertificate(o: SignOptions): Certificate {
  if (Buffer.byteLength(o.subject) > MAX_NAME_BYTES || o.subject.length === 0)
    throw new HorusError('ERR_CONFIG', `subject must be 1 to ${MAX_NAME_BYTES} bytes`);
  if (Buffer.byteLength(o.issuer) > MAX_NAME_BYTES || o.issuer.length === 0) throw new HorusError('ERR_CONFIG', `issuer must be 1 to ${MAX_NAME_BYTES} bytes`);
  if (o.endpoints.length === 0 || o.endpoints.length > MAX_ENDPOINTS) throw new HorusError('ERR_CONFIG', `a certificate names 1 to ${MAX_ENDPOINTS} endpoints`);
  for (const e of o.endpoints) checkEndpointPattern(e);
  const notBefore = o.notBefore ?? Date.now();
  const fields: CertificateFields = {
    serial: randomBytes(SERIAL_BYTES).toString('hex'),
    subject: o.subject,
    publicKey: rawPublicKey(o.nodeKey).toString('base64'),
    endpoints: [...o.endpoints],
    notBefore,
    notAfter: notBefore + Math.round((o.validDays ?? 365) * 86_400_000),
    issuer: o.issuer,
    issuerKey: rawPublicKey(o.issuerKey).toString('base64'),
  };
  const signature = sign(null, encodeCertificateBody(fields), o.issuerKey.type === 'private' ? o.issuerKey : failNotPrivate()).toString('base64');
  return { ...fields, signature };
}

function failNotPrivate(): never {
  throw new HorusError('ERR_CONFIG', 'signing a certificate needs the issuer private key');
}

/** `host:port`, `host:*` or `*`; anything else is ERR_CONFIG. */
export function checkEndpointPattern(p: string): void {
  if (p === '*') return;
  const colon = p.lastIndexOf(':');
  const ok = colon > 0 && Buffer.byteLength(p) <= MAX_ENDPOINT_BYTES && (p.slice(colon + 1) === '*' ? /^[\x21-\x7e]+$/.test(p) : safeEndpoint(p));
  if (!ok) throw new HorusError('ERR_CONFIG', `endpoint ${JSON.stringify(p)} is not HOST:PORT, HOST:* or *`);
}

function safeEndpoint(p: string): boolean {
  try {
    return parseEndpoint(p).port > 0;
  } catch {
    return false;
  }
}

function normHost(h: string): string {
  return h.replace(/^\[|\]$/g, '').toLowerCase();
}

/** Whether the certificate lets its holder claim node id `nodeId` (`host:port/incarnation`). */
export function certificateAllows(cert: CertificateFields, nodeId: string): boolean {
  let ep: { host: string; port: number };
  try {
    ep = parseEndpoint(endpointOf(nodeId));
  } catch {
    return false;
  }
  const host = normHost(ep.host);
  for (const p of cert.endpoints) {
    if (p === '*') return true;
    const colon = p.lastIndexOf(':');
    if (colon <= 0 || normHost(p.slice(0, colon)) !== host) continue;
    const port = p.slice(colon + 1);
    if (port === '*' || Number(port) === ep.port) return true;
  }
  return false;
}

/** Checks the issuer's signature; ERR_AUTH if it does not verify. */
export function checkSignature(cert: Certificate): void {
  const issuerKey = publicKeyFromRaw(Buffer.from(cert.issuerKey, 'base64'));
  const ok = verify(null, encodeCertificateBody(cert), issuerKey, Buffer.from(cert.signature, 'base64'));
  if (!ok) throw certError(`certificate ${cert.serial} of ${JSON.stringify(cert.subject)}: the signature does not verify`);
}

// ---------------------------------------------------------------------------------------------------
// Files: JSON with the fields above; times as ISO strings for people.
// ---------------------------------------------------------------------------------------------------

const b64 = (n: number) =>
  z.string().refine((s) => Buffer.from(s, 'base64').length === n && Buffer.from(s, 'base64').toString('base64') === s, { message: `base64 of ${n} bytes` });
const certFileSchema = z
  .object({
    format: z.literal('horus-cert-1'),
    serial: z.string().regex(/^[0-9a-f]{32}$/),
    subject: z.string().min(1).max(MAX_NAME_BYTES),
    publicKey: b64(PUBLIC_KEY_BYTES),
    endpoints: z.array(z.string().min(1).max(MAX_ENDPOINT_BYTES)).min(1).max(MAX_ENDPOINTS),
    notBefore: z.iso.datetime(),
    notAfter: z.iso.datetime(),
    issuer: z.string().min(1).max(MAX_NAME_BYTES),
    issuerKey: b64(PUBLIC_KEY_BYTES),
    signature: b64(SIGNATURE_BYTES),
  })
  .strict();

export function certificateToJson(c: Certificate): string {
  return (
    JSON.stringify(
      {
        format: 'horus-cert-1',
        serial: c.serial,
        subject: c.subject,
        publicKey: c.publicKey,
        endpoints: c.endpoints,
        notBefore: new Date(c.notBefore).toISOString(),
        notAfter: new Date(c.notAfter).toISOString(),
        issuer: c.issuer,
        issuerKey: c.issuerKey,
        signature: c.signature,
      },
      null,
      2,
    ) + '\n'
  );
}

export function parseCertificateJson(text: string, source: string): Certificate {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw certError(`certificate ${source} is not JSON`, cause);
  }
  const r = certFileSchema.safeParse(value);
  if (!r.success) throw certError(`certificate ${source} is malformed: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, r.error);
  const { format: _format, ...d } = r.data;
  for (const e of d.endpoints) checkEndpointPattern(e);
  return { ...d, notBefore: Date.parse(d.notBefore), notAfter: Date.parse(d.notAfter) };
}

export function loadCertificate(file: string): Certificate {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw certError(code === 'ENOENT' ? `certificate file ${file} does not exist` : `cannot read certificate file ${file}: ${(cause as Error).message}`, cause);
  }
  return parseCertificateJson(text, `file ${file}`);
}

export async function writeCertificate(file: string, c: Certificate): Promise<void> {
  await fs.writeFile(file, certificateToJson(c), { mode: 0o644 });
}

/** The node public key a certificate names. */
export function certificateKey(c: CertificateFields): KeyObject {
  return parsePublicKeyId(c.publicKey);
}
