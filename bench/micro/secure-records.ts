// CPU per frame of the sealed channel alone, without sockets or a stack: batches of frames as the
// transport queues them go through RecordSealer, the wire is cut into reads as a socket delivers them
// (fresh buffers, copied, as the kernel does), and each read goes through the receiver's FrameDecoder
// and RecordOpener to a frame callback. The same without sealing (the reads straight into the
// FrameDecoder) is security off; the difference is what sealing costs per frame, garbage collection
// included (all of it is this process's). Quote the load beside the figures.
//
//   npx tsx bench/micro/secure-records.ts [--frame 1024] [--batch 65536] [--read 65536] [--mib 512] [--runs 5]
import { randomBytes } from 'node:crypto';
import { FRAME_HEADER_BYTES, FrameDecoder } from '../../src/transport/frame-decoder.js';
import { MAX_RECORD_BYTES, RecordOpener, RecordSealer } from '../../src/transport/secure-channel.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : dflt;
}

const frameBytes = arg('frame', 1024);
const batchBytes = arg('batch', 64 * 1024);
const readBytes = arg('read', 64 * 1024);
const mib = arg('mib', 512);
const runs = arg('runs', 5);
const maxFrameSize = 16 * 1024 * 1024;

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

/** A socket of `readBytes` reads: what is written is copied into fresh read buffers, handed on when full. */
class Socket {
  private buf = Buffer.allocUnsafe(readBytes);
  private fill = 0;
  constructor(private readonly onRead: (chunk: Buffer) => void) {}
  write(piece: Buffer): void {
    let off = 0;
    while (off < piece.length) {
      const n = Math.min(piece.length - off, readBytes - this.fill);
      piece.copy(this.buf, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === readBytes) this.flush();
    }
  }
  flush(): void {
    if (this.fill === 0) return;
    this.onRead(this.buf.subarray(0, this.fill));
    this.buf = Buffer.allocUnsafe(readBytes);
    this.fill = 0;
  }
}

function once(sealed: boolean): { usPerFrame: number; frames: number } {
  const slab = batch();
  const batches = Math.ceil((mib * 1024 * 1024) / slab.length);
  let frames = 0;
  const onFrame = (f: Buffer): void => {
    if (f.length === frameBytes) frames++;
  };
  const key = randomBytes(32);
  let push: (chunk: Buffer) => void;
  if (sealed) {
    const opener = new RecordOpener(key, onFrame, maxFrameSize);
    const records = new FrameDecoder((r) => opener.open(r), MAX_RECORD_BYTES);
    push = (c) => records.push(c);
  } else {
    const dec = new FrameDecoder(onFrame, maxFrameSize);
    push = (c) => dec.push(c);
  }
  const socket = new Socket(push);
  const sealer = new RecordSealer(key);
  const write = (p: Buffer): void => socket.write(p);
  const t0 = process.cpuUsage();
  for (let i = 0; i < batches; i++) {
    // A fresh slab each batch, as the transport fills one (its bytes are the same each time).
    const b = Buffer.allocUnsafe(slab.length);
    slab.copy(b);
    if (sealed) sealer.seal([b], write);
    else socket.write(b);
  }
  socket.flush();
  const c = process.cpuUsage(t0);
  return { usPerFrame: (c.user + c.system) / frames, frames };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
once(false);
once(true);
const off: number[] = [];
const on: number[] = [];
for (let r = 0; r < runs; r++) {
  off.push(once(false).usPerFrame);
  on.push(once(true).usPerFrame);
}
const m = (xs: number[]): number => Number(median(xs).toFixed(3));
// Under load the least of the runs is the steadiest figure (other processes only ever add to it).
const least = (xs: number[]): number => Number(Math.min(...xs).toFixed(3));
console.log(
  JSON.stringify({
    frameBytes,
    batchBytes,
    readBytes,
    mib,
    runs,
    offUsPerFrame: m(off),
    sealedUsPerFrame: m(on),
    sealingUsPerFrame: Number((median(on) - median(off)).toFixed(3)),
    offLeastUsPerFrame: least(off),
    sealedLeastUsPerFrame: least(on),
    sealingLeastUsPerFrame: Number((least(on) - least(off)).toFixed(3)),
    sealedMiBPerCpuSecond: Math.round(frameBytes / median(on)),
  }),
);
