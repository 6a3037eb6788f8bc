// CPU per delivered message through real nodes on TCP loopback, security off against pki (sealed
// records), in one process: every member's CPU is this process's, so the ratio of the two modes is
// the cost of the secure channel per delivery, measured minutes apart at most (the modes alternate,
// run by run). Not a headline throughput: read the pki/off ratio, and quote the load beside it.
//
//   npx tsx bench/micro/secure-cpu.ts [--members 3] [--count 20000] [--size 1024] [--burst 200] [--runs 3] [--order fifo|total] [--modes off,pki]
import { setImmediate as turn } from 'node:timers/promises';
import { createNode } from '../../src/api/create-node.js';
import type { Group } from '../../src/api/group.js';
import type { HorusNode } from '../../src/api/node.js';
import { silentLogger } from '../../src/core/logger.js';
import { generateEd25519 } from '../../src/security/keys.js';
import { signCertificate } from '../../src/security/certificate.js';
import { pkiCredentials, TrustStore } from '../../src/security/trust.js';
import type { SecurityOptions } from '../../src/security/security-config.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

type Order = Parameters<Group['cast']>[0];
const members = Number(arg('members', '3'));
const count = Number(arg('count', '20000'));
const size = Number(arg('size', '1024'));
const burst = Number(arg('burst', '200'));
const runs = Number(arg('runs', '3'));
const order = arg('order', 'fifo') as Order;
const modes = arg('modes', 'off,pki').split(',') as ('off' | 'psk' | 'pki')[];

const caKeys = generateEd25519();
const trust = new TrustStore({ ca: [caKeys.publicKey] });

function security(mode: 'off' | 'psk' | 'pki', i: number): SecurityOptions {
  if (mode === 'off') return { mode };
  if (mode === 'psk') return { mode, secret: 'secure-cpu bench shared secret, not for production' };
  const keys = generateEd25519();
  const cert = signCertificate({ subject: `m${i}`, nodeKey: keys.publicKey, endpoints: ['127.0.0.1:*'], issuer: 'bench-ca', issuerKey: caKeys.privateKey });
  return { mode, credentials: pkiCredentials(keys, cert, trust) };
}

async function once(mode: 'off' | 'psk' | 'pki'): Promise<{ cpuUsPerDelivery: number; wallMs: number }> {
  const nodes: HorusNode[] = [];
  for (let i = 0; i < members; i++) {
    // Credentials already loaded are accepted as well as files (not in the public type).
    const opts = { listen: '127.0.0.1:0', logger: silentLogger, security: security(mode, i) as never };
    nodes.push(await createNode(opts));
  }
  const endpoints = nodes.map((n) => n.endpoint);
  const groups = await Promise.all(nodes.map((n) => n.join('g', { members: endpoints })));
  let delivered = 0;
  for (const g of groups) g.on('message', () => delivered++);
  const payload = Buffer.alloc(size, 7);
  // Warm-up: connections, handshakes, JIT.
  const warm = 500;
  for (const g of groups) for (let i = 0; i < warm; i++) void g.cast(order, payload);
  while (delivered < warm * members * members) await turn();
  delivered = 0;
  const want = count * members * members;
  const sent = new Array<number>(members).fill(0);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (delivered < want) {
    for (let k = 0; k < members; k++) {
      const g = groups[k]!;
      for (let i = 0; i < burst && sent[k]! < count && !g.blocked; i++) {
        sent[k]!++;
        g.cast(order, payload).catch((e: unknown) => {
          throw e;
        });
      }
    }
    await turn();
    if (performance.now() - t0 > 120_000) throw new Error(`stuck: ${delivered} of ${want} delivered`);
  }
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  for (const n of nodes) await n.close();
  return { cpuUsPerDelivery: (c.user + c.system) / delivered, wallMs };
}

const results = new Map<string, number[]>(modes.map((m) => [m, []]));
for (let r = 0; r < runs; r++) {
  for (const m of modes) results.get(m)!.push((await once(m)).cpuUsPerDelivery);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const out: Record<string, unknown> = { members, count, size, order, runs };
for (const [m, xs] of results) out[m] = { cpuUsPerDeliveryMedian: Number(median(xs).toFixed(3)), runs: xs.map((x) => Number(x.toFixed(3))) };
if (results.has('off')) for (const m of modes) if (m !== 'off') out[`${m}/off`] = Number((median(results.get(m)!) / median(results.get('off')!)).toFixed(3));
console.log(JSON.stringify(out));
