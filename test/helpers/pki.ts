/** In-memory CA and node credentials for tests (no files). */
import { generateEd25519, type KeyPair } from '../../src/security/keys.js';
import { signCertificate, type Certificate } from '../../src/security/certificate.js';
import { pkiCredentials, TrustStore, type PkiCredentials, type RevocationList } from '../../src/security/trust.js';
import type { ChannelSecurity } from '../../src/transport/secure-channel.js';

export interface TestCa {
  keys: KeyPair;
  name: string;
  /** A certificate for a new node key allowing `endpoints` (default: any port on 127.0.0.1). */
  issue(subject: string, opts?: { endpoints?: string[]; notBefore?: number; validDays?: number; keys?: KeyPair }): { keys: KeyPair; cert: Certificate };
  trust(revoked?: RevocationList): TrustStore;
  /** Credentials of a new node (checked as at start-up), trusting this CA. */
  node(subject: string, opts?: { endpoints?: string[]; revoked?: RevocationList }): PkiCredentials;
  security(subject: string, opts?: { endpoints?: string[]; revoked?: RevocationList }): ChannelSecurity;
}

export function testCa(name = 'test-ca'): TestCa {
  const keys = generateEd25519();
  const ca: TestCa = {
    keys,
    name,
    issue(subject, o = {}) {
      const nodeKeys = o.keys ?? generateEd25519();
      const cert = signCertificate({
        subject,
        nodeKey: nodeKeys.publicKey,
        endpoints: o.endpoints ?? ['127.0.0.1:*'],
        issuer: name,
        issuerKey: keys.privateKey,
        ...(o.notBefore !== undefined ? { notBefore: o.notBefore } : {}),
        ...(o.validDays !== undefined ? { validDays: o.validDays } : {}),
      });
      return { keys: nodeKeys, cert };
    },
    trust(revoked) {
      return new TrustStore({ ca: [keys.publicKey], ...(revoked ? { revoked } : {}) });
    },
    node(subject, o = {}) {
      const { keys: k, cert } = ca.issue(subject, o.endpoints ? { endpoints: o.endpoints } : {});
      return pkiCredentials(k, cert, ca.trust(o.revoked));
    },
    security(subject, o = {}) {
      return { mode: 'pki', credentials: ca.node(subject, o) };
    },
  };
  return ca;
}

export const TEST_PSK: ChannelSecurity = { mode: 'psk', secret: Buffer.from('a shared secret for the tests, 32+ bytes long') };
