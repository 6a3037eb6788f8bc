import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HorusError } from '../../../src/core/errors.js';
import {
  certificateAllows,
  certificateToJson,
  decodeCertificate,
  encodeCertificate,
  parseCertificateJson,
  signCertificate,
} from '../../../src/security/certificate.js';
import { generateEd25519 } from '../../../src/security/keys.js';
import { pkiCredentials, TrustStore } from '../../../src/security/trust.js';
import { testCa } from '../../helpers/pki.js';

const isAuth = (e: unknown): boolean => e instanceof HorusError && e.code === 'ERR_AUTH';
const DAY = 86_400_000;

describe('certificates', () => {
  it('round-trips through the wire form and the JSON file form unchanged', () => {
    const ca = testCa();
    const { cert } = ca.issue('n1', { endpoints: ['127.0.0.1:7001', 'node1.example:*'] });
    assert.deepEqual(decodeCertificate(encodeCertificate(cert)), cert);
    assert.deepEqual(parseCertificateJson(certificateToJson(cert), 'test'), cert);
    ca.trust().check(decodeCertificate(encodeCertificate(cert)), Date.now());
  });

  it('allows exactly the endpoints it names: host:port, host:* and *', () => {
    const ca = testCa();
    const { cert } = ca.issue('n1', { endpoints: ['127.0.0.1:7001', 'Node1.example:*'] });
    assert.equal(certificateAllows(cert, '127.0.0.1:7001/abc'), true);
    assert.equal(certificateAllows(cert, '127.0.0.1:7002/abc'), false);
    assert.equal(certificateAllows(cert, 'node1.example:9/x'), true);
    assert.equal(certificateAllows(cert, 'node2.example:9/x'), false);
    assert.equal(certificateAllows(ca.issue('w', { endpoints: ['*'] }).cert, '10.1.2.3:5/x'), true);
    assert.throws(
      () => ca.issue('bad', { endpoints: ['no-port'] }),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_CONFIG',
    );
  });

  it('a certificate from another CA is refused', () => {
    const { cert } = testCa('other').issue('n1');
    assert.throws(
      () => testCa().trust().check(cert, Date.now()),
      (e: unknown) => isAuth(e) && /not signed by a trusted CA/.test((e as Error).message),
    );
  });

  it('an altered certificate fails its signature', () => {
    const ca = testCa();
    const { cert } = ca.issue('n1', { endpoints: ['127.0.0.1:7001'] });
    const forged = { ...cert, endpoints: ['*'] };
    assert.throws(
      () => ca.trust().check(forged, Date.now()),
      (e: unknown) => isAuth(e) && /signature/.test((e as Error).message),
    );
  });

  it('an expired or not yet valid certificate is refused', () => {
    const ca = testCa();
    const { cert } = ca.issue('n1', { notBefore: Date.now() - 10 * DAY, validDays: 1 });
    assert.throws(
      () => ca.trust().check(cert, Date.now()),
      (e: unknown) => isAuth(e) && /expired/.test((e as Error).message),
    );
    const future = ca.issue('n2', { notBefore: Date.now() + DAY }).cert;
    assert.throws(
      () => ca.trust().check(future, Date.now()),
      (e: unknown) => isAuth(e) && /not valid before/.test((e as Error).message),
    );
  });

  it('a revoked serial, node key or CA key is refused', () => {
    const ca = testCa();
    const { cert } = ca.issue('n1');
    assert.throws(
      () => ca.trust({ serials: [cert.serial] }).check(cert, Date.now()),
      (e: unknown) => isAuth(e) && /revoked/.test((e as Error).message),
    );
    assert.throws(() => ca.trust({ keys: [cert.publicKey] }).check(cert, Date.now()), isAuth);
    assert.throws(() => ca.trust({ keys: [cert.issuerKey] }).check(cert, Date.now()), isAuth);
    ca.trust({ serials: ['00'.repeat(16)] }).check(cert, Date.now());
  });

  it('an allow-listed key is accepted with a certificate it signed itself, and cannot vouch for others', () => {
    const self = generateEd25519();
    const own = signCertificate({ subject: 'n1', nodeKey: self.publicKey, endpoints: ['127.0.0.1:*'], issuer: 'n1', issuerKey: self.privateKey });
    const trust = new TrustStore({ allow: [self.publicKey] });
    trust.check(own, Date.now());
    const other = generateEd25519();
    const vouched = signCertificate({ subject: 'n2', nodeKey: other.publicKey, endpoints: ['*'], issuer: 'n1', issuerKey: self.privateKey });
    assert.throws(() => trust.check(vouched, Date.now()), isAuth);
  });

  it("start-up refuses a certificate for another key than the node's", () => {
    const ca = testCa();
    const { cert } = ca.issue('n1');
    assert.throws(
      () => pkiCredentials(generateEd25519(), cert, ca.trust()),
      (e: unknown) => isAuth(e) && /another key/.test((e as Error).message),
    );
  });

  it('garbled or truncated wire certificates are ERR_AUTH, never another exception', () => {
    const ca = testCa();
    const wire = encodeCertificate(ca.issue('n1').cert);
    for (let cut = 0; cut < wire.length; cut += 7) assert.throws(() => decodeCertificate(wire.subarray(0, cut)), isAuth);
    assert.throws(() => decodeCertificate(Buffer.concat([wire, Buffer.of(0)])), isAuth);
    for (let i = 0; i < 200; i++) {
      const g = Buffer.from(wire);
      g[i % g.length] = g[i % g.length]! ^ (1 + (i % 255));
      try {
        ca.trust().check(decodeCertificate(g), Date.now());
      } catch (e) {
        assert.ok(isAuth(e), String(e));
      }
    }
  });
});
