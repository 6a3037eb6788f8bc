// One process of the host-floor probes (bench/micro/host-floor.ts): plain Node sockets, no Horus, so
// the figures say what this machine allows before any protocol runs. Commands come over IPC.
//
// - mesh: listen, dial the others; `saturate` multicasts one pre-built batch of frames as fast as
//   the sockets take it (as ../shared/peers/limit/mesh.mjs does), `load` sends frames stamped with
//   their send time at a fixed rate, a write per peer each 1 ms tick, and the receivers sample the
//   send-to-receive latency (all processes read one clock: src/obs/wall-clock.ts).
// - state: serve `bytes` bytes (warm, as a provider's state is) to whoever connects.
// - idle: a large group's idle traffic as FD relays it: a tick each `tickMs`; each round (`roundTicks`
//   ticks) every member beats the relay whose turn is next, and the relay whose turn it is sends a
//   table (16 bytes per member) to all others. Members 1..relays are the relays (0 coordinates).
import net from 'node:net';
import { wallNow } from '../../src/obs/wall-clock.js';
import { schedstatMs } from './proc-cpu.js';

export type FloorCommand =
  | { cmd: 'listen'; frameBytes: number }
  | { cmd: 'dial'; ports: number[] }
  | { cmd: 'saturate'; seconds: number }
  | { cmd: 'load'; seconds: number; perPeerPerSec: number }
  | { cmd: 'serve-state'; bytes: number; chunk: number }
  | { cmd: 'idle'; index: number; members: number; relays: number; tickMs: number; roundTicks: number };

export type FloorReply =
  | { ok: false; error: string }
  | { ok: true }
  | { ok: true; port: number }
  | { ok: true; deliveredPerSec: number }
  | { ok: true; deliveredPerSec: number; latencyMs: number[]; runMsPerSec: number | null; waitMsPerSec: number | null };

const HEAD = 4;
const now = wallNow;

/** CPU time run and waited for (ms) by this process's main thread; null where the kernel keeps none. */
function schedstat(): [number, number] | null {
  const run = schedstatMs(0, '/proc/self/schedstat');
  const wait = schedstatMs(1, '/proc/self/schedstat');
  return run !== null && wait !== null ? [run, wait] : null;
}

let frameSize = 0;
let received = 0;
let seen = 0;
let sampleEvery = 1;
let latencies: number[] = [];
const peers: net.Socket[] = [];

/** Reads length-prefixed frames; a frame whose first 8 bytes hold a send time is sampled. */
function onConnection(sock: net.Socket): void {
  sock.setNoDelay(true);
  sock.on('error', () => {});
  let buf: Buffer = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = buf.length > 0 ? Buffer.concat([buf, d]) : d;
    let off = 0;
    const t = now();
    while (buf.length - off >= HEAD) {
      const len = buf.readUInt32BE(off);
      if (buf.length - off < HEAD + len) break;
      received++;
      if (len >= 8 && ++seen % sampleEvery === 0) {
        const sent = buf.readDoubleLE(off + HEAD);
        if (sent > 0) latencies.push(t - sent);
      }
      off += HEAD + len;
    }
    buf = buf.subarray(off);
  });
}

/** `count` frames stamped with the time now, in one buffer: what both phases send. */
function stampedFrames(count: number): Buffer {
  const b = Buffer.allocUnsafe(count * (HEAD + frameSize));
  const t = now();
  for (let k = 0; k < count; k++) {
    const o = k * (HEAD + frameSize);
    b.writeUInt32BE(frameSize, o);
    b.writeDoubleLE(t, o + HEAD);
  }
  return b;
}

/** Closed loop: batches of 64 stamped frames (built as the open loop builds them) as fast as the sockets take them. */
function saturate(seconds: number): Promise<FloorReply> {
  let stop = false;
  received = 0;
  const t0 = performance.now();
  const pump = (): void => {
    if (stop) return;
    const batch = stampedFrames(64);
    let ok = true;
    for (const p of peers) ok = p.write(batch) && ok;
    if (ok) {
      setImmediate(pump);
      return;
    }
    let waiting = peers.length;
    const one = (): void => {
      if (--waiting === 0) pump();
    };
    for (const p of peers) {
      if (p.writableNeedDrain) p.once('drain', one);
      else one();
    }
  };
  pump();
  return new Promise((resolve) => {
    setTimeout(() => {
      stop = true;
      const deliveredPerSec = received / ((performance.now() - t0) / 1000);
      // Let the queues drain before the next phase.
      setTimeout(() => resolve({ ok: true, deliveredPerSec }), 300);
    }, seconds * 1000);
  });
}

