// The transport's limits on what a peer can make it hold: connections (total, per address, in their
// handshake), the handshake deadline and its small frame limit, frames that stall half-sent, and the
// send queues of all peers together. Attackers bind to 127.0.0.2 and up (distinct loopback addresses
// on Linux), so a real peer on 127.0.0.1 is a different address.
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNode } from '../../../src/api/create-node.js';
import type { HorusNode } from '../../../src/api/node.js';
import { parseNodeConfig } from '../../../src/cli/config.js';
import { resolveNodeConfig } from '../../../src/cli/node-cmd.js';
import { silentLogger } from '../../../src/core/logger.js';
import { endpointOf, parseEndpoint, type NodeId } from '../../../src/core/node-id.js';
import { FRAME_HEADER_BYTES, encodeFrames } from '../../../src/transport/frame-decoder.js';
import { HELLO_ACCEPT, HELLO_CONNECT, TcpTransport, encodeHello, type TcpTransportOptions } from '../../../src/transport/tcp-transport.js';
import { closedWithin } from '../../helpers/attacker.js';

const transports: TcpTransport[] = [];
const sockets: net.Socket[] = [];
const nodes: HorusNode[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

async function start(incarnation: string, extra: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation, reconnectMinMs: 10, reconnectMaxMs: 100, ...extra });
  transports.push(t);
  return t;
}

const portOf = (id: NodeId): number => parseEndpoint(endpointOf(id)).port;

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A raw connection from `localAddress`; resolves once connected. */
async function rawConnect(port: number, localAddress = '127.0.0.2'): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  sockets.push(s);
  s.on('error', () => {}); // resets by the transport are expected
  s.resume();
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

const hello = (id: string): Buffer => encodeFrames([encodeHello(HELLO_CONNECT, id)]);

function lengthPrefix(n: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt32BE(n, 0);
  return b;
}

/** Frames from `a` reach `b`: a connection from 127.0.0.1 gets in and works. */
async function assertPeerGetsThrough(a: TcpTransport, b: TcpTransport, n = 50): Promise<void> {
  let got = 0;
  b.onFrame((from) => {
    if (from === a.localId) got++;
  });
  for (let i = 0; i < n; i++) a.send(b.localId, Buffer.alloc(32, i));
  await waitFor(() => got === n, `${n} frames from a real peer`);
}

