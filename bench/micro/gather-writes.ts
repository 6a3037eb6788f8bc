// Should COM copy payloads into its frames, or hand them to the socket by reference (a gathered
// write)? Both ways on one loopback connection in one process: frames of ~60 KiB built by copying
// each payload in (COM today: one buffer, one write), against the same bytes written as a small
// header piece plus the payload itself per message (corked writes, one writev). CPU of the process
// (sender and receiver) per message, alternating rounds.
//
//   npx tsx bench/micro/gather-writes.ts [--size 1024] [--mb 200]
import net from 'node:net';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const size = arg('--size', 1024);
const mb = arg('--mb', 200);
const HEADER = 20; // a message's length word and headers, about
const FRAME = 60 * 1024;
const perFrame = Math.max(1, Math.floor(FRAME / (size + HEADER)));
const total = Math.floor((mb * 1024 * 1024) / (size + HEADER));

const server = net.createServer((s) => {
  s.on('data', () => {});
  s.on('error', () => {});
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as net.AddressInfo).port;
const sock = net.connect(port, '127.0.0.1');
await new Promise<void>((resolve) => sock.once('connect', resolve));
sock.setNoDelay(true);
const payloads = Array.from({ length: 256 }, (_, i) => Buffer.alloc(size, i));
const header = Buffer.alloc(HEADER, 1);

const drained = (): Promise<void> => new Promise((resolve) => (sock.writableLength === 0 ? resolve() : sock.once('drain', () => resolve())));

async function run(mode: 'copy' | 'gather'): Promise<number> {
  let sent = 0;
  const t0 = process.cpuUsage();
  while (sent < total) {
    if (mode === 'copy') {
      const frame = Buffer.allocUnsafe(perFrame * (size + HEADER));
      let at = 0;
      for (let k = 0; k < perFrame; k++) {
        header.copy(frame, at);
        at += HEADER;
        frame.set(payloads[(sent + k) & 255]!, at);
        at += size;
      }
      sock.write(frame);
    } else {
      const heads = Buffer.allocUnsafe(perFrame * HEADER);
      sock.cork();
      for (let k = 0; k < perFrame; k++) {
        const h = heads.subarray(k * HEADER, (k + 1) * HEADER);
        header.copy(h);
        sock.write(h);
        sock.write(payloads[(sent + k) & 255]!);
      }
      sock.uncork();
    }
    sent += perFrame;
    if (sock.writableLength > 4 * 1024 * 1024) await drained();
  }
  await drained();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / sent;
}

const out: Record<'copy' | 'gather', number[]> = { copy: [], gather: [] };
await run('copy');
await run('gather'); // warm-up
for (let i = 0; i < 4; i++) {
  for (const m of i % 2 === 0 ? (['copy', 'gather'] as const) : (['gather', 'copy'] as const)) out[m].push(Number((await run(m)).toFixed(3)));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(JSON.stringify({ size, perFrame, copyUsPerMsg: median(out.copy), gatherUsPerMsg: median(out.gather), rounds: out }));
sock.destroy();
server.close();
