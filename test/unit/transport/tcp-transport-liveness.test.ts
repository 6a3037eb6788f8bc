// Connection liveness and reconnecting: PING/PONG on each connection, stalled connections replaced,
// the back-off never delaying a peer that has just reached us, and the limits on what PINGs can make a
// node do.
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { endpointOf, parseEndpoint, type NodeId } from '../../../src/core/node-id.js';
import { FrameDecoder, encodeControlWord, encodeFrames } from '../../../src/transport/frame-decoder.js';
import {
  CONTROL_PING,
  CONTROL_PONG,
  HELLO_ACCEPT,
  HELLO_CONNECT,
  TcpTransport,
  decodeHello,
  encodeHello,
  type TcpTransportOptions,
} from '../../../src/transport/tcp-transport.js';
import { BlackholeProxy } from './blackhole-proxy.js';

const transports: TcpTransport[] = [];
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];
const proxies: BlackholeProxy[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await Promise.all(servers.splice(0).map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
});

async function start(incarnation: string, extra: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation, ...extra });
  transports.push(t);
  return t;
}

const portOf = (id: NodeId): number => parseEndpoint(endpointOf(id)).port;

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

function frame(seq: number): Buffer {
  const b = Buffer.alloc(16, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

const seqOf = (f: Uint8Array): number => Buffer.from(f.buffer, f.byteOffset, f.byteLength).readUInt32BE(0);

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A raw peer that accepts dials, answers the HELLO, and then does what `after` says with each connection. */
async function rawAcceptor(after: (s: net.Socket, frames: number[]) => void): Promise<{ port: number; conns: { socket: net.Socket; frames: number[] }[] }> {
  const conns: { socket: net.Socket; frames: number[] }[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    const frames: number[] = [];
    conns.push({ socket: s, frames });
    let hello = true;
    const d: FrameDecoder = new FrameDecoder((f) => {
      if (hello) {
        hello = false;
        decodeHello(f, HELLO_CONNECT);
        s.write(encodeFrames([encodeHello(HELLO_ACCEPT, `127.0.0.1:${port}/raw`)]));
        d.onControl = (code) => {
          if (code === CONTROL_PING) s.write(encodeControlWord(CONTROL_PONG));
        };
        after(s, frames);
        return;
      }
      frames.push(seqOf(f));
    });
    s.on('data', (c: Buffer) => {
      try {
        d.push(c);
      } catch {
        s.destroy();
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, conns };
}

/**
 * A slow raw peer: it answers the HELLO of the first connection, then reads nothing on it for 1 s
 * (busy) before reading again; a second connection (a replacement dial) connects, and its HELLO is
 * read and never answered.
 */
async function slowPeer(): Promise<{ port: number; conns: { socket: net.Socket; frames: number[] }[] }> {
  const conns: { socket: net.Socket; frames: number[] }[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    const frames: number[] = [];
    const index = conns.push({ socket: s, frames }) - 1;
    if (index > 0) {
      s.resume();
      return;
    }
    let hello = true;
    const d: FrameDecoder = new FrameDecoder((f) => {
      if (hello) {
        hello = false;
        s.write(encodeFrames([encodeHello(HELLO_ACCEPT, `127.0.0.1:${port}/slow`)]));
        d.onControl = (code) => {
          if (code === CONTROL_PING) s.write(encodeControlWord(CONTROL_PONG));
        };
        s.pause();
        setTimeout(() => s.resume(), 1000);
        return;
      }
      frames.push(seqOf(f));
    });
    s.on('data', (c: Buffer) => d.push(c));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, conns };
}

/** A raw client that has sent its HELLO to `port`; collects the control words it receives after the reply. */
async function rawClient(port: number, id = '127.0.0.1:1/raw'): Promise<{ socket: net.Socket; controls: number[] }> {
  const s = net.connect({ host: '127.0.0.1', port });
  sockets.push(s);
  s.on('error', () => {});
  const controls: number[] = [];
  const d: FrameDecoder = new FrameDecoder((f) => {
    decodeHello(f, HELLO_ACCEPT);
    d.onControl = (code) => controls.push(code);
  });
  s.on('data', (c: Buffer) => d.push(c));
  await new Promise<void>((resolve) => s.once('connect', resolve));
  s.write(encodeFrames([encodeHello(HELLO_CONNECT, id)]));
  return { socket: s, controls };
}

const closedWithin = (s: net.Socket, ms: number): Promise<boolean> =>
  s.closed
    ? Promise.resolve(true)
    : new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        s.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });

describe('TcpTransport liveness', () => {
  it('an idle connection answers PINGs and stays up', async () => {
    const a = await start('a');
    const b = await start('b');
    let got = 0;
    b.onFrame(() => got++);
    a.send(b.localId, frame(1));
    await waitFor(() => got === 1, 'first frame');
    await sleep(1500);
    const sa = a.stats();
    const sb = b.stats();
    assert.ok(sa.pingsOut >= 4, `${sa.pingsOut} pings in 1.5 s idle`);
    assert.ok(sb.pongsOut >= sa.pingsOut - 1, `${sb.pongsOut} pongs for ${sa.pingsOut} pings`);
    assert.equal(sa.stalledReplaced, 0);
    assert.equal(sa.connectionsOut, 1);
  });

  it('a busy connection needs no PINGs: the data it delivers is answered', async () => {
    const a = await start('a');
    const b = await start('b');
    let got = 0;
    b.onFrame(() => got++);
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i < 20; i++) a.send(b.localId, frame(i));
      await sleep(20);
    }
    await waitFor(() => got === 1200, 'all frames');
    assert.ok(a.stats().pingsOut <= 2, `${a.stats().pingsOut} pings while busy`);
    assert.ok(b.stats().pongsOut >= 5);
    assert.equal(a.stats().stalledReplaced, 0);
  });

  it('two peers writing to each other send no PINGs and answer no data with PONGs: the frames each receives prove the other', async () => {
    const exchange = async (framesProveLife: boolean): Promise<{ pings: number; pongs: number }> => {
      const a = await start('a', { framesProveLife });
      const b = await start('b', { framesProveLife });
      let got = 0;
      a.onFrame(() => got++);
      b.onFrame(() => got++);
      // Each writes one frame every 50 ms, as FD beats and relay tables go both ways between a member and its relay.
      for (let i = 0; i < 30; i++) {
        a.send(b.localId, frame(i));
        b.send(a.localId, frame(i));
        await sleep(50);
      }
      await waitFor(() => got === 60, 'all frames');
      const [sa, sb] = [a.stats(), b.stats()];
      assert.equal(sa.stalledReplaced + sb.stalledReplaced, 0);
      return { pings: sa.pingsOut + sb.pingsOut, pongs: sa.pongsOut + sb.pongsOut };
    };
    const on = await exchange(true);
    assert.ok(on.pings <= 2, `${on.pings} PINGs in 1.5 s of two-way traffic`);
    assert.ok(on.pongs <= 4, `${on.pongs} PONGs in 1.5 s of two-way traffic`);
    const off = await exchange(false);
    assert.ok(off.pongs >= 10, `PONGs alone prove a path when frames do not: ${off.pongs}`);
  });

  it('a peer whose frames come every 300 ms is not pinged between them; once it falls silent, PINGs resume', async () => {
    const a = await start('a');
    const b = await start('b');
    let got = 0;
    a.onFrame(() => got++);
    b.onFrame(() => got++);
    // As an FD relay (a) and a member (b) with rounds of 300 ms (3 intervals): the relay's table,
    // and the member's beat in answer a little later.
    const round = async (i: number): Promise<void> => {
      a.send(b.localId, frame(i));
      await sleep(50);
      b.send(a.localId, frame(i));
      await sleep(250);
    };
    for (let i = 0; i < 3; i++) await round(i);
    const [pa, pb, qa, qb] = [a.stats().pingsOut, b.stats().pingsOut, a.stats().pongsOut, b.stats().pongsOut];
    for (let i = 3; i < 10; i++) await round(i);
    await waitFor(() => got === 20, 'all frames');
    const pings = a.stats().pingsOut - pa + (b.stats().pingsOut - pb);
    const pongs = a.stats().pongsOut - qa + (b.stats().pongsOut - qb);
    // Before: each side pinged once a round (silent for 200 ms of every 300), and each answered the
    // other's frame with a PONG (its own last write was 250 ms old): about 14 of each.
    assert.ok(pings <= 4, `${pings} PINGs in 7 rounds of 300 ms`);
    assert.ok(pongs <= 5, `${pongs} PONGs in 7 rounds of 300 ms`);
    // Both fall silent (their last writes less than quietAfterMs ago): past a round and a half of
    // silence each pings the other again.
    const [sa, sb] = [a.stats().pingsOut, b.stats().pingsOut];
    await sleep(1200);
    assert.ok(a.stats().pingsOut > sa && b.stats().pingsOut > sb, 'PINGs once silent for longer than the pace of the peer');
    assert.equal(a.stats().stallsDetected + b.stats().stallsDetected, 0);
  });

  it('replaces a connection whose peer stops answering, and the queued frames go on the new one', async () => {
    let mute = true;
    const { port, conns } = await rawAcceptor((s) => {
      if (mute) {
        mute = false;
        s.pause(); // the first connection: reads nothing more, answers nothing (as if cut)
      }
    });
    const a = await start('a');
    const to = `127.0.0.1:${port}`;
    a.send(to, frame(0));
    await waitFor(() => conns.length === 1 && a.stats().openOutbound === 1, 'the first connection');
    const t0 = performance.now();
    await waitFor(() => a.stats().stalledReplaced === 1, 'the stalled connection replaced', 3000);
    const ms = performance.now() - t0;
    assert.ok(ms >= 450 && ms < 1100, `replaced ${ms.toFixed(0)} ms after opening`);
    for (let i = 1; i <= 5; i++) a.send(to, frame(i));
    await waitFor(() => conns.length === 2 && conns[1]!.frames.length === 5, 'frames on a new connection');
    assert.deepEqual(conns[1]!.frames, [1, 2, 3, 4, 5]);
    assert.equal(a.stats().openOutbound, 1);
  });

  it('keeps a silent connection that answers again before its replacement does: a slow peer loses nothing', async () => {
    // The peer reads nothing on its first connection for 1 s (busy), and never answers a second one.
    const { conns, port } = await slowPeer();
    const a = await start('a');
    const to = `127.0.0.1:${port}`;
    a.send(to, frame(0));
    await waitFor(() => a.stats().openOutbound === 1, 'connected');
    await sleep(300);
    a.send(to, frame(1)); // written to the connection the peer is not reading
    await waitFor(() => conns.length === 2, 'a replacement dial beside the silent connection', 3000);
    a.send(to, frame(2)); // held back while the connection is suspect
    await waitFor(() => a.stats().stallsRecovered === 1, 'the silent connection answered again', 3000);
    a.send(to, frame(3));
    await waitFor(() => conns[0]!.frames.length === 4, 'every frame on the first connection');
    assert.deepEqual(conns[0]!.frames, [0, 1, 2, 3]);
    assert.equal(a.stats().stalledReplaced, 0);
    assert.ok(await closedWithin(conns[1]!.socket, 1000), 'the replacement dial is closed');
  });

  it('a peer that was slow once (its silent connection answered again) gets a longer stall timeout: no replacement dial at the next short silence', async () => {
    // The peer reads nothing on its first connection for 1 s, then (when told) for 0.9 s more; it never answers a second one.
    const { conns, port } = await slowPeer();
    const a = await start('a');
    const to = `127.0.0.1:${port}`;
    a.send(to, frame(0));
    await waitFor(() => a.stats().stallsRecovered === 1, 'the slow connection answered again', 3000);
    assert.equal(a.stats().stallsDetected, 1);
    a.send(to, frame(1));
    await sleep(300);
    // Slow again, for 0.9 s: more than stallTimeoutMs (600 ms), less than twice it.
    conns[0]!.socket.pause();
    await sleep(900);
    conns[0]!.socket.resume();
    await sleep(400);
    assert.equal(a.stats().stallsDetected, 1, 'no second stall');
    assert.equal(conns.length, 2, 'no second replacement dial');
    assert.equal(a.stats().stalledReplaced, 0);
  });

  it('after a pause of the whole process, the silence is its own: no connection is replaced', async () => {
    const a = await start('a');
    const b = await start('b');
    let got = 0;
    b.onFrame(() => got++);
    a.send(b.localId, frame(1));
    await waitFor(() => got === 1, 'first frame');
    await sleep(300);
    const until = performance.now() + 1200; // both ends stopped (a long GC, SIGSTOP)
    while (performance.now() < until) {
      /* busy */
    }
    await sleep(400);
    assert.equal(a.stats().stalledReplaced, 0);
    a.send(b.localId, frame(2));
    await waitFor(() => got === 2, 'second frame');
    assert.equal(a.stats().connectionsOut, 1);
  });

  it('answers at most one PONG per half ping interval, however many PINGs arrive', async () => {
    const v = await start('v', { pingIntervalMs: 200 });
    const { socket, controls } = await rawClient(portOf(v.localId));
    const pings = Buffer.concat(Array.from({ length: 1000 }, () => encodeControlWord(CONTROL_PING)));
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) {
      socket.write(pings);
      await sleep(50);
    }
    await sleep(100);
    const ms = performance.now() - t0;
    assert.ok(controls.length >= 2, `${controls.length} pongs`);
    assert.ok(controls.length <= Math.ceil(ms / 100) + 1, `${controls.length} pongs in ${ms.toFixed(0)} ms`);
    assert.ok(
      controls.every((c) => c === CONTROL_PONG),
      'only PONGs',
    );
    assert.ok(v.stats().pingsIgnored >= 9000);
    assert.equal(await closedWithin(socket, 50), false, 'PINGs are no offence');
  });

  it('closes a connection that sends a control word before its HELLO, or one it should not send', async () => {
    const v = await start('v');
    const port = portOf(v.localId);
    const before = net.connect({ host: '127.0.0.1', port });
    sockets.push(before);
    before.on('error', () => {});
    before.resume();
    before.write(encodeControlWord(CONTROL_PING));
    assert.ok(await closedWithin(before, 2000), 'PING before HELLO');
    const pong = await rawClient(port);
    pong.socket.write(encodeControlWord(CONTROL_PONG));
    assert.ok(await closedWithin(pong.socket, 2000), 'PONG on an inbound connection');
    const unknown = await rawClient(port);
    unknown.socket.write(encodeControlWord(0x7f));
    assert.ok(await closedWithin(unknown.socket, 2000), 'unknown control word');
    assert.equal(v.stats().malformed, 3);
  });

  it('the dialing side closes its connection on a control word other than PONG', async () => {
    const { port, conns } = await rawAcceptor((s) => s.write(encodeControlWord(CONTROL_PING)));
    const a = await start('a', { reconnectMinMs: 10, reconnectMaxMs: 100 });
    const sender = setInterval(() => a.send(`127.0.0.1:${port}`, frame(1)), 10);
    try {
      await waitFor(() => a.stats().malformed >= 2 && conns.length >= 2, 'two rejected connections (a redial happened)');
    } finally {
      clearInterval(sender);
    }
  });

  it('a quiet connection (nothing written for quietAfterMs) sends no PINGs and is never replaced for its silence', async () => {
    const a = await start('a', { quietAfterMs: 800 });
    const b = await start('b');
    let got = 0;
    b.onFrame(() => got++);
    a.send(b.localId, frame(1));
    await waitFor(() => got === 1, 'first frame');
    await sleep(1000);
    const pings = a.stats().pingsOut;
    assert.ok(pings >= 2, `${pings} pings while watched`);
    await sleep(1500);
    assert.equal(a.stats().pingsOut, pings, 'no PING once quiet');
    assert.equal(a.stats().stallsDetected, 0);
    a.send(b.localId, frame(2));
    await waitFor(() => got === 2, 'a frame on the quiet connection');
    await sleep(500);
    assert.ok(a.stats().pingsOut > pings, 'watched again after a write');
    assert.equal(a.stats().connectionsOut, 1);
    assert.equal(a.stats().stallsDetected, 0);
  });

  it('a write to a quiet connection whose peer stopped answering is watched from that write: the connection is replaced', async () => {
    let mute = false;
    const { port, conns } = await rawAcceptor((s) => {
      if (conns.length > 1) return;
      // The first connection answers PINGs until `mute`, then reads on but answers nothing.
      s.removeAllListeners('data');
      const d: FrameDecoder = new FrameDecoder(() => {});
      d.onControl = (code) => {
        if (code === CONTROL_PING && !mute) s.write(encodeControlWord(CONTROL_PONG));
      };
      s.on('data', (c: Buffer) => d.push(c));
    });
    const a = await start('a', { quietAfterMs: 800 });
    const to = `127.0.0.1:${port}`;
    a.send(to, frame(0));
    await waitFor(() => a.stats().openOutbound === 1, 'connected');
    await sleep(1000); // quiet now
    mute = true;
    await sleep(1200);
    assert.equal(a.stats().stallsDetected, 0, 'the silence of a quiet connection is not a stall');
    const t0 = performance.now();
    a.send(to, frame(1));
    await waitFor(() => a.stats().stallsDetected === 1, 'the stall found after the write', 3000);
    const ms = performance.now() - t0;
    assert.ok(ms >= 450 && ms < 1100, `stall found ${ms.toFixed(0)} ms after the write`);
  });

  it('rejects stallTimeoutMs under twice pingIntervalMs, and 0 turns stall detection off', async () => {
    await assert.rejects(TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'x', pingIntervalMs: 300, stallTimeoutMs: 500 }), { code: 'ERR_CONFIG' });
    const a = await start('a', { stallTimeoutMs: 0 });
    const b = await start('b');
    let got = 0;
    b.onFrame(() => got++);
    a.send(b.localId, frame(1));
    await waitFor(() => got === 1, 'frame');
    await sleep(500);
    assert.equal(a.stats().pingsOut, 0);
  });
});

