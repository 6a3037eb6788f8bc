/** `horus keygen`, `horus cert sign`, `horus cert show`: keys and certificates for `security: pki`. */
import { signCertificate, loadCertificate, writeCertificate, type Certificate } from '../security/certificate.js';
import { loadPrivateKey, loadPublicKey, publicKeyId, writeKeyPair } from '../security/keys.js';

export async function keygenCommand(out: string, print: (line: string) => void): Promise<void> {
  const pair = await writeKeyPair(out);
  print(`private key: ${out} (mode 0600; keep it on this node only)`);
  print(`public key:  ${out}.pub  ${publicKeyId(pair.publicKey)}`);
}

export interface CertSignOptions {
  /** The issuer's private key: the CA's, or the node's own for a self-signed (allow-list) certificate. */
  caKey: string;
  /** The node's public key: a `.pub` file or its private key file. */
  key: string;
  subject: string;
  endpoints: string[];
  days: number;
  issuer?: string;
  out: string;
}

export async function certSignCommand(o: CertSignOptions, print: (line: string) => void): Promise<void> {
  const ca = loadPrivateKey(o.caKey);
  const cert = signCertificate({
    subject: o.subject,
    nodeKey: loadPublicKey(o.key),
    endpoints: o.endpoints,
    issuer: o.issuer ?? 'horus-ca',
    issuerKey: ca.privateKey,
    validDays: o.days,
  });
  await writeCertificate(o.out, cert);
  print(`certificate: ${o.out}`);
  for (const line of describeCertificate(cert)) print(`  ${line}`);
}

export function describeCertificate(c: Certificate): string[] {
  return [
    `subject    ${c.subject}`,
    `serial     ${c.serial}`,
    `public key ${c.publicKey}`,
    `endpoints  ${c.endpoints.join(', ')}`,
    `valid      ${new Date(c.notBefore).toISOString()} to ${new Date(c.notAfter).toISOString()}`,
    `issuer     ${c.issuer} (${c.issuerKey})${c.issuerKey === c.publicKey ? ', self-signed' : ''}`,
  ];
}

export function certShowCommand(file: string, json: boolean, print: (line: string) => void): void {
  const cert = loadCertificate(file);
  if (json) print(JSON.stringify(cert, null, 2));
  else for (const line of describeCertificate(cert)) print(line);
}
