/**
 * The demo's cluster CA: a CA key and one key and certificate per member, made in a temporary folder
 * that is removed when the demo stops, so the members run `security: pki` with no setup.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signCertificate, writeCertificate } from '../security/certificate.js';
import { writeKeyPair, type KeyPair } from '../security/keys.js';

export class DemoPki {
  private readonly ready = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly ca: KeyPair,
  ) {}

  static async create(): Promise<DemoPki> {
    const dir = mkdtempSync(join(tmpdir(), 'horus-demo-pki-'));
    try {
      return new DemoPki(dir, await writeKeyPair(join(dir, 'ca.key')));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Makes member `name`'s key and certificate (any port on 127.0.0.1), once. */
  async prepare(name: string): Promise<void> {
    if (this.ready.has(name)) return;
    const pair = await writeKeyPair(join(this.dir, `${name}.key`));
    const cert = signCertificate({
      subject: name,
      nodeKey: pair.publicKey,
      endpoints: ['127.0.0.1:*'],
      issuer: 'horus-demo-ca',
      issuerKey: this.ca.privateKey,
      validDays: 7,
    });
    await writeCertificate(join(this.dir, `${name}.cert`), cert);
    this.ready.add(name);
  }

  /** `horus node` flags for a prepared member. */
  argsFor(name: string): string[] {
    if (!this.ready.has(name)) throw new Error(`demo member ${name} has no key yet`);
    const f = (x: string): string => join(this.dir, x);
    return ['--security', 'pki', '--key', f(`${name}.key`), '--cert', f(`${name}.cert`), '--ca', f('ca.key.pub')];
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
