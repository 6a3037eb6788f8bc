import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { PeerEvent } from '../../../src/core/env.js';
import type { LogFields, Logger } from '../../../src/core/logger.js';
import { endpointOf, parseEndpoint, type NodeId } from '../../../src/core/node-id.js';
import { FrameDecoder, encodeFrames } from '../../../src/transport/frame-decoder.js';
import { HELLO_ACCEPT, HELLO_CONNECT, TcpTransport, encodeHello, type TcpTransportOptions } from '../../../src/transport/tcp-transport.js';

// --- helpers -----------------------------------------------------------------------------------------

interface LogEntry {
  level: string;
  msg: string;
  fields: LogFields | undefined;
}

function recordingLogger(entries: LogEntry[]): Logger {
  const rec =
    (level: string) =>
    (msg: string, fields?: LogFields): void => {
      entries.push({ level, msg, fields });
    };
  const log: Logger = {
    trace: rec('trace'),
    debug: rec('debug'),
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
    child: () => log,
  };
  return log;
}

const transports: TcpTransport[] = [];
const rawSockets: net.Socket[] = [];
const rawServers: net.Server[] = [];

afterEach(async () => {
  // Raw sockets first (both ends): a paused raw peer would otherwise hold server.close() forever.
  for (const s of rawSockets.splice(0)) s.destroy();
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await Promise.all(rawServers.splice(0).map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
});

/** A plain TCP server standing in for a peer; its sockets are destroyed after each test. */
async function rawServer(onSocket: (s: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => {
    rawSockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  rawServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}

async function start(incarnation: string, extra: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  const t = await TcpTransport.listen({
    listen: '127.0.0.1:0',
    incarnation,
    reconnectMinMs: 10,
    reconnectMaxMs: 100,
    ...extra,
  });
  transports.push(t);
  return t;
}

function portOf(id: NodeId): number {
  return parseEndpoint(endpointOf(id)).port;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function frame(seq: number, size = 16): Buffer {
  const b = Buffer.alloc(Math.max(4, size), seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

const seqOf = (f: Uint8Array): number => Buffer.from(f.buffer, f.byteOffset, f.byteLength).readUInt32BE(0);

/** Records, per sender, the sequence numbers received. */
function collect(t: TcpTransport): Map<NodeId, number[]> {
  const got = new Map<NodeId, number[]>();
  t.onFrame((from, f) => {
    let list = got.get(from);
    if (list === undefined) got.set(from, (list = []));
    list.push(seqOf(f));
  });
  return got;
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

function isStrictlyIncreasing(xs: readonly number[]): boolean {
  return xs.every((x, i) => i === 0 || x > xs[i - 1]!);
}

/** A raw client connection; resolves once connected. */
async function rawConnect(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  rawSockets.push(s);
  s.on('error', () => {}); // resets by the transport are expected
  s.resume(); // read (and ignore) the HELLO reply, or the end of the stream is never seen
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

function closed(s: net.Socket, timeoutMs = 3000): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('raw socket was not closed by the transport')), timeoutMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const helloFrame = (id: string, kind: number = HELLO_CONNECT): Buffer => {
  const body = encodeHello(HELLO_CONNECT, id);
  body[5] = kind;
  return encodeFrames([body]);
};

/** Sends `n` frames from a to b and waits until b has them all, in order. */
async function assertHealthy(a: TcpTransport, b: TcpTransport, got: Map<NodeId, number[]>, n = 100): Promise<void> {
  const before = got.get(a.localId)?.length ?? 0;
  const base = 1_000_000 + before;
  for (let i = 0; i < n; i++) a.send(b.localId, frame(base + i));
  await waitFor(() => (got.get(a.localId)?.length ?? 0) >= before + n, 'healthy frames');
  assert.deepEqual(got.get(a.localId)!.slice(before), range(n, base));
}

// --- tests -------------------------------------------------------------------------------------------

describe('TcpTransport', () => {
  it('two transports exchange 10,000 frames each way, all in order', async () => {
    const a = await start('a');
    const b = await start('b');
    const gotA = collect(a);
    const gotB = collect(b);
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      a.send(b.localId, frame(i, 8 + (i % 40)));
      b.send(a.localId, frame(i, 8 + (i % 40)));
    }
    await waitFor(() => gotA.get(b.localId)?.length === n && gotB.get(a.localId)?.length === n, 'all frames');
    assert.deepEqual(gotB.get(a.localId), range(n));
    assert.deepEqual(gotA.get(b.localId), range(n));
    const s = a.stats();
    assert.equal(s.framesOut, n);
    assert.equal(s.framesIn, n);
    assert.equal(s.dropped, 0);
    assert.equal(s.malformed, 0);
    assert.equal(a.bufferedBytes(b.localId), 0);
  });

  it('three transports: frames addressed by id or bare host:port arrive in order from each sender', async () => {
    const ts = [await start('x'), await start('y'), await start('z')];
    const got = ts.map(collect);
    const n = 3000;
    for (let i = 0; i < n; i++) {
      for (const from of ts) {
        for (const to of ts) {
          if (from === to) continue;
          // Alternate the two address forms: both use the same connection, so order holds.
          from.send(i % 2 === 0 ? to.localId : endpointOf(to.localId), frame(i));
        }
      }
      if (i % 500 === 0) await sleep(0);
    }
    await waitFor(() => got.every((g) => g.size === 2 && [...g.values()].every((l) => l.length === n)), 'all frames');
    for (const [i, t] of ts.entries()) {
      for (const other of ts) {
        if (other === t) continue;
        assert.deepEqual(got[i]!.get(other.localId), range(n), `${other.localId} -> ${t.localId}`);
      }
    }
  });

  it('delivers zero-length and large frames', async () => {
    const a = await start('a');
    const b = await start('b');
    const sizes: number[] = [];
    b.onFrame((_from, f) => sizes.push(f.length));
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    a.send(b.localId, Buffer.alloc(0));
    a.send(b.localId, big);
    a.send(b.localId, Buffer.alloc(0));
    await waitFor(() => sizes.length === 3, 'frames');
    assert.deepEqual(sizes, [0, big.length, 0]);
  });

  it('hands a frame that straddles reads to the pieced-frame handler as its pieces, and gathers it without one', async () => {
    const a = await start('a');
    const b = await start('b');
    const c = await start('c');
    // 200 KB frames span socket reads (at most 64 KiB each); small ones mostly do not.
    const frames = range(40).map((i) => Buffer.alloc(i % 4 === 0 ? 200_000 + i : 16 + i, i + 1));
    const whole: Buffer[] = [];
    const pieced: number[] = [];
    b.onFrame((_from, f) => whole.push(Buffer.from(f)));
    b.onPiecedFrame((_from, pieces, length) => {
      assert.ok(pieces.length >= 2);
      assert.equal(
        pieces.reduce((n, p) => n + p.length, 0),
        length,
      );
      pieced.push(whole.length);
      whole.push(Buffer.concat(pieces));
    });
    const gathered: Buffer[] = [];
    c.onFrame((_from, f) => gathered.push(Buffer.from(f)));
    for (const f of frames) {
      a.send(b.localId, f);
      a.send(c.localId, f);
    }
    await waitFor(() => whole.length === frames.length && gathered.length === frames.length, 'frames');
    assert.deepEqual(whole, frames, 'in order, the same bytes');
    assert.deepEqual(gathered, frames);
    assert.ok(pieced.length >= 10, `every large frame came in pieces (${pieced.length})`);
  });

  it('copies the frame at send time, so the caller may reuse its buffer', async () => {
    const a = await start('a');
    const b = await start('b');
    const got = collect(b);
    const buf = Buffer.alloc(8);
    for (let i = 0; i < 100; i++) {
      buf.writeUInt32BE(i, 0);
      a.send(b.localId, buf);
    }
    await waitFor(() => got.get(a.localId)?.length === 100, 'frames');
    assert.deepEqual(got.get(a.localId), range(100));
  });

  it('sends frames given away (owned) by reference, in order among copied ones, to several peers', async () => {
    const a = await start('a');
    const peers = [await start('b'), await start('c')];
    const got = peers.map((p) => {
      const frames: Buffer[] = [];
      p.onFrame((_from, f) => frames.push(Buffer.from(f)));
      return frames;
    });
    // Owned frames above and below the by-reference size, copied ones between them; one of each per tick and many per tick.
    const sent: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const owned = Buffer.alloc(i % 3 === 0 ? 100 : 20_000 + i * 100, i);
      owned.writeUInt32BE(i, 0);
      const small = Buffer.alloc(12, 255 - i);
      for (const p of peers) {
        a.send(p.localId, owned, true);
        a.send(p.localId, small);
      }
      sent.push(owned, small);
      if (i % 20 === 0) await sleep(1);
    }
    await waitFor(() => got.every((g) => g.length === sent.length), 'all frames');
    for (const g of got) for (const [i, f] of g.entries()) assert.ok(f.equals(sent[i]!), `frame ${i}`);
    assert.equal(a.stats().framesOut, sent.length * peers.length);
    assert.equal(a.stats().queuedBytes, 0);
  });

  it('catches and logs exceptions from the frame handler without closing the connection', async () => {
    const logs: LogEntry[] = [];
    const a = await start('a');
    const b = await start('b', { log: recordingLogger(logs) });
    const seen: number[] = [];
    b.onFrame((_from, f) => {
      const seq = seqOf(f);
      seen.push(seq);
      if (seq % 10 === 0) throw new Error(`handler bug at ${seq}`);
    });
    for (let i = 0; i < 50; i++) a.send(b.localId, frame(i));
    await waitFor(() => seen.length === 50, 'frames');
    assert.deepEqual(seen, range(50));
    assert.equal(b.stats().handlerErrors, 5);
    assert.ok(logs.some((e) => e.level === 'warn' && e.msg.includes('handler threw')));
    assert.equal(b.stats().malformed, 0);
  });

  it('reconnects to a restarted peer on the same port and drops frames for the old incarnation', async () => {
    const a = await start('a');
    const events: PeerEvent[] = [];
    a.onPeer((ev) => events.push(ev));
    const b1 = await start('b1');
    const got1 = collect(b1);
    a.send(b1.localId, frame(0));
    await waitFor(() => got1.get(a.localId)?.length === 1, 'first frame');
    const port = portOf(b1.localId);

    await b1.close();
    await waitFor(() => events.some((e) => e.type === 'disconnected'), 'disconnected event');
    const b2 = await start('b2', { listen: `127.0.0.1:${port}` });
    assert.equal(portOf(b2.localId), port);
    const got2 = collect(b2);

    // Interleave frames for the old id, the new id and the bare endpoint.
    const bare = endpointOf(b2.localId);
    for (let i = 1; i <= 30; i++) a.send(i % 3 === 0 ? b1.localId : i % 3 === 1 ? b2.localId : bare, frame(i));
    const expected = range(30, 1).filter((i) => i % 3 !== 0);
    await waitFor(() => got2.get(a.localId)?.length === expected.length, 'frames for the new incarnation');
    assert.deepEqual(got2.get(a.localId), expected);
    assert.equal(a.stats().droppedStale, 10);

    // Once connected, frames for the old incarnation are dropped at once.
    a.send(b1.localId, frame(99));
    a.send(b2.localId, frame(100));
    await waitFor(() => got2.get(a.localId)?.length === expected.length + 1, 'last frame');
    assert.deepEqual(got2.get(a.localId)!.slice(-1), [100]);
    assert.equal(a.stats().droppedStale, 11);
    assert.equal(got1.get(a.localId)?.length, 1);

    // b1 closed its end ('closed'); our dial to its port then reached b2: b1 is gone (replaced).
    assert.deepEqual(events, [
      { type: 'connected', peer: b1.localId },
      { type: 'closed', peer: b1.localId },
      { type: 'disconnected', peer: b1.localId },
      { type: 'gone', peer: b1.localId, why: 'replaced' },
      { type: 'connected', peer: b2.localId },
    ]);
  });

  it('keeps sending across a peer restart with back-off, never duplicating or reordering', async () => {
    const a = await start('a');
    const b1 = await start('b1');
    const port = portOf(b1.localId);
    const bare = endpointOf(b1.localId);
    const all: number[] = [];
    b1.onFrame((_f, fr) => all.push(seqOf(fr)));
    let seq = 0;
    let sending = true;
    const pump = (async () => {
      while (sending) {
        for (let i = 0; i < 20; i++) a.send(bare, frame(seq++));
        await sleep(2);
      }
    })();
    await waitFor(() => all.length > 100, 'traffic to b1');
    await b1.close();
    await sleep(100); // a keeps queueing and redialing meanwhile
    const b2 = await start('b2', { listen: `127.0.0.1:${port}` });
    const after: number[] = [];
    b2.onFrame((_f, fr) => {
      all.push(seqOf(fr));
      after.push(seqOf(fr));
    });
    await waitFor(() => after.length > 200, 'traffic to b2');
    sending = false;
    await pump;
    assert.ok(isStrictlyIncreasing(all), 'no duplicate or reordered frame across the restart');
    assert.ok(a.stats().connectFailures >= 1);
  });

  it('dials a peer that is not up yet, reports it disconnected, and delivers once it listens', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const a = await start('a');
    const events: PeerEvent[] = [];
    a.onPeer((ev) => events.push(ev));
    const bare = `127.0.0.1:${port}`;
    for (let i = 0; i < 10; i++) a.send(bare, frame(i));
    await waitFor(() => events.length > 0, 'disconnected event');
    assert.deepEqual(events[0], { type: 'disconnected', peer: bare });
    assert.ok(a.bufferedBytes(bare) > 0);

    const b = await start('b', { listen: bare });
    const got = collect(b);
    await waitFor(() => got.get(a.localId)?.length === 10, 'queued frames');
    assert.deepEqual(got.get(a.localId), range(10));
    assert.deepEqual(events, [
      { type: 'disconnected', peer: bare },
      { type: 'connected', peer: b.localId },
    ]);
    assert.equal(a.bufferedBytes(bare), 0);
  });

  it('drops the queue for a peer that stays unreachable, and stops dialing it', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const a = await start('a', { dropQueuedAfterMs: 50 });
    for (let i = 0; i < 5; i++) a.send(`127.0.0.1:${port}`, frame(i));
    await waitFor(() => a.stats().droppedUnreachable === 5, 'queue dropped');
    assert.equal(a.bufferedBytes(`127.0.0.1:${port}`), 0);
    const failures = a.stats().connectFailures;
    await sleep(150);
    assert.equal(a.stats().connectFailures, failures, 'no more dialing with nothing queued');
  });

  it('applies backpressure: bounded buffering, drops beyond maxQueuedBytes, order kept', async () => {
    // A peer that completes the handshake and then stops reading.
    const received: number[] = [];
    let peerSocket: net.Socket | null = null;
    const { port } = await rawServer((s) => {
      peerSocket = s;
      let hello = true;
      const d: FrameDecoder = new FrameDecoder((f) => {
        if (hello) {
          hello = false;
          s.write(encodeFrames([encodeHello(HELLO_ACCEPT, `127.0.0.1:${port}/slow`)]));
          d.onControl = () => {}; // PINGs: this peer never answers
          s.pause();
          return;
        }
        received.push(seqOf(f));
      });
      s.on('data', (c: Buffer) => d.push(c));
    });
    const to = `127.0.0.1:${port}/slow`;

    const maxQueuedBytes = 1024 * 1024;
    const highWaterBytes = 64 * 1024;
    // No stall detection: this is about a peer that reads slowly, not a cut (which would be replaced).
    const a = await start('a', { maxQueuedBytes, highWaterBytes, maxFrameSize: 64 * 1024, stallTimeoutMs: 0 });
    let sent = 0;
    let maxBuffered = 0;
    for (let round = 0; round < 100; round++) {
      for (let i = 0; i < 2000; i++) a.send(to, frame(sent++, 100));
      maxBuffered = Math.max(maxBuffered, a.bufferedBytes(to));
      await sleep(0);
    }
    const s = a.stats();
    assert.ok(s.droppedQueueFull > 0, 'frames beyond maxQueuedBytes are dropped');
    assert.ok(maxBuffered <= maxQueuedBytes + highWaterBytes + 64 * 1024 + 104, `buffered ${maxBuffered}`);
    assert.equal(s.dropped, s.droppedQueueFull);

    (peerSocket as net.Socket | null)?.resume();
    await waitFor(() => received.length === sent - s.droppedQueueFull, 'queued frames after resume', 10_000);
    assert.ok(isStrictlyIncreasing(received));
    assert.equal(received[0], 0);
    assert.equal(a.bufferedBytes(to), 0);
  });

  it('rejects bad input on a connection: closes it, logs a typed error, keeps serving others', async () => {
    const logs: LogEntry[] = [];
    const v = await start('victim', { log: recordingLogger(logs), maxFrameSize: 64 * 1024, handshakeTimeoutMs: 300 });
    const h = await start('healthy');
    const got = collect(v);
    await assertHealthy(h, v, got);
    const port = portOf(v.localId);
    const rawId = '127.0.0.1:1/raw';

    const expectClosed = async (bytes: Buffer, code: string): Promise<void> => {
      const before = v.stats().malformed;
      const s = await rawConnect(port);
      s.write(bytes);
      await closed(s);
      assert.equal(v.stats().malformed, before + 1);
      assert.ok(
        logs.some((e) => e.level === 'warn' && e.fields?.['code'] === code),
        `a warning with code ${code}`,
      );
      await assertHealthy(h, v, got);
    };

    // Not our protocol at all: 'GET ' read as a length is far over the pre-HELLO limit.
    await expectClosed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'ERR_FRAME_TOO_LARGE');
    // Well-framed HELLOs that are wrong.
    await expectClosed(encodeFrames([Buffer.from('HRUX\x01\x01\x03a/b')]), 'ERR_PROTOCOL');
    const wrongVersion = encodeHello(HELLO_CONNECT, rawId);
    wrongVersion[4] = 99;
    await expectClosed(encodeFrames([wrongVersion]), 'ERR_PROTOCOL');
    await expectClosed(helloFrame(rawId, HELLO_ACCEPT), 'ERR_PROTOCOL');
    await expectClosed(encodeFrames([encodeHello(HELLO_CONNECT, 'no-incarnation:5')]), 'ERR_MALFORMED');
    await expectClosed(encodeFrames([Buffer.concat([encodeHello(HELLO_CONNECT, rawId), Buffer.from([0])])]), 'ERR_MALFORMED');
    await expectClosed(encodeFrames([encodeHello(HELLO_CONNECT, rawId).subarray(0, 8)]), 'ERR_MALFORMED');
    await expectClosed(encodeFrames([Buffer.alloc(0)]), 'ERR_PROTOCOL');
    // A good HELLO and frame, then an oversized length: the good frame is delivered first.
    const oversized = Buffer.alloc(4);
    oversized.writeUInt32BE(64 * 1024 + 1, 0);
    await expectClosed(Buffer.concat([helloFrame(rawId), encodeFrames([frame(7)]), oversized]), 'ERR_FRAME_TOO_LARGE');
    assert.deepEqual(got.get(rawId), [7]);

    // A truncated frame followed by EOF: the connection goes, the partial frame is never delivered.
    {
      const s = await rawConnect(port);
      s.end(Buffer.concat([helloFrame(rawId), encodeFrames([frame(8)]), encodeFrames([frame(9, 50)]).subarray(0, 20)]));
      await closed(s);
      await waitFor(() => got.get(rawId)?.length === 2, 'frame 8');
      assert.deepEqual(got.get(rawId), [7, 8]);
    }
    // Silence: no HELLO within handshakeTimeoutMs.
    {
      const s = await rawConnect(port);
      await closed(s);
      assert.ok(logs.some((e) => e.fields?.['code'] === 'ERR_TIMEOUT'));
    }
    await assertHealthy(h, v, got);
    assert.equal(v.stats().openInbound, 1);
  });

  it('fuzz: random bytes on fresh raw connections never hurt the transport', async () => {
    const v = await start('victim', { maxFrameSize: 4096, handshakeTimeoutMs: 500 });
    const h = await start('healthy');
    const got = collect(v);
    const port = portOf(v.localId);
    const rawId = '127.0.0.1:2/fuzz';
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.uint8Array({ maxLength: 3000 }), fc.nat({ max: 3000 }), async (withHello, bytes, cut) => {
        const s = await rawConnect(port);
        const payload = Buffer.concat([withHello ? helloFrame(rawId) : Buffer.alloc(0), bytes]);
        const at = Math.min(cut, payload.length);
        s.write(payload.subarray(0, at));
        s.end(payload.subarray(at));
        await closed(s);
        if (++runs % 25 === 0) await assertHealthy(h, v, got, 20);
      }),
      { numRuns: 100 },
    );
    await assertHealthy(h, v, got);
    // Only the fuzz HELLO's id and the healthy peer ever appear as senders.
    assert.deepEqual(
      [...got.keys()].filter((k) => k !== h.localId && k !== rawId),
      [],
    );
    await waitFor(() => v.stats().openInbound === 1, 'raw connections gone');
  });

  it('the dialing side rejects a bad HELLO reply and keeps trying', async () => {
    const { port } = await rawServer((s) => {
      s.write(helloFrame('127.0.0.1:9/imposter', HELLO_CONNECT)); // wrong kind
    });
    const a = await start('a');
    const events: PeerEvent[] = [];
    a.onPeer((ev) => events.push(ev));
    a.send(`127.0.0.1:${port}`, frame(1));
    await waitFor(() => a.stats().malformed >= 2, 'two rejected replies (a redial happened)');
    assert.deepEqual(events, [{ type: 'disconnected', peer: `127.0.0.1:${port}` }]);
  });

  it('drops what it cannot send without throwing, and close() is idempotent', async () => {
    const a = await start('a', { maxFrameSize: 1024 });
    const b = await start('b');
    const got = collect(b);
    assert.doesNotThrow(() => a.send(b.localId, Buffer.alloc(1025)));
    assert.doesNotThrow(() => a.send('not an address', frame(0)));
    assert.doesNotThrow(() => a.send('host:99999/x', frame(0)));
    assert.doesNotThrow(() => a.send('127.0.0.1:0', frame(0)));
    assert.equal(a.stats().droppedInvalid, 4);
    a.send(b.localId, frame(1));
    await waitFor(() => got.get(a.localId)?.length === 1, 'frame');

    // Frames queued just before close still go out on an open connection.
    a.send(b.localId, frame(2));
    const p1 = a.close();
    const p2 = a.close();
    assert.equal(p1, p2);
    await p1;
    a.send(b.localId, frame(3));
    await waitFor(() => got.get(a.localId)?.length === 2, 'frame queued before close');
    assert.deepEqual(got.get(a.localId), [1, 2]);
    assert.equal(a.stats().openOutbound, 0);
  });

  it('rejects invalid options with a ConfigError', async () => {
    await assert.rejects(TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'a/b' }), { code: 'ERR_CONFIG' });
    await assert.rejects(TcpTransport.listen({ listen: 'nonsense', incarnation: 'a' }), { code: 'ERR_CONFIG' });
    const a = await start('a');
    await assert.rejects(TcpTransport.listen({ listen: endpointOf(a.localId), incarnation: 'b' }), { code: 'ERR_CONFIG' });
  });
});
