import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HorusError } from '../../../src/core/errors.js';
import { FrameDecoder, encodeFrames } from '../../../src/transport/frame-decoder.js';
import { DialerHandshake, sealDialer, type ChannelSecurity } from '../../../src/transport/secure-channel.js';
import { TcpTransport, isValidNodeId } from '../../../src/transport/tcp-transport.js';
import { TEST_PSK, testCa } from '../../helpers/pki.js';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function start(incarnation: string, security: ChannelSecurity): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation, security, handshakeTimeoutMs: 2000 });
  open.push(t);
  return t;
}

function portOf(t: TcpTransport): number {
  return Number(t.localId.split('/')[0]!.split(':')[1]);
}

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(10);
  }
  return true;
}

/** A loopback proxy to `port` that records what the dialer sends and may alter it on the way. */
async function proxy(port: number, alter?: (chunk: Buffer, offset: number) => Buffer): Promise<{ port: number; sent: Buffer[] }> {
  const sent: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.push(client, upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let offset = 0;
    client.on('data', (c: Buffer) => {
      const out = alter ? alter(Buffer.from(c), offset) : c;
      offset += c.length;
      sent.push(Buffer.from(out));
      upstream.write(out);
    });
    upstream.on('data', (c: Buffer) => client.write(c));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  });
  return { port: (server.address() as net.AddressInfo).port, sent };
}

