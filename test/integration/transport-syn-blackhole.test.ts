// A dial into a blackhole: its SYN gets no answer, and the kernel retransmits it only 1 s, then 3 s,
// later. The transport starts a fresh dial beside it every redialIntervalMs, so once the path is back
// a SYN goes out within that, not at the kernel's next retransmission. The blackhole on loopback: a
// listener in a child process that is stopped (SIGSTOP) with its accept queue full, so the kernel
// drops new SYNs; SIGCONT heals it. The listener forwards what it accepts to the real peer.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { endpointOf, parseEndpoint, type NodeId } from '../../src/core/node-id.js';
import { TcpTransport, type TcpTransportOptions } from '../../src/transport/tcp-transport.js';

const GATE = `
const net = require('node:net');
const target = Number(process.argv[1]);
const open = new Set();
const srv = net.createServer((c) => {
  console.log('accepted');
  const u = net.connect({ port: target, host: '127.0.0.1' });
  for (const s of [c, u]) s.on('error', () => {});
  c.pipe(u);
  u.pipe(c);
  const pair = { c, u };
  open.add(pair);
  c.on('close', () => { open.delete(pair); u.destroy(); });
  u.on('close', () => { open.delete(pair); c.destroy(); });
});
// "silence" on stdin: the connections open now carry nothing more, ever, and are never closed (a cut
// that outlives them); without it, what they buffered while stopped would flow again at the heal.
process.stdin.on('data', () => {
  for (const { c, u } of open) {
    c.unpipe(u); u.unpipe(c); c.pause(); u.pause();
  }
  console.log('silenced');
});
srv.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(srv.address().port));
`;

const transports: TcpTransport[] = [];
const children: ChildProcess[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

const portOf = (id: NodeId): number => parseEndpoint(endpointOf(id)).port;

async function start(incarnation: string, extra: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', incarnation, ...extra });
  transports.push(t);
  return t;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * A forwarder to `targetPort` in a child process; `cut()` makes it drop SYNs, `heal()` undoes that.
 * `cut({ forever: true })` also silences the connections open at the cut for good, so that only a new
 * connection carries anything after the heal.
 */
async function synGate(targetPort: number): Promise<{ port: number; cut(o?: { forever: boolean }): Promise<void>; heal(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', GATE, String(targetPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: { line: string; resolve: () => void }[] = [];
  lines.on('line', (line) => {
    const i = waiting.findIndex((w) => w.line === line);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve();
  });
  const nextLine = (line: string): Promise<void> => new Promise((resolve) => waiting.push({ line, resolve }));
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve(Number(line)));
    child.once('exit', () => reject(new Error('the gate process exited')));
  });
  const fillers: net.Socket[] = [];
  return {
    port,
    async cut(o = { forever: false }) {
      if (o.forever) {
        const silenced = nextLine('silenced');
        child.stdin!.write('silence\n');
        await silenced;
      }
      process.kill(child.pid!, 'SIGSTOP');
      // Fill the accept queue (backlog 1 holds two): from now on the kernel drops SYNs.
      for (let i = 0; i < 2; i++) {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.on('error', () => {});
        sockets.push(s);
        fillers.push(s);
        await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      }
      const probe = net.connect({ port, host: '127.0.0.1' });
      probe.on('error', () => {});
      sockets.push(probe);
      await sleep(200);
      assert.ok(probe.connecting, 'the gate drops SYNs while stopped');
      probe.destroy();
    },
    async heal() {
      // The heal is done once the gate has accepted the fillers: until then its queue still drops SYNs
      // (on a loaded machine the resumed process may take a while to run).
      const drained = Promise.all([nextLine('accepted'), nextLine('accepted')]);
      for (const s of fillers.splice(0)) s.destroy();
      process.kill(child.pid!, 'SIGCONT');
      await drained;
    },
  };
}

