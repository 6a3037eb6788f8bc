// CPU per frame of the secure channel's records alone, without a stack: batches of 1 KiB frames as
// the transport queues them are written to a loopback TCP socket and read back through a FrameDecoder,
// in clear (security off) or through the channel's TLS record layer (sealDialer / sealAcceptor, keyed
// as after a handshake). Both ends are this process, so the difference is what sealing and opening
// cost per frame, kernel copies and garbage collection included. Quote the load beside the figures.
//
//   npx tsx bench/micro/secure-records.ts [--frame 1024] [--batch 65536] [--mib 128] [--runs 5]
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { FRAME_HEADER_BYTES, FrameDecoder } from '../../src/transport/frame-decoder.js';
import { sealAcceptor, sealDialer } from '../../src/transport/secure-channel.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : dflt;
}

const frameBytes = arg('frame', 1024);
const batchBytes = arg('batch', 64 * 1024);
const mib = arg('mib', 128);
const runs = arg('runs', 5);

/** One batch as the transport's queue holds it: length-prefixed frames in a slab. */
function batch(): Buffer {
  const per = FRAME_HEADER_BYTES + frameBytes;
  const n = Math.max(1, Math.floor(batchBytes / per));
  const b = Buffer.allocUnsafe(n * per);
  const body = randomBytes(frameBytes);
  for (let i = 0; i < n; i++) {
    b.writeUInt32BE(frameBytes, i * per);
    body.copy(b, i * per + FRAME_HEADER_BYTES);
  }
  return b;
}

/** A connected loopback pair: [dialer, acceptor]. */
async function pair(): Promise<[net.Socket, net.Socket]> {
  return new Promise((resolve) => {
    let dialer: net.Socket;
    const server = net.createServer((accepted) => {
      server.close();
      resolve([dialer, accepted]);
    });
    server.listen(0, '127.0.0.1', () => {
      dialer = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', noDelay: true });
    });
  });
}

async function once(sealed: boolean): Promise<{ usPerFrame: number; frames: number }> {
  const [rawD, rawA] = await pair();
  let out: net.Socket = rawD;
  let input: net.Socket = rawA;
  if (sealed) {
    const key = randomBytes(32);
    out = sealDialer(rawD, key);
    input = sealAcceptor(rawA, key);
    await new Promise<void>((r) => input.once('secureConnect', () => r()));
  }
  const slab = batch();
  const batches = Math.ceil((mib * 1024 * 1024) / slab.length);
  const total = batches * Math.floor(slab.length / (FRAME_HEADER_BYTES + frameBytes));
  let frames = 0;
  const t0 = process.cpuUsage();
  await new Promise<void>((done) => {
    const dec = new FrameDecoder((f) => {
      if (f.length === frameBytes && ++frames === total) done();
    }, 1 << 24);
    input.on('data', (c: Buffer) => dec.push(c));
    let sent = 0;
    const pump = (): void => {
      while (sent < batches) {
        sent++;
        // A fresh slab each batch, as the transport fills one (its bytes are the same each time).
        const b = Buffer.allocUnsafe(slab.length);
        slab.copy(b);
        if (!out.write(b)) {
          out.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  const c = process.cpuUsage(t0);
  out.destroy();
  input.destroy();
  return { usPerFrame: (c.user + c.system) / frames, frames };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
await once(false);
await once(true);
const off: number[] = [];
const on: number[] = [];
for (let r = 0; r < runs; r++) {
  off.push((await once(false)).usPerFrame);
  on.push((await once(true)).usPerFrame);
}
const m = (xs: number[]): number => Number(median(xs).toFixed(3));
// Under load the least of the runs is the steadiest figure (other processes only ever add to it).
const least = (xs: number[]): number => Number(Math.min(...xs).toFixed(3));
console.log(
  JSON.stringify({
    frameBytes,
    batchBytes,
    mib,
    runs,
    offUsPerFrame: m(off),
    sealedUsPerFrame: m(on),
    sealingUsPerFrame: Number((median(on) - median(off)).toFixed(3)),
    offLeastUsPerFrame: least(off),
    sealedLeastUsPerFrame: least(on),
    sealingLeastUsPerFrame: Number((least(on) - least(off)).toFixed(3)),
  }),
);
