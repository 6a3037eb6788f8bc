// A TCP connection carrying data into a cut sits in retransmission back-off after the heal: its next
// retransmission may be seconds away. The transport must notice the stall (its pings go unanswered),
// replace the connection once the path works, and deliver what is sent after the heal promptly,
// instead of waiting for the kernel. The cut is a loopback proxy that holds bytes like a blackhole
// route and, after the heal, resumes each held stream at its next retransmission.
import assert from 'node:assert/strict';
import { afterEach, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { endpointOf, parseEndpoint, type NodeId } from '../../src/core/node-id.js';
import { TcpTransport } from '../../src/transport/tcp-transport.js';
import { BlackholeProxy } from '../unit/transport/blackhole-proxy.js';

const transports: TcpTransport[] = [];
const proxies: BlackholeProxy[] = [];
const timers: NodeJS.Timeout[] = [];

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

const portOf = (id: NodeId): number => parseEndpoint(endpointOf(id)).port;

async function start(incarnation: string): Promise<TcpTransport> {
  // Default timeouts: the test is about what an operator gets without tuning.
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation });
  transports.push(t);
  return t;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function frame(seq: number): Buffer {
  const b = Buffer.alloc(64, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

const seqOf = (f: Uint8Array): number => Buffer.from(f.buffer, f.byteOffset, f.byteLength).readUInt32BE(0);

/** The transport's count of a stat (absent before the feature existed). */
const stat = (t: TcpTransport, name: string): number => (t.stats() as unknown as Record<string, number | undefined>)[name] ?? 0;
/** Connections found silent (stalled), and stalled connections replaced. */
const detected = (t: TcpTransport): number => stat(t, 'stallsDetected');
const replaced = (t: TcpTransport): number => stat(t, 'stalledReplaced');

interface Flow {
  /** Arrival time of each sequence number at the receiver, in arrival order. */
  arrivals: { seq: number; at: number }[];
  /** Sequence number of the next frame to be sent. */
  next(): number;
}

/** `a` sends a numbered frame to `to` every 10 ms; `b` records what arrives. */
function flow(a: TcpTransport, b: TcpTransport, to: string): Flow {
  const arrivals: { seq: number; at: number }[] = [];
  b.onFrame((_from, f) => arrivals.push({ seq: seqOf(f), at: performance.now() }));
  let seq = 0;
  timers.push(setInterval(() => a.send(to, frame(seq++)), 10));
  return { arrivals, next: () => seq };
}

/** Cut for `cutMs`, heal, and measure: cut → stall detected, heal → first frame sent after it delivered. */
async function cutAndHeal(
  t: TestContext,
  a: TcpTransport,
  proxy: BlackholeProxy,
  f: Flow,
  cutMs: number,
): Promise<{ detectMs: number; healToDeliveryMs: number }> {
  const detectedBefore = detected(a);
  proxy.cut();
  const cutAt = performance.now();
  let detectMs = Infinity;
  while (performance.now() - cutAt < cutMs) {
    if (detectMs === Infinity && detected(a) > detectedBefore) detectMs = performance.now() - cutAt;
    await sleep(5);
  }
  proxy.heal();
  const healAt = performance.now();
  const firstAfterHeal = f.next();
  await waitFor(() => f.arrivals.some((x) => x.seq >= firstAfterHeal), 'a frame sent after the heal', 15_000);
  const healToDeliveryMs = f.arrivals.find((x) => x.seq >= firstAfterHeal)!.at - healAt;
  t.diagnostic(
    `cut ${cutMs} ms: cut -> stall detected ${detectMs.toFixed(0)} ms; heal -> first frame sent after it delivered ${healToDeliveryMs.toFixed(0)} ms`,
  );
  return { detectMs, healToDeliveryMs };
}

describe('TcpTransport across a cut that heals', () => {
  it('replaces a connection stalled by a cut and delivers frames sent after the heal within 1 s', async (t) => {
    const b = await start('b');
    const proxy = await BlackholeProxy.start(portOf(b.localId));
    proxies.push(proxy);
    const a = await start('a');
    const f = flow(a, b, `127.0.0.1:${proxy.port}`);
    await waitFor(() => f.arrivals.length >= 20, 'frames through the proxy');

    // 3.2 s: the stalled stream's retransmissions go at 0.2, 0.6, 1.4, 3.0 and 6.2 s, so TCP alone
    // would deliver about 3 s after the heal.
    const { detectMs, healToDeliveryMs } = await cutAndHeal(t, a, proxy, f, 3200);
    assert.ok(healToDeliveryMs < 1000, `heal -> delivery took ${healToDeliveryMs.toFixed(0)} ms`);
    assert.ok(detectMs < 1000, `the stall was detected ${detectMs.toFixed(0)} ms after the cut`);
    assert.equal(replaced(a), 1, 'the stalled connection was replaced once the path worked');

    // Whatever the cut lost, what arrives is in order and never twice.
    const seqs = f.arrivals.map((x) => x.seq);
    assert.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
      'arrivals strictly increasing',
    );
    assert.equal(a.stats().openOutbound, 1);
  });

  it('recovers the same way after flapping: three short cuts, then a longer one', async (t) => {
    const b = await start('b');
    const proxy = await BlackholeProxy.start(portOf(b.localId));
    proxies.push(proxy);
    const a = await start('a');
    const f = flow(a, b, `127.0.0.1:${proxy.port}`);
    await waitFor(() => f.arrivals.length >= 20, 'frames through the proxy');
    for (const cutMs of [900, 1500, 700, 3200]) {
      const { healToDeliveryMs } = await cutAndHeal(t, a, proxy, f, cutMs);
      assert.ok(healToDeliveryMs < 1000, `after a ${cutMs} ms cut, heal -> delivery took ${healToDeliveryMs.toFixed(0)} ms`);
    }
    assert.ok(replaced(a) >= 1, 'the stalled connection was replaced');
  });
});
