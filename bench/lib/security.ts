// `--security pki|psk`: the bench's member processes secure their connections. The parent makes a CA
// and one key and certificate (any port on 127.0.0.1, shared by every member: the bench measures the
// cost of sealing, not who is who) in a temporary folder, and hands the setting to the members it
// forks through the environment.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signCertificate, writeCertificate } from '../../src/security/certificate.js';
import { writeKeyPair } from '../../src/security/keys.js';
import type { SecurityConfig } from '../../src/security/security-config.js';

const ENV = 'HORUS_BENCH_SECURITY';
export type BenchSecurity = 'off' | 'psk' | 'pki';

/** Sets up `mode` for the members forked after it; returns a clean-up. */
export async function prepareBenchSecurity(mode: BenchSecurity): Promise<() => void> {
  if (mode === 'off') return () => {};
  const dir = mkdtempSync(join(tmpdir(), 'horus-bench-sec-'));
  let config: SecurityConfig;
  if (mode === 'psk') {
    writeFileSync(join(dir, 'psk'), 'bench shared secret, not for production use', { mode: 0o600 });
    config = { mode, secretFile: join(dir, 'psk') };
  } else {
    const ca = await writeKeyPair(join(dir, 'ca.key'));
    const node = await writeKeyPair(join(dir, 'node.key'));
    const cert = signCertificate({
      subject: 'bench',
      nodeKey: node.publicKey,
      endpoints: ['127.0.0.1:*'],
      issuer: 'bench-ca',
      issuerKey: ca.privateKey,
      validDays: 1,
    });
    await writeCertificate(join(dir, 'node.cert'), cert);
    config = { mode, key: join(dir, 'node.key'), cert: join(dir, 'node.cert'), ca: [join(dir, 'ca.key.pub')] };
  }
  process.env[ENV] = JSON.stringify(config);
  return () => {
    delete process.env[ENV];
    rmSync(dir, { recursive: true, force: true });
  };
}

/** In a member: the createNode options for the parent's setting. */
export function benchSecurity(): { security?: SecurityConfig } {
  const v = process.env[ENV];
  return v ? { security: JSON.parse(v) as SecurityConfig } : {};
}