describe('TcpTransport reconnecting', () => {
  it('dials a peer waiting out a back-off as soon as that peer connects to us', async () => {
    const port = await freePort();
    const a = await start('a', { reconnectMinMs: 3000, reconnectMaxMs: 3000 });
    a.send(`127.0.0.1:${port}`, frame(1));
    await waitFor(() => a.stats().connectFailures === 1, 'a refused dial (now backing off 1.5-3 s)');
    await sleep(300);
    const b = await start('b', { listen: `127.0.0.1:${port}` });
    const got: number[] = [];
    b.onFrame((_from, f) => got.push(seqOf(f)));
    const t0 = performance.now();
    b.send(a.localId, frame(2)); // b dials a: its HELLO reaches a
    await waitFor(() => got.length === 1, "a's queued frame", 5000);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `a's frame arrived ${ms.toFixed(0)} ms after b reached a`);
    assert.equal(a.stats().redialsOnContact, 1);
  });

  it('a peer that accepts but does not answer the HELLO gets one dial beside, not a pile of them', async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
      s.resume(); // reads the HELLO, never answers: a paused or very busy peer
      accepted.push(s);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const a = await start('a', { connectTimeoutMs: 300, handshakeTimeoutMs: 2000 });
    a.send(`127.0.0.1:${port}`, frame(1));
    await sleep(1500);
    // The SYN was answered, so connectTimeoutMs does not give the dial up; one dial beside it after 300 ms.
    assert.equal(accepted.length, 2, `${accepted.length} connections`);
    assert.equal(a.stats().connectTimeouts, 0);
    await waitFor(() => a.stats().connectTimeouts >= 1, 'the first dial given up after handshakeTimeoutMs', 3000);
  });

  it('a peer that accepts and drops us at once gets an exponential back-off, not a dial every few ms', async () => {
    const { port, conns } = await rawAcceptor((s) => setImmediate(() => s.destroy()));
    const a = await start('a', { reconnectMinMs: 20, reconnectMaxMs: 2000 });
    const sender = setInterval(() => a.send(`127.0.0.1:${port}`, frame(1)), 5);
    await sleep(1500);
    clearInterval(sender);
    // 20, 40, 80, ... ms with jitter: about ten dials; without escalation, about a hundred.
    assert.ok(conns.length >= 3 && conns.length <= 20, `${conns.length} dials in 1.5 s`);
  });
});
