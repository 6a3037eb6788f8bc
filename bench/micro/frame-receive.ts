// The receive path below the stack, in one process: COM frames (60 KiB batches of one sender's
// messages) as a socket delivers them — reads of at most 64 KiB, each in fresh memory, so most frames
// straddle two reads — through FrameDecoder and the frame reader down to decoded messages. Compares
// a straddling frame joined into one buffer (`joined`, what the transport did before session 11)
// with one read in place as its pieces (`pieces`), alternating, in CPU µs per message.
//
//   npx tsx bench/micro/frame-receive.ts [--size 1024] [--mb 200] [--rounds 6] [--read 65536]
import { Message } from '../../src/core/message.js';
import { FrameBuilder, readFrameGroup, readFrameMembership, readFrameMessages } from '../../src/codec/frame.js';
import type { FrameBytes } from '../../src/codec/frame-pieces.js';
import { FrameDecoder, encodeFrames } from '../../src/transport/frame-decoder.js';
import { NAK_HEADER } from '../../src/layers/NAK.js';
import { APP_HEADER } from '../../src/api/app-header.js';
import '../../src/layers/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const size = arg('--size', 1024);
const totalBytes = arg('--mb', 200) * 1024 * 1024;
const rounds = arg('--rounds', 6);
const readBytes = arg('--read', 64 * 1024);
const BATCH_BYTES = 60 * 1024; // COM's default batchBytes

// One stream of frames as COM builds them: payloads of `size`, NAK and APP headers.
const frames: Buffer[] = [];
let seq = 0;
const payload = Buffer.alloc(size, 7);
const b = new FrameBuilder('bench', 1);
while (frames.length === 0 || frames.length * BATCH_BYTES < 8 * 1024 * 1024) {
  const m = new Message(null, payload);
  m.push(APP_HEADER, { order: 0, encoding: 0, id: seq + 1 });
  m.push(NAK_HEADER, { t: 1, view: 3, seq: seq++ });
  b.add(m);
  if (b.bytes >= BATCH_BYTES) {
    frames.push(Buffer.from(b.finish()));
    b.reset();
  }
}
const stream = encodeFrames(frames);
const perStream = seq;

function run(pieces: boolean): { usPerMsg: number; straddled: number } {
  let msgs = 0;
  let straddled = 0;
  let check = 0;
  const onFrame = (frame: FrameBytes): void => {
    const { offset } = readFrameMembership(frame, readFrameGroup(frame).offset);
    readFrameMessages(frame, offset, (m) => {
      check += m.payload.length;
      msgs++;
    });
  };
  const d = new FrameDecoder(onFrame);
  if (pieces)
    d.onPieces = (p) => {
      straddled++;
      onFrame(p);
    };
  else
    d.onPieces = (p, n) => {
      straddled++;
      onFrame(Buffer.concat(p, n));
    };
  const passes = Math.max(1, Math.round(totalBytes / stream.length));
  const t0 = process.cpuUsage();
  for (let pass = 0; pass < passes; pass++) {
    for (let at = 0; at < stream.length; at += readBytes) {
      // A socket read lands in fresh memory, as Node's reads do.
      const n = Math.min(readBytes, stream.length - at);
      const chunk = Buffer.allocUnsafe(n);
      stream.copy(chunk, 0, at, at + n);
      d.push(chunk);
    }
  }
  const t = process.cpuUsage(t0);
  if (msgs !== passes * perStream || check !== msgs * size) throw new Error('lost messages');
  return { usPerMsg: (t.user + t.system) / msgs, straddled: straddled / (passes * frames.length) };
}

const out: { mode: string; usPerMsg: number[] }[] = [
  { mode: 'joined', usPerMsg: [] },
  { mode: 'pieces', usPerMsg: [] },
];
let share = 0;
run(false);
run(true); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const o of r % 2 === 0 ? out : [...out].reverse()) {
    const res = run(o.mode === 'pieces');
    o.usPerMsg.push(Number(res.usPerMsg.toFixed(4)));
    share = res.straddled;
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(
  JSON.stringify({
    size,
    readBytes,
    frameBytes: Math.round(stream.length / frames.length),
    straddlingShare: Number(share.toFixed(2)),
    ...Object.fromEntries(out.map((o) => [o.mode, { median: median(o.usPerMsg), rounds: o.usPerMsg }])),
  }),
);
