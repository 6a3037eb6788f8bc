// The transport's peer events for fast crash detection: a connection the peer closes is 'closed' (a
// hint) and redialled at once; a refused dial, or one answered by a new incarnation, makes the old
// process 'gone'; a peer that only reset its connections and answers again is never gone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PeerEvent } from '../../../src/core/env.js';
import { endpointOf, parseEndpoint, type NodeId } from '../../../src/core/node-id.js';
import { TcpTransport, type TcpTransportOptions } from '../../../src/transport/tcp-transport.js';

const transports: TcpTransport[] = [];

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

async function start(incarnation: string, extra: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation, ...extra });
  transports.push(t);
  return t;
}

const portOf = (id: NodeId): number => parseEndpoint(endpointOf(id)).port;

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** `a` sends to `b` every 20 ms (as heartbeats do) until the returned stop is called. */
function chatter(a: TcpTransport, to: () => string): () => void {
  const t = setInterval(() => a.send(to(), Buffer.from('beat')), 20);
  return () => clearInterval(t);
}

/** Long enough for a connection to count as healthy (heard from for a second after opening). */
const HEALTHY_MS = 1300;

describe('TcpTransport peer events (fast crash detection)', () => {
  it('a peer whose process ends: closed at once, then gone (its port refuses), well before any back-off or timeout', async () => {
    const a = await start('a');
    const b = await start('b');
    const events: PeerEvent[] = [];
    a.watchPeers((ev) => events.push(ev));
    const stop = chatter(a, () => b.localId);
    try {
      await waitFor(() => events.some((e) => e.type === 'connected'), 'connected');
      await sleep(HEALTHY_MS);
      const t0 = performance.now();
      await b.close(); // its connections end and nothing listens on its port any more
      await waitFor(() => events.some((e) => e.type === 'gone'), 'gone');
      const took = performance.now() - t0;
      assert.deepEqual(
        events.filter((e) => e.type === 'closed' || e.type === 'gone'),
        [
          { type: 'closed', peer: b.localId },
          { type: 'gone', peer: b.localId, why: 'refused' },
        ],
      );
      assert.ok(a.stats().probes >= 1, 'the closed connection was redialled at once');
      assert.equal(a.stats().goneRefused, 1);
      assert.ok(took < 2000, `gone after ${Math.round(took)} ms`);
    } finally {
      stop();
    }
  });

  it('a new incarnation answering on the port makes the old one gone (replaced), reported once', async () => {
    const a = await start('a');
    const b1 = await start('b1');
    const port = portOf(b1.localId);
    const events: PeerEvent[] = [];
    a.watchPeers((ev) => events.push(ev));
    let target = b1.localId;
    const stop = chatter(a, () => target);
    try {
      await waitFor(() => events.some((e) => e.type === 'connected'), 'connected');
      await b1.close();
      const b2 = await start('b2', { listen: `127.0.0.1:${port}` });
      target = endpointOf(b2.localId);
      await waitFor(() => events.some((e) => e.type === 'connected' && e.peer === b2.localId), 'connected to b2');
      const gone = events.filter((e) => e.type === 'gone');
      assert.equal(gone.length, 1, JSON.stringify(events));
      assert.equal(gone[0]!.peer, b1.localId);
      assert.equal(
        events.some((e) => e.type === 'gone' && e.peer === b2.localId),
        false,
      );
    } finally {
      stop();
    }
  });

  it('a peer that only reset its connections and answers again is closed, never gone', async () => {
    const a = await start('a');
    const b = await start('b');
    const events: PeerEvent[] = [];
    a.watchPeers((ev) => events.push(ev));
    const stopAB = chatter(a, () => b.localId);
    const stopBA = chatter(b, () => a.localId);
    try {
      await waitFor(() => events.some((e) => e.type === 'connected'), 'connected');
      await sleep(HEALTHY_MS);
      // b resets every connection it holds (as `ss -K` or a middlebox would), and keeps running.
      const inner = b as unknown as { inbound: Map<net.Socket, unknown>; peers: Map<string, { socket: net.Socket | null }> };
      for (const s of inner.inbound.keys()) s.resetAndDestroy();
      for (const p of inner.peers.values()) p.socket?.resetAndDestroy();
      await waitFor(() => events.filter((e) => e.type === 'connected').length >= 2, 'reconnected to the same incarnation');
      await sleep(300);
      assert.ok(events.some((e) => e.type === 'closed' && e.peer === b.localId));
      assert.equal(
        events.some((e) => e.type === 'gone'),
        false,
        JSON.stringify(events),
      );
      assert.ok(events.filter((e) => e.type === 'connected').every((e) => e.peer === b.localId));
    } finally {
      stopAB();
      stopBA();
    }
  });

  it('an unwatched handler hears nothing more; the node’s own onPeer handler is kept apart', async () => {
    const a = await start('a');
    const b = await start('b');
    const watched: PeerEvent[] = [];
    const own: PeerEvent[] = [];
    a.onPeer((ev) => own.push(ev));
    const off = a.watchPeers((ev) => watched.push(ev));
    a.send(b.localId, Buffer.from('x'));
    await waitFor(() => watched.length === 1 && own.length === 1, 'connected, to both');
    off();
    await b.close();
    await waitFor(() => own.some((e) => e.type === 'disconnected'), 'disconnected');
    assert.equal(watched.length, 1);
  });

  it('a dial refused after the connection went silent (a cut, a firewall that rejects) is no proof: not gone', async () => {
    // b in a child process: stopped, its connection to us goes silent (no FIN), as behind a firewall
    // that drops or rejects; killed while stopped, its port then refuses our dials. A refusal that no
    // close from the peer came before proves nothing (a rejecting firewall refuses too): no 'gone'.
    const transportUrl = new URL('../../../src/transport/tcp-transport.ts', import.meta.url).href;
    const code = `const { TcpTransport } = await import(${JSON.stringify(transportUrl)});
      const t = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation: 'b' });
      t.onFrame(() => {});
      console.log(t.localId);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const bId = await new Promise<NodeId>((resolve, reject) => {
        child.stdout!.once('data', (d: Buffer) => resolve(String(d).trim() as NodeId));
        child.once('exit', () => reject(new Error('b exited')));
      });
      const a = await start('a');
      const events: PeerEvent[] = [];
      a.watchPeers((ev) => events.push(ev));
      const stop = chatter(a, () => bId);
      try {
        await waitFor(() => events.some((e) => e.type === 'connected'), 'connected');
        await sleep(HEALTHY_MS);
        process.kill(child.pid!, 'SIGSTOP');
        await waitFor(() => a.stats().stallsDetected >= 1, 'the stall detected');
        process.kill(child.pid!, 'SIGKILL');
        await waitFor(() => a.stats().connectFailures >= 2, 'dials refused');
        assert.equal(
          events.some((e) => e.type === 'gone'),
          false,
          JSON.stringify(events),
        );
        assert.equal(a.stats().goneRefused, 0);
      } finally {
        stop();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});
