// What a new secure connection costs before its first frame, as a joiner pays it once per member it
// talks to: our three-message handshake (an X25519 pair and exchange at each end, an Ed25519
// signature and a certificate check each way, HKDF) and then TLS 1.3 keyed with its result (an
// external PSK with psk_dhe_ke: one more X25519 exchange at each end, and a flight and a half on the
// wire). Both ends run in this process, so the CPU is the two ends' together. The TLS part is timed
// on a loopback socket pair, from the sockets' hand-over to both ends' 'secure'; the handshake's
// messages are passed in memory (its wire time is that of three small frames). Quote the load.
//
//   npx tsx bench/micro/rekey-connection-setup.ts [--reps 200]
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type * as tls from 'node:tls';
import { signCertificate } from '../../src/security/certificate.js';
import { generateEd25519 } from '../../src/security/keys.js';
import { pkiCredentials, TrustStore } from '../../src/security/trust.js';
import { AcceptorHandshake, DialerHandshake, sealAcceptor, sealDialer, type ChannelSecurity } from '../../src/transport/secure-channel.js';

const i = process.argv.indexOf('--reps');
const reps = i >= 0 ? Number(process.argv[i + 1]) : 200;

const caKeys = generateEd25519();
const trust = new TrustStore({ ca: [caKeys.publicKey] });
function security(name: string): ChannelSecurity {
  const keys = generateEd25519();
  const cert = signCertificate({ subject: name, nodeKey: keys.publicKey, endpoints: ['127.0.0.1:*'], issuer: 'bench-ca', issuerKey: caKeys.privateKey });
  return { mode: 'pki', credentials: pkiCredentials(keys, cert, trust) };
}
const dialerSec = security('d');
const acceptorSec = security('a');
const valid = { isValidId: (): boolean => true };

/** Our handshake, both ends, messages passed in memory: CPU in µs. */
function handshakeCpuUs(): number {
  const t0 = process.cpuUsage();
  const d = new DialerHandshake(dialerSec as never, '127.0.0.1:1/d', valid);
  const a = new AcceptorHandshake(acceptorSec as never, '127.0.0.1:2/a', valid);
  const m1 = d.hello();
  const { reply } = a.hello(m1);
  const { finish, key } = d.accept(reply);
  const done = a.finish(finish);
  if (!done.key.equals(key)) throw new Error('the two ends derived different keys');
  const c = process.cpuUsage(t0);
  return c.user + c.system;
}

async function socketPair(): Promise<[net.Socket, net.Socket]> {
  return new Promise((resolve) => {
    let dialer: net.Socket;
    const server = net.createServer({ noDelay: true }, (accepted) => {
      server.close();
      resolve([dialer, accepted]);
    });
    server.listen(0, '127.0.0.1', () => {
      dialer = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', noDelay: true });
    });
  });
}

/** TLS over a fresh loopback pair with a fresh PSK: wall and CPU (µs) until both ends are secure. */
async function tlsSetup(): Promise<{ wallUs: number; cpuUs: number }> {
  const [d, a] = await socketPair();
  const psk = randomBytes(32);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const secure = (s: tls.TLSSocket): Promise<void> => new Promise((r, j) => (s.once('secure', () => r()), s.once('error', j)));
  const server = sealDialer(d, psk);
  const client = sealAcceptor(a, psk);
  await Promise.all([secure(server), new Promise<void>((r, j) => (client.once('secureConnect', () => r()), client.once('error', j)))]);
  const c = process.cpuUsage(c0);
  const wallUs = (performance.now() - t0) * 1000;
  server.destroy();
  client.destroy();
  return { wallUs, cpuUs: c.user + c.system };
}

const median = (xs: number[]): number => Math.round([...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!);
for (let k = 0; k < 20; k++) handshakeCpuUs();
for (let k = 0; k < 10; k++) await tlsSetup();
const hs: number[] = [];
const tw: number[] = [];
const tc: number[] = [];
for (let k = 0; k < reps; k++) {
  hs.push(handshakeCpuUs());
  const t = await tlsSetup();
  tw.push(t.wallUs);
  tc.push(t.cpuUs);
}
console.log(JSON.stringify({ reps, handshakeCpuUsMedian: median(hs), tlsWallUsMedian: median(tw), tlsCpuUsMedian: median(tc) }));
