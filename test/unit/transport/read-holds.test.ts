import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeId } from '../../../src/core/node-id.js';
import type { ChannelSecurity } from '../../../src/transport/secure-channel.js';
import { TcpTransport, type TcpTransportOptions } from '../../../src/transport/tcp-transport.js';

const open: TcpTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function start(incarnation: string, extra: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation, reconnectMinMs: 10, reconnectMaxMs: 100, ...extra });
  open.push(t);
  return t;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Frames of 1 KiB numbered in their first four bytes. */
const frame = (seq: number): Buffer => {
  const b = Buffer.alloc(1024, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
};

/** Per sender, the numbers of the frames `t` received, in order. */
function collect(t: TcpTransport): Map<NodeId, number[]> {
  const got = new Map<NodeId, number[]>();
  t.onFrame((from, f) => {
    let list = got.get(from);
    if (list === undefined) got.set(from, (list = []));
    list.push(Buffer.from(f.buffer, f.byteOffset, f.byteLength).readUInt32BE(0));
  });
  return got;
}

const count = (got: Map<NodeId, number[]>, from: NodeId): number => got.get(from)?.length ?? 0;

/** Receiver `c` with senders `a` and `b`, each with a connection to `c` open (one frame through). */
async function threeNodes(
  extra: Partial<TcpTransportOptions> = {},
): Promise<{ a: TcpTransport; b: TcpTransport; c: TcpTransport; got: Map<NodeId, number[]> }> {
  const c = await start('c', extra);
  const a = await start('a', extra);
  const b = await start('b', extra);
  const got = collect(c);
  a.send(c.localId, frame(0));
  b.send(c.localId, frame(0));
  await waitFor(() => count(got, a.localId) === 1 && count(got, b.localId) === 1, 'both connections open');
  return { a, b, c, got };
}

const psk: ChannelSecurity = { mode: 'psk', secret: Buffer.alloc(32, 9) };

describe('TcpTransport read holds', () => {
  for (const security of [{ mode: 'off' } as ChannelSecurity, psk]) {
    it(`leaves a held peer's frames in its socket while another peer's come, and reads them in order once the hold is withdrawn (security ${security.mode})`, async () => {
      const { a, b, c, got } = await threeNodes({ security, maxReadHoldMs: 1000 });
      const holder = {};
      c.holdReads(a.localId, holder, true);
      for (let i = 1; i <= 200; i++) a.send(c.localId, frame(i));
      for (let i = 1; i <= 200; i++) b.send(c.localId, frame(i));
      await waitFor(() => count(got, b.localId) === 201, "b's frames");
      await sleep(50);
      // A paused stream may already have read one chunk (a socket read goes on until the stream's buffer is full).
      assert.ok(count(got, a.localId) < 100, `a's frames read while held: ${count(got, a.localId)}`);
      c.holdReads(a.localId, holder, false);
      await waitFor(() => count(got, a.localId) === 201, "a's frames after the hold");
      assert.deepEqual(
        got.get(a.localId),
        Array.from({ length: 201 }, (_, i) => i),
      );
      assert.equal(c.stats().readHolds, 1);
      assert.equal(c.stats().readHoldsCut, 0);
    });
  }

  it('pauses a peer no longer than maxReadHoldMs at a stretch, then reads it for as long, while the hold stands', async () => {
    const { a, c, got } = await threeNodes({ maxReadHoldMs: 30 });
    c.holdReads(a.localId, {}, true);
    const t0 = Date.now();
    for (let i = 1; i <= 2000; i++) a.send(c.localId, frame(i));
    await waitFor(() => count(got, a.localId) === 2001, "a's frames under a standing hold", 3000);
    assert.ok(c.stats().readHoldsCut >= 1, 'a pause was cut short');
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    assert.ok(isIncreasing(got.get(a.localId)!));
  });

  it('reads a peer as long as any holder still asks it not to be, and forgets a holder that asks twice', async () => {
    const { a, c, got } = await threeNodes({ maxReadHoldMs: 1000 });
    const one = {};
    const two = {};
    c.holdReads(a.localId, one, true);
    c.holdReads(a.localId, one, true);
    c.holdReads(a.localId, two, true);
    for (let i = 1; i <= 200; i++) a.send(c.localId, frame(i));
    c.holdReads(a.localId, one, false);
    await sleep(100);
    assert.ok(count(got, a.localId) < 100, 'still held by the other');
    c.holdReads(a.localId, two, false);
    await waitFor(() => count(got, a.localId) === 201, "a's frames");
    assert.equal(c.stats().readHolds, 1);
  });
});

function isIncreasing(xs: readonly number[]): boolean {
  return xs.every((x, i) => i === 0 || x > xs[i - 1]!);
}