function load(seconds: number, perPeerPerSec: number): Promise<FloorReply> {
  received = 0;
  seen = 0;
  latencies = [];
  // About 20 000 samples per receiver whatever the rate.
  sampleEvery = Math.max(1, Math.floor((perPeerPerSec * peers.length * seconds) / 20_000));
  const t0 = performance.now();
  const s0 = schedstat();
  const perMs = perPeerPerSec / 1000;
  let sent = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const elapsed = performance.now() - t0;
      if (elapsed >= seconds * 1000) {
        const deliveredPerSec = received / (elapsed / 1000);
        const s1 = schedstat();
        const per = (i: 0 | 1): number | null => (s0 && s1 ? Math.round((s1[i] - s0[i]) / (elapsed / 1000)) : null);
        // What is still in flight arrives in the grace period and is sampled too.
        setTimeout(() => resolve({ ok: true, deliveredPerSec, latencyMs: latencies, runMsPerSec: per(0), waitMsPerSec: per(1) }), 500);
        return;
      }
      const due = Math.floor(elapsed * perMs) + 1 - sent;
      if (due > 0) {
        const b = stampedFrames(due);
        for (const p of peers) p.write(b);
        sent += due;
      }
      setTimeout(tick, 1);
    };
    tick();
  });
}

function serveState(bytes: number, chunk: number): Promise<FloorReply> {
  const state = Buffer.alloc(bytes, 0x5a);
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    // Each request (one byte) gets the whole state, in `chunk`-sized writes, with backpressure.
    sock.on('data', () => {
      let o = 0;
      const more = (): void => {
        while (o < bytes) {
          const ok = sock.write(state.subarray(o, Math.min(bytes, o + chunk)));
          o += chunk;
          if (!ok) {
            sock.once('drain', more);
            return;
          }
        }
        o = 0;
      };
      more();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ ok: true, port: (server.address() as net.AddressInfo).port })));
}

/** Idle traffic until the process is killed (see the head of this file); peers are in view order without us. */
function idle(c: Extract<FloorCommand, { cmd: 'idle' }>): FloorReply {
  const framed = (bodyBytes: number): Buffer => {
    const b = Buffer.alloc(HEAD + bodyBytes); // a zero send time: not sampled by the receivers
    b.writeUInt32BE(bodyBytes, 0);
    return b;
  };
  const beat = framed(60);
  const table = framed(16 * c.members + 40);
  const peerOf = (j: number): net.Socket | undefined => (j === c.index ? undefined : peers[j < c.index ? j : j - 1]);
  let tick = 0;
  setInterval(() => {
    tick++;
    if (tick % c.roundTicks !== 0) return;
    const round = tick / c.roundTicks;
    const turn = 1 + (round % c.relays);
    const next = 1 + ((round + 1) % c.relays);
    if (c.index === turn) for (const p of peers) p.write(table);
    peerOf(next)?.write(beat);
  }, c.tickMs);
  return { ok: true };
}

async function handle(c: FloorCommand): Promise<FloorReply> {
  switch (c.cmd) {
    case 'listen': {
      frameSize = c.frameBytes;
      const server = net.createServer(onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      return { ok: true, port: (server.address() as net.AddressInfo).port };
    }
    case 'dial':
      for (const port of c.ports) {
        peers.push(
          await new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(port, '127.0.0.1', () => resolve(s));
            s.setNoDelay(true);
            s.once('error', reject);
          }),
        );
      }
      return { ok: true };
    case 'saturate':
      return saturate(c.seconds);
    case 'load':
      return load(c.seconds, c.perPeerPerSec);
    case 'serve-state':
      return serveState(c.bytes, c.chunk);
    case 'idle':
      return idle(c);
  }
}

if (process.send !== undefined) {
  process.on('message', (c: FloorCommand) => {
    handle(c).then(
      (r) => process.send?.(r),
      (err: unknown) => process.send?.({ ok: false, error: String(err) } satisfies FloorReply),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