/** Dials through a cut gate for 2.1 s, heals, and returns heal -> the frame delivered (ms). */
async function dialThroughBlackhole(extra: Partial<TcpTransportOptions>): Promise<{ ms: number; a: TcpTransport }> {
  const b = await start('b');
  const gate = await synGate(portOf(b.localId));
  const a = await start('a', extra);
  let got = 0;
  b.onFrame(() => got++);
  await gate.cut();
  a.send(`127.0.0.1:${gate.port}`, Buffer.from('hello through the gate'));
  await sleep(2100);
  await gate.heal();
  const healAt = performance.now();
  await waitFor(() => got === 1, 'the frame after the heal');
  return { ms: performance.now() - healAt, a };
}

describe('TcpTransport dialing into a blackhole', () => {
  it('starts fresh dials beside one whose SYN is unanswered, and connects soon after the heal', async (t) => {
    const { ms, a } = await dialThroughBlackhole({}); // defaults: a dial beside every 250 ms, each given up after 1000 ms
    t.diagnostic(`heal -> delivery ${ms.toFixed(0)} ms; dials given up during the 2.1 s cut: ${a.stats().connectTimeouts}`);
    assert.ok(ms < 500, `delivered ${ms.toFixed(0)} ms after the heal`);
    // Dials began every 250 ms, at most four at once: those begun in the first 1.1 s were given up.
    const given = a.stats().connectTimeouts;
    assert.ok(given >= 3 && given <= 6, `${given} dials given up`);
    assert.equal(a.stats().connectFailures, 0, 'the chain of dials never failed as a whole');
  });

  it('starts a fresh dial when the peer reaches us while our dial is lost in the cut', async (t) => {
    const b = await start('b');
    const gate = await synGate(portOf(b.localId));
    // One dial at a time: the contact alone must start the fresh dial (else one beside it would, within 250 ms).
    // A long connect timeout keeps that dial waiting on its SYN (not in a back-off) until the contact.
    const a = await start('a', { redialIntervalMs: 0, connectTimeoutMs: 5000 });
    const got: number[] = [];
    b.onFrame((from, f) => {
      if (from === a.localId) got.push(f[0]!);
    });
    const to = `127.0.0.1:${gate.port}`; // a dials b through the gate; b dials a directly
    a.send(to, Buffer.of(0));
    await waitFor(() => got.length === 1, 'first frame');
    await sleep(1100); // a healthy connection
    await gate.cut({ forever: true }); // the old connection never answers again: only a new dial can carry frame 1
    await waitFor(() => a.stats().stallsDetected === 1, 'the stall detected', 3000);
    const dialAt = performance.now(); // the replacement dial began with the stall
    a.send(to, Buffer.of(1)); // queued: the new dial's SYN is dropped
    await sleep(300); // a contact restarts a dial no sooner than 250 ms after it began
    await gate.heal(); // that SYN would go again 1 s after the dial began
    const healAt = performance.now();
    b.send(a.localId, Buffer.of(2)); // b reaches a
    if (healAt - dialAt > 700) {
      // A starved machine: the kernel's own SYN retransmission may now win the race, so the test proves nothing.
      t.skip(`the heal came ${(healAt - dialAt).toFixed(0)} ms after the dial began (machine starved)`);
      return;
    }
    await waitFor(() => got.length === 2, "a's frame after the heal");
    const ms = performance.now() - healAt;
    t.diagnostic(
      `heal -> delivery ${ms.toFixed(0)} ms; heal ${(healAt - dialAt).toFixed(0)} ms after the dial; dials restarted on contact: ${a.stats().redialsOnContact}`,
    );
    assert.ok(ms < 300, `a's frame arrived ${ms.toFixed(0)} ms after the heal`);
    assert.equal(got[1], 1);
    assert.equal(a.stats().redialsOnContact, 1);
  });

  it('with one dial at a time, the frame waits for the next dial (the comparison)', async (t) => {
    const { ms } = await dialThroughBlackhole({ redialIntervalMs: 0 });
    t.diagnostic(`one dial at a time: heal -> delivery ${ms.toFixed(0)} ms`);
    // Dials at 0, 1000, 2000 ms: the heal at 2100 waits for the one at 3000.
    assert.ok(ms > 500, `delivered ${ms.toFixed(0)} ms after the heal`);
  });
});