describe('TcpTransport limits', () => {
  it('refuses inbound connections over maxConnections, counts them, and accepts again once one closes', async () => {
    const v = await start('victim', { maxConnections: 5, maxConnectionsPerAddress: 5, maxUnauthenticated: 5, maxUnauthenticatedPerAddress: 5 });
    const port = portOf(v.localId);
    const open: net.Socket[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await rawConnect(port);
      s.write(hello(`127.0.0.2:${100 + i}/x`));
      open.push(s);
    }
    await waitFor(() => v.stats().connectionsIn === 5, 'five handshakes');
    // More from the same address: nobody holds more than it, so nothing is closed to make room.
    const extra: net.Socket[] = [];
    for (let i = 0; i < 5; i++) extra.push(await rawConnect(port));
    for (const s of extra) assert.ok(await closedWithin(s, 2000), 'a connection over the cap is closed');
    assert.equal(v.stats().refusedTotal, 5);
    assert.equal(v.stats().openInbound, 5);
    for (const s of open) assert.equal(s.closed, false, 'connections under the cap stay open');
    // One goes: room for one more.
    open[0]!.destroy();
    await waitFor(() => v.stats().openInbound === 4, 'the closed one forgotten');
    const again = await rawConnect(port);
    assert.equal(await closedWithin(again, 300), false, 'a connection under the cap is kept');
    assert.equal(v.stats().refusedTotal, 5);
    assert.equal(v.stats().evictedOverTotal, 0);
  });

  it('at maxConnections, a new address gets in by closing a connection of the address that holds the most', async () => {
    const v = await start('victim', { maxConnections: 6, maxConnectionsPerAddress: 6, maxUnauthenticated: 6, maxUnauthenticatedPerAddress: 6 });
    const real = await start('real');
    const port = portOf(v.localId);
    const attacker: net.Socket[] = [];
    for (let i = 0; i < 6; i++) {
      const s = await rawConnect(port);
      s.write(hello(`127.0.0.2:${100 + i}/x`));
      attacker.push(s);
    }
    await waitFor(() => v.stats().connectionsIn === 6, 'six handshakes');
    await assertPeerGetsThrough(real, v);
    assert.equal(v.stats().evictedOverTotal, 1);
    assert.ok(await closedWithin(attacker[0]!, 1000), "the attacker's oldest connection made room");
    // A third address: 127.0.0.2 still holds the most (5), so it gives up another.
    const third = await rawConnect(port, '127.0.0.3');
    assert.equal(await closedWithin(third, 300), false);
    assert.equal(v.stats().evictedOverTotal, 2);
    // Balanced enough (4, 1, 1): one more from 127.0.0.2 is refused, not let in at another's cost.
    const more = await rawConnect(port);
    assert.ok(await closedWithin(more, 1000));
    assert.equal(v.stats().refusedTotal, 1);
    await assertPeerGetsThrough(real, v);
  });

  it('closes the connection holding the most when frames in progress exceed maxBufferedBytes', async () => {
    const v = await start('victim', { maxFrameSize: 100_000, maxBufferedBytes: 200_000, frameProgressIntervalMs: 0 });
    const real = await start('real');
    const port = portOf(v.localId);
    const holders: net.Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await rawConnect(port);
      s.write(Buffer.concat([hello(`127.0.0.2:${100 + i}/x`), lengthPrefix(100_000), Buffer.alloc(i < 2 ? 60_000 : 99_000)]));
      holders.push(s);
      await sleep(50);
    }
    assert.ok(await closedWithin(holders[2]!, 1000), 'the biggest holder is closed');
    assert.equal(v.stats().closedOverBuffer, 1);
    assert.ok(v.stats().partialBytes <= 200_000, `${v.stats().partialBytes} bytes in progress`);
    assert.equal(holders[0]!.closed, false);
    await assertPeerGetsThrough(real, v);
  });

  it('refuses connections over maxConnectionsPerAddress from one address; other addresses still get in', async () => {
    const v = await start('victim', { maxConnectionsPerAddress: 3, maxUnauthenticatedPerAddress: 3 });
    const real = await start('real');
    const port = portOf(v.localId);
    const attacker: net.Socket[] = [];
    for (let i = 0; i < 6; i++) {
      const s = await rawConnect(port);
      s.write(hello(`127.0.0.2:${100 + i}/x`));
      attacker.push(s);
    }
    const closed = await Promise.all(attacker.map((s) => closedWithin(s, 1000)));
    assert.equal(closed.filter(Boolean).length, 3, 'three of six connections from one address refused');
    assert.equal(v.stats().refusedPerAddress, 3);
    await assertPeerGetsThrough(real, v);
    assert.equal(v.stats().refusedPerAddress, 3);
  });

  it('a real peer still connects while an attacker holds the most unauthenticated connections from another address', async () => {
    const v = await start('victim', { maxUnauthenticated: 8, maxUnauthenticatedPerAddress: 4, handshakeTimeoutMs: 30_000 });
    const real = await start('real');
    const port = portOf(v.localId);
    const silent: net.Socket[] = [];
    for (let i = 0; i < 7; i++) silent.push(await rawConnect(port));
    const closed = await Promise.all(silent.map((s) => closedWithin(s, 500)));
    assert.deepEqual(
      closed.map((c, i) => (c ? i : -1)).filter((i) => i >= 0),
      [4, 5, 6],
      'connections over the per-address handshake cap are refused',
    );
    assert.equal(v.stats().refusedUnauthenticated, 3);
    assert.equal(v.stats().openUnauthenticated, 4);
    await assertPeerGetsThrough(real, v);
    // A silent connection that completes its HELLO no longer counts against its address.
    silent[0]!.write(hello('127.0.0.2:9/x'));
    await waitFor(() => v.stats().openUnauthenticated === 3, 'the HELLO counted');
    assert.equal(await closedWithin(await rawConnect(port), 200), false, 'room for one more handshake from that address');
  });

  it('over maxUnauthenticated (all addresses), the oldest handshake is closed so a real peer still gets in', async () => {
    const v = await start('victim', { maxUnauthenticated: 4, maxUnauthenticatedPerAddress: 4, handshakeTimeoutMs: 30_000 });
    const real = await start('real');
    const port = portOf(v.localId);
    const first: net.Socket[] = [];
    for (let i = 0; i < 4; i++) first.push(await rawConnect(port, '127.0.0.2'));
    const second: net.Socket[] = [];
    for (let i = 0; i < 2; i++) second.push(await rawConnect(port, '127.0.0.3'));
    assert.ok(await closedWithin(first[0]!, 1000), 'the oldest handshake is closed');
    assert.ok(await closedWithin(first[1]!, 1000), 'the second oldest too');
    assert.equal(first[2]!.closed, false);
    assert.equal(v.stats().evictedUnauthenticated, 2);
    assert.equal(v.stats().openUnauthenticated, 4);
    await assertPeerGetsThrough(real, v);
    assert.equal(v.stats().evictedUnauthenticated, 3, "the real peer's handshake made room for itself");
    assert.equal(v.stats().openUnauthenticated, 3);
  });

  it('closes a connection whose HELLO is not complete within handshakeTimeoutMs, even if it keeps sending bytes', async () => {
    const v = await start('victim', { handshakeTimeoutMs: 400 });
    const s = await rawConnect(portOf(v.localId));
    const bytes = hello('127.0.0.2:7/slow');
    let i = 0;
    // One byte every 30 ms: the socket is never idle, the HELLO never complete.
    const trickle = setInterval(() => {
      if (!s.destroyed && i < bytes.length - 1) s.write(bytes.subarray(i, ++i));
    }, 30);
    try {
      const t0 = performance.now();
      assert.ok(await closedWithin(s, 3000), 'the slow handshake is closed');
      const ms = performance.now() - t0;
      assert.ok(ms >= 300 && ms < 1500, `closed after ${ms.toFixed(0)} ms`);
      assert.equal(v.stats().handshakeTimeouts, 1);
      await waitFor(() => v.stats().openInbound === 0, 'the connection forgotten');
    } finally {
      clearInterval(trickle);
    }
  });

  it('closes a connection whose first frame is over the small pre-handshake limit', async () => {
    const v = await start('victim', { maxHelloFrameSize: 600, maxFrameSize: 1024 * 1024 });
    const port = portOf(v.localId);
    const s = await rawConnect(port);
    s.write(Buffer.concat([lengthPrefix(601), Buffer.alloc(16)]));
    assert.ok(await closedWithin(s, 2000), 'the oversized pre-HELLO frame closes the connection');
    assert.equal(v.stats().malformed, 1);
    // After the handshake the full limit applies: the same length is a normal frame.
    let got = 0;
    v.onFrame(() => got++);
    const ok = await rawConnect(port);
    ok.write(Buffer.concat([hello('127.0.0.2:8/ok'), encodeFrames([Buffer.alloc(601), Buffer.alloc(100_000)])]));
    await waitFor(() => got === 2, 'frames over the HELLO limit after the handshake');
    assert.equal(ok.closed, false);
  });

  it('closes a connection that trickles a started frame, and leaves a peer sending large frames alone', async () => {
    const v = await start('victim', { frameProgressIntervalMs: 150, minFrameProgressBytes: 1024, maxFrameSize: 4 * 1024 * 1024 });
    const real = await start('real');
    const port = portOf(v.localId);
    let realFrames = 0;
    v.onFrame((from) => {
      if (from === real.localId) realFrames++;
    });
    const s = await rawConnect(port);
    s.write(Buffer.concat([hello('127.0.0.2:9/slow'), lengthPrefix(1_000_000), Buffer.alloc(100)]));
    // 10 bytes every 20 ms: never idle, far under 1024 bytes per interval.
    const trickle = setInterval(() => {
      if (!s.destroyed) s.write(Buffer.alloc(10));
    }, 20);
    // Meanwhile a real peer sends 1 MiB frames, each straddling many reads.
    const big = Buffer.alloc(1024 * 1024, 7);
    let sent = 0;
    const pump = setInterval(() => {
      if (sent < 40) {
        real.send(v.localId, big);
        sent++;
      }
    }, 10);
    try {
      const t0 = performance.now();
      assert.ok(await closedWithin(s, 3000), 'the trickling connection is closed');
      const ms = performance.now() - t0;
      assert.ok(ms < 2500, `closed after ${ms.toFixed(0)} ms`);
      assert.equal(v.stats().slowFrames, 1);
      await waitFor(() => realFrames === 40, 'the real peer’s 40 large frames', 10_000);
      assert.equal(v.stats().slowFrames, 1, 'the real peer was not closed');
      assert.equal(v.stats().openInbound, 1);
    } finally {
      clearInterval(trickle);
      clearInterval(pump);
    }
  });

  it('closes a connection whose frame takes longer than maxFrameReadMs, even at a good pace', async () => {
    const v = await start('victim', { frameProgressIntervalMs: 100, minFrameProgressBytes: 1, maxFrameReadMs: 400, maxFrameSize: 16 * 1024 * 1024 });
    const s = await rawConnect(portOf(v.localId));
    s.write(Buffer.concat([hello('127.0.0.2:9/slow'), lengthPrefix(16 * 1024 * 1024)]));
    const trickle = setInterval(() => {
      if (!s.destroyed) s.write(Buffer.alloc(2048));
    }, 20);
    try {
      const t0 = performance.now();
      assert.ok(await closedWithin(s, 3000), 'the long frame is closed');
      const ms = performance.now() - t0;
      assert.ok(ms >= 350 && ms < 2500, `closed after ${ms.toFixed(0)} ms`);
      assert.equal(v.stats().slowFrames, 1);
    } finally {
      clearInterval(trickle);
    }
  });

  it('an idle connection between frames is not a stalled frame', async () => {
    const v = await start('victim', { frameProgressIntervalMs: 50, minFrameProgressBytes: 1024 });
    let got = 0;
    v.onFrame(() => got++);
    const s = await rawConnect(portOf(v.localId));
    s.write(Buffer.concat([hello('127.0.0.2:9/idle'), encodeFrames([Buffer.alloc(10)])]));
    await waitFor(() => got === 1, 'one frame');
    assert.equal(await closedWithin(s, 400), false, 'an idle authenticated connection stays open');
    assert.equal(v.stats().slowFrames, 0);
  });

  it('drops frames over maxTotalQueuedBytes, all peers together, and counts them', async () => {
    const a = await start('a', {
      maxFrameSize: 16 * 1024,
      maxQueuedBytes: 64 * 1024,
      maxTotalQueuedBytes: 96 * 1024,
      reconnectMinMs: 1000,
      reconnectMaxMs: 1000,
    });
    // Nothing listens on ports 1 and 2: frames wait in the queues while the dials fail.
    const frame = Buffer.alloc(16 * 1024);
    for (let i = 0; i < 3; i++) a.send('127.0.0.1:1', frame);
    for (let i = 0; i < 3; i++) a.send('127.0.0.1:2', frame);
    const s = a.stats();
    assert.equal(s.droppedQueueFull, 0, 'no single queue is full');
    assert.equal(s.droppedTotalQueueFull, 1, 'the sixth frame is over the total');
    assert.equal(s.queuedBytes, 5 * (16 * 1024 + FRAME_HEADER_BYTES));
    assert.ok(s.queuedBytes <= 96 * 1024);
    assert.equal(s.dropped, 1);
  });

  it('gives up a dial whose peer trickles its HELLO reply past handshakeTimeoutMs', async () => {
    const servers: net.Server[] = [];
    const accepted: net.Socket[] = [];
    const reply = encodeFrames([encodeHello(HELLO_ACCEPT, '127.0.0.1:9/slow')]);
    const server = net.createServer((s) => {
      accepted.push(s);
      s.on('error', () => {});
      let i = 0;
      const timer = setInterval(() => {
        if (s.destroyed || i >= reply.length - 1) clearInterval(timer);
        else s.write(reply.subarray(i, ++i));
      }, 30);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const a = await start('a', { handshakeTimeoutMs: 300, reconnectMinMs: 5000, reconnectMaxMs: 5000 });
      a.send(`127.0.0.1:${(server.address() as net.AddressInfo).port}`, Buffer.alloc(8));
      await waitFor(() => accepted.length === 1, 'the dial');
      const t0 = performance.now();
      assert.ok(await closedWithin(accepted[0]!, 3000), 'the dial is given up');
      const ms = performance.now() - t0;
      assert.ok(ms < 1500, `gave up after ${ms.toFixed(0)} ms`);
      await waitFor(() => a.stats().connectFailures === 1, 'a connect failure');
      assert.equal(a.stats().openOutbound, 0);
    } finally {
      for (const s of accepted) s.destroy();
      await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    }
  });

  it('rejects inconsistent limits with a ConfigError', async () => {
    await assert.rejects(TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'a', maxConnections: 4, maxConnectionsPerAddress: 5 }), {
      code: 'ERR_CONFIG',
    });
    await assert.rejects(TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'a', maxUnauthenticated: 2, maxUnauthenticatedPerAddress: 3 }), {
      code: 'ERR_CONFIG',
    });
    await assert.rejects(TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'a', maxHelloFrameSize: 100 }), { code: 'ERR_CONFIG' });
    await assert.rejects(TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'a', maxTotalQueuedBytes: 1024 }), { code: 'ERR_CONFIG' });
    await assert.rejects(TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'a', maxBufferedBytes: 1024 }), { code: 'ERR_CONFIG' });
  });

  it('limits come from the node config file and createNode', async () => {
    const file = parseNodeConfig({ listen: '127.0.0.1:0', transport: { maxUnauthenticated: 2, maxUnauthenticatedPerAddress: 1 } }, 'test');
    assert.throws(() => parseNodeConfig({ transport: { maxConections: 1 } }, 'test'), /unknown field "maxConections"/);
    assert.throws(() => parseNodeConfig({ transport: { maxConnections: 0 } }, 'test'), /transport\.maxConnections/);
    // Dialing and stall-detection timings too (checked together when the transport starts).
    assert.deepEqual(parseNodeConfig({ transport: { stallTimeoutMs: 900, pingIntervalMs: 300, connectTimeoutMs: 2000 } }, 'test').transport, {
      stallTimeoutMs: 900,
      pingIntervalMs: 300,
      connectTimeoutMs: 2000,
    });
    await assert.rejects(createNode({ listen: '127.0.0.1:0', logger: silentLogger, transport: { stallTimeoutMs: 300, pingIntervalMs: 200 } }), {
      code: 'ERR_CONFIG',
    });
    const cfg = resolveNodeConfig(file, {});
    assert.deepEqual(cfg.transport, { maxUnauthenticated: 2, maxUnauthenticatedPerAddress: 1 });
    const node = await createNode({ listen: cfg.listen, logger: silentLogger, transport: cfg.transport });
    nodes.push(node);
    const t = node.env.transport;
    assert.ok(t instanceof TcpTransport);
    const port = parseEndpoint(node.endpoint).port;
    const first = await rawConnect(port);
    const second = await rawConnect(port);
    assert.ok(await closedWithin(second, 1000), 'the second handshake from one address is refused');
    assert.equal(first.closed, false);
    assert.equal(t.stats().refusedUnauthenticated, 1);
  });
});