/** A raw client connection to `port`; collects the frames it receives (before any control word). */
async function raw(port: number): Promise<{ socket: net.Socket; frames: Buffer[]; closed: () => boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let isClosed = false;
  socket.on('close', () => (isClosed = true));
  const frames: Buffer[] = [];
  const decoder = new FrameDecoder((f) => frames.push(Buffer.from(f)), 1 << 20);
  socket.on('data', (c: Buffer) => {
    try {
      decoder.push(c);
    } catch {
      socket.destroy();
    }
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  open.push({ close: () => socket.destroy() });
  return { socket, frames, closed: () => isClosed };
}

const MARKER = 'SECRET-PAYLOAD-0123456789';

describe('secure channel: authenticated and sealed TCP connections', () => {
  for (const mode of ['pki', 'psk'] as const) {
    const pair = (): [ChannelSecurity, ChannelSecurity] => {
      if (mode === 'psk') return [TEST_PSK, TEST_PSK];
      const ca = testCa();
      return [ca.security('node-a'), ca.security('node-b')];
    };

    it(`${mode}: frames arrive in order and each side knows the identity the other proved`, async () => {
      const [sa, sb] = pair();
      const a = await start('a', sa);
      const b = await start('b', sb);
      const got: string[] = [];
      b.onFrame((from, f) => {
        assert.equal(from, a.localId);
        got.push(Buffer.from(f).toString());
      });
      // Sizes around a record's limit (64 KiB) and frames many records long.
      const sizes = [1, 100, 65_532, 65_536, 70_000, 300_000, 10, 0];
      for (let i = 0; i < 200; i++) a.send(b.localId, Buffer.from(String(i).padEnd(sizes[i % sizes.length]!, '.')));
      assert.ok(await until(() => got.length === 200), `got ${got.length} of 200`);
      assert.deepEqual(
        got.map((s) => Number.parseInt(s, 10)),
        Array.from({ length: 200 }, (_, i) => i),
      );
      const idOfA = b.peerIdentity(a.localId);
      const idOfB = a.peerIdentity(b.localId);
      assert.equal(idOfA?.mode, mode);
      assert.equal(idOfB?.mode, mode);
      if (mode === 'pki') {
        assert.equal(idOfA?.name, 'node-a');
        assert.equal(idOfB?.name, 'node-b');
        assert.equal(idOfA?.publicKey?.length, 44);
      }
      assert.equal(b.peerIdentity('127.0.0.1:1/nobody'), null);
      assert.equal(b.stats().authFailures, 0);
    });

    it(`${mode}: frames given away (owned) go by reference, sealed in order among copied ones, to several peers`, async () => {
      const ca = mode === 'pki' ? testCa() : null;
      const sec = (name: string): ChannelSecurity => (ca === null ? TEST_PSK : ca.security(name));
      const a = await start('a', sec('node-a'));
      const peers = [await start('b', sec('node-b')), await start('c', sec('node-c'))];
      const got = peers.map((p) => {
        const frames: Buffer[] = [];
        p.onFrame((_from, f) => frames.push(Buffer.from(f)));
        return frames;
      });
      // Owned frames below and above the by-reference size (8 KiB), copied ones between them.
      const sent: Buffer[] = [];
      for (let i = 0; i < 60; i++) {
        const owned = Buffer.alloc(i % 3 === 0 ? 100 : 9_000 + i * 500, i);
        owned.writeUInt32BE(i, 0);
        const small = Buffer.alloc(12, 255 - i);
        for (const p of peers) {
          a.send(p.localId, owned, true);
          a.send(p.localId, small);
        }
        sent.push(owned, small);
        if (i % 20 === 0) await sleep(1);
      }
      assert.ok(await until(() => got.every((g) => g.length === sent.length)), `got ${got.map((g) => g.length).join(', ')} of ${sent.length}`);
      for (const g of got) for (const [i, f] of g.entries()) assert.ok(f.equals(sent[i]!), `frame ${i}`);
      for (const p of peers) assert.equal(p.stats().authFailures + p.stats().malformed, 0);
    });

    it(`${mode}: batch buffers filled again once sealed never alter a frame, with the socket blocking now and then`, async () => {
      const [sa, sb] = pair();
      const a = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'a', security: sa, highWaterBytes: 4096, batchBytes: 4096 });
      open.push(a);
      const b = await start('b', sb);
      const got: Buffer[] = [];
      b.onFrame((_from, f) => got.push(Buffer.from(f)));
      const sent: Buffer[] = [];
      for (let burst = 0; burst < 40; burst++) {
        for (let i = 0; i < 50; i++) {
          const f = randomBytes(1 + ((burst * 50 + i) % 7) * 300);
          sent.push(f);
          a.send(b.localId, f);
        }
        await sleep(burst % 4 === 0 ? 5 : 0);
      }
      assert.ok(await until(() => got.length === sent.length), `got ${got.length} of ${sent.length}`);
      for (const [i, f] of got.entries()) assert.ok(f.equals(sent[i]!), `frame ${i}`);
    });

    it(`${mode}: the payload bytes do not appear on the wire`, async () => {
      const [sa, sb] = pair();
      const a = await start('a', sa);
      const b = await start('b', sb);
      const p = await proxy(portOf(b));
      let n = 0;
      b.onFrame(() => n++);
      for (let i = 0; i < 50; i++) a.send(`127.0.0.1:${p.port}`, Buffer.from(`${MARKER} ${i}`));
      assert.ok(await until(() => n === 50));
      const wire = Buffer.concat(p.sent);
      assert.ok(wire.length > 50 * MARKER.length);
      assert.equal(wire.indexOf(MARKER), -1);
      assert.equal(wire.indexOf(Buffer.from(MARKER).subarray(0, 8)), -1);
    });

    it(`${mode}: a record altered on the wire closes the connection; nothing altered is delivered`, async () => {
      const [sa, sb] = pair();
      const a = await start('a', sa);
      const b = await start('b', sb);
      // Flip one bit 20 bytes into what the dialer sends after its two handshake frames (M1, M3): its
      // first TLS record, and every byte after the handshake is in one.
      let frames = 0;
      let next = 0;
      const p = await proxy(portOf(b), (chunk, offset) => {
        while (frames < 2 && next >= offset && next + 4 <= offset + chunk.length) {
          next += 4 + chunk.readUInt32BE(next - offset);
          frames++;
        }
        const at = next + 20 - offset;
        if (frames === 2 && at >= 0 && at < chunk.length) chunk[at] = chunk[at]! ^ 0x40;
        return chunk;
      });
      const got: string[] = [];
      b.onFrame((_, f) => got.push(Buffer.from(f).toString()));
      a.send(`127.0.0.1:${p.port}`, Buffer.from(`${MARKER} first`));
      assert.ok(await until(() => b.stats().authFailures === 1), `authFailures ${b.stats().authFailures}`);
      assert.deepEqual(got, []);
    });

    it(`${mode}: a data record altered once the connection is up closes it; what came before is delivered, the altered one not`, async () => {
      const [sa, sb] = pair();
      const a = await start('a', sa);
      const b = await start('b', sb);
      let armed = false;
      // Once armed, flip the last byte of the next piece the dialer sends (a record's tag or ciphertext).
      const p = await proxy(portOf(b), (chunk) => {
        if (armed && chunk.length > 0) {
          armed = false;
          chunk[chunk.length - 1] = chunk[chunk.length - 1]! ^ 0x01;
        }
        return chunk;
      });
      const got: string[] = [];
      b.onFrame((_, f) => got.push(Buffer.from(f).toString()));
      a.send(`127.0.0.1:${p.port}`, Buffer.from(`${MARKER} first`));
      assert.ok(await until(() => got.length === 1));
      armed = true;
      a.send(`127.0.0.1:${p.port}`, Buffer.from(`${MARKER} second`));
      assert.ok(await until(() => b.stats().authFailures === 1), `authFailures ${b.stats().authFailures}`);
      await sleep(50);
      assert.deepEqual(got, [`${MARKER} first`]);
    });
  }

  it('psk: a dialer with another secret is refused, counted, and delivers nothing', async () => {
    const b = await start('b', TEST_PSK);
    const a = await start('a', { mode: 'psk', secret: Buffer.from('not the secret the cluster shares!!') });
    let n = 0;
    b.onFrame(() => n++);
    a.send(b.localId, Buffer.from(MARKER));
    assert.ok(await until(() => b.stats().authFailures + a.stats().authFailures >= 1));
    await sleep(100);
    assert.equal(n, 0);
    assert.equal(b.peerIdentity(a.localId), null);
  });

  it('pki: an intruder with a certificate from another CA cannot connect or inject', async () => {
    const ca = testCa();
    const b = await start('b', ca.security('b'));
    const intruder = await start('x', testCa('rogue').security('x'));
    let n = 0;
    b.onFrame(() => n++);
    intruder.send(b.localId, Buffer.from(MARKER));
    // The intruder refuses b's certificate (not from its CA) or b refuses the intruder's: either way nothing passes.
    assert.ok(await until(() => b.stats().authFailures + intruder.stats().authFailures >= 1));
    await sleep(100);
    assert.equal(n, 0);
  });

  it('pki: a node whose serial is revoked is refused', async () => {
    const ca = testCa();
    const aCreds = ca.node('a');
    const b = await start('b', { mode: 'pki', credentials: ca.node('b', { revoked: { serials: [aCreds.certificate.serial] } }) });
    const a = await start('a', { mode: 'pki', credentials: aCreds });
    let n = 0;
    b.onFrame(() => n++);
    a.send(b.localId, Buffer.from(MARKER));
    assert.ok(await until(() => b.stats().authFailures >= 1));
    await sleep(100);
    assert.equal(n, 0);
  });

  it('pki: a valid node claiming another node id is refused', async () => {
    const ca = testCa();
    const victim = await start('v', ca.security('victim', { endpoints: ['127.0.0.1:*'] }));
    const b = await start('b', ca.security('b'));
    // The attacker holds a valid certificate, but only for 10.9.9.9: it claims the victim's id.
    const attacker = ca.security('attacker', { endpoints: ['10.9.9.9:*'] });
    const hs = new DialerHandshake(attacker as Exclude<ChannelSecurity, { mode: 'off' }>, victim.localId, { isValidId: isValidNodeId });
    const c = await raw(portOf(b));
    let n = 0;
    b.onFrame(() => n++);
    c.socket.write(encodeFrames([hs.hello()]));
    assert.ok(await until(() => c.frames.length === 1));
    const done = hs.accept(c.frames[0]!);
    c.socket.write(encodeFrames([done.finish]));
    const stream = sealDialer(c.socket, done.key);
    stream.on('error', () => {});
    stream.write(encodeFrames([Buffer.from(MARKER)]));
    assert.ok(await until(() => c.closed()));
    assert.equal(b.stats().authFailures, 1);
    assert.equal(n, 0);
    assert.equal(b.peerIdentity(victim.localId), null);
  });

  it("the dialer's TLS stream keeps its socket's write buffer limit (not TLS's 16 KiB), so backpressure is as in clear", () => {
    // Node passes stream options through to the socket; @types/node 20 does not list this one.
    const socket = new net.Socket({ writableHighWaterMark: 1 << 20 } as net.SocketConstructorOpts);
    const stream = sealDialer(socket, randomBytes(32));
    try {
      assert.equal(stream.writableHighWaterMark, 1 << 20);
    } finally {
      stream.destroy();
    }
  });

  it('pki: clear bytes sent right after a valid handshake, outside TLS, are refused and never delivered', async () => {
    const ca = testCa();
    const b = await start('b', ca.security('b'));
    const hs = new DialerHandshake(ca.security('a') as Exclude<ChannelSecurity, { mode: 'off' }>, '127.0.0.1:9/a', { isValidId: isValidNodeId });
    const c = await raw(portOf(b));
    let n = 0;
    b.onFrame(() => n++);
    c.socket.write(encodeFrames([hs.hello()]));
    assert.ok(await until(() => c.frames.length === 1));
    const done = hs.accept(c.frames[0]!);
    // The finish and a clear frame in one write: the frame sits in the same read as the finish.
    c.socket.write(Buffer.concat([encodeFrames([done.finish]), encodeFrames([Buffer.from(MARKER)])]));
    assert.ok(await until(() => c.closed()));
    assert.equal(n, 0);
    assert.equal(b.stats().malformed, 1);
  });

  for (const mode of ['pki', 'psk'] as const) {
    it(`${mode}: a recorded handshake replayed on a new connection is refused`, async () => {
      const ca = testCa();
      const sa = mode === 'pki' ? ca.security('a') : TEST_PSK;
      const b = await start('b', mode === 'pki' ? ca.security('b') : TEST_PSK);
      const a = await start('a', sa);
      const p = await proxy(portOf(b));
      let n = 0;
      b.onFrame(() => n++);
      a.send(`127.0.0.1:${p.port}`, Buffer.from(MARKER));
      assert.ok(await until(() => n === 1));
      const recorded = Buffer.concat(p.sent);
      const c = await raw(portOf(b));
      c.socket.write(recorded);
      assert.ok(await until(() => c.closed()));
      assert.equal(n, 1);
      assert.equal(b.stats().authFailures, 1);
    });
  }

  it('truncated or garbled handshakes and random bytes are rejected and counted; the node carries on', async () => {
    const ca = testCa();
    const b = await start('b', ca.security('b'));
    const hs = new DialerHandshake(ca.security('a') as Exclude<ChannelSecurity, { mode: 'off' }>, '127.0.0.1:9/a', { isValidId: isValidNodeId });
    const m1 = hs.hello();
    const attempts: Buffer[] = [
      randomBytes(64),
      encodeFrames([randomBytes(200)]),
      encodeFrames([m1.subarray(0, m1.length - 5)]),
      encodeFrames([Buffer.concat([m1, Buffer.of(1)])]),
      Buffer.concat([encodeFrames([m1]), encodeFrames([randomBytes(120)])]),
    ];
    for (let i = 0; i < 20; i++) {
      const g = Buffer.from(m1);
      g[(i * 7) % g.length] = g[(i * 7) % g.length]! ^ 0x5a;
      attempts.push(encodeFrames([g]));
    }
    for (const bytes of attempts) {
      const c = await raw(portOf(b));
      c.socket.write(bytes);
      c.socket.end();
    }
    // A truncated hello and no more: the handshake deadline closes it.
    const slow = await raw(portOf(b));
    slow.socket.write(encodeFrames([m1]).subarray(0, 10));
    assert.ok(await until(() => b.stats().openInbound === 0, 8000), `still open: ${b.stats().openInbound}`);
    const st = b.stats();
    // Each was closed for bad input, or (a garbled key or nonce still parses: the proof comes later) by its peer mid-handshake or at the deadline.
    const counted = st.malformed + st.handshakeTimeouts + st.handshakesAbandoned;
    assert.ok(counted >= attempts.length + 1, `malformed ${st.malformed}, timeouts ${st.handshakeTimeouts}, abandoned ${st.handshakesAbandoned}`);
    assert.ok(st.malformed >= 5, `malformed ${st.malformed}`);
    assert.ok(st.handshakeTimeouts >= 1);
    // The node still works for a real peer.
    const a = await start('a', ca.security('a'));
    let n = 0;
    b.onFrame(() => n++);
    a.send(b.localId, Buffer.from('after the storm'));
    assert.ok(await until(() => n === 1));
  });

  it('a node with security off and one with pki do not talk', async () => {
    const b = await start('b', testCa().security('b'));
    const a = await start('a', { mode: 'off' });
    let n = 0;
    b.onFrame(() => n++);
    a.send(b.localId, Buffer.from(MARKER));
    assert.ok(await until(() => b.stats().malformed >= 1));
    await sleep(50);
    assert.equal(n, 0);
  });

  it('start-up: a certificate that does not allow the listen endpoint is ERR_AUTH before anything listens', async () => {
    const ca = testCa();
    await assert.rejects(
      TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'x', security: ca.security('x', { endpoints: ['10.0.0.1:7000'] }) }),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_AUTH' && /does not allow its own id/.test(e.message),
    );
  });
});
