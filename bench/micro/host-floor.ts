// What this machine allows before any protocol runs: the floors under three of issue 10's figures,
// measured with plain Node sockets in the same minutes as a Horus run, so that a figure is read
// against the host and not only against its aim. Prints one JSON object.
//
// - mesh: `members` processes, full TCP mesh on loopback. The saturated rate (closed loop, one
//   pre-built batch, as ../shared/peers/limit/mesh.mjs), then for each load fraction an open loop
//   at that fraction of it (a write per peer each 1 ms tick) and the send-to-receive latency; beside
//   it each process's CPU run and run-queue wait per second (/proc/self/schedstat). The floor under
//   "p99 under 5 ms at half load".
// - state: `stateMiB` MiB from another process over one loopback connection, received (a) copied
//   into one fresh buffer, as a joiner without a streaming receiver keeps it, (b) kept as the
//   socket's own reads, as a streaming receiver may. The floor under "100 MB state transfer at
//   200 MB/s".
// - memory: the cost of touching fresh memory for the first time against the second (page faults;
//   on a guest whose faults are costly, the largest term in (a)).
// - idle: `idleMembers` processes in a full mesh with a large group's idle traffic as FD relays it
//   (a 100 ms tick; each 300 ms round every member beats the next relay and the relay whose turn it
//   is sends its table to all), and each one's CPU by role. The floor under "each member's idle CPU
//   under 1% at 64 processes". Not in the default set (64 processes for about 40 s).
//
//   npx tsx bench/micro/host-floor.ts [--only mesh,state,memory,idle] [--members 3] [--size 1024]
//     [--fractions 0.25,0.5] [--seconds 5] [--state-mib 100] [--runs 3] [--idle-members 64] [--relays 3]
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { forkWorker } from '../lib/ipc.js';
import type { FloorCommand, FloorReply } from '../lib/host-floor-child.js';
import { cpuSecondsOf } from '../lib/proc-cpu.js';
import { MiB, median, percentile, round } from '../lib/stats.js';

const CHILD = fileURLToPath(new URL('../lib/host-floor-child.ts', import.meta.url));

export type FloorKind = 'mesh' | 'state' | 'memory' | 'idle';

export interface HostFloorOptions {
  only: ReadonlySet<FloorKind>;
  members: number;
  size: number;
  fractions: readonly number[];
  seconds: number;
  stateMiB: number;
  runs: number;
  /** idle: processes, and how many of them relay. */
  idleMembers: number;
  relays: number;
}

export interface MeshLoad {
  fraction: number;
  offeredPerMember: number;
  deliveredPerMember: number[];
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
  /** Per process: CPU it ran, and waited in the run queue, per second of the phase (ms); null without schedstat. */
  runMsPerSec: (number | null)[];
  waitMsPerSec: (number | null)[];
}

export interface HostFloor {
  machine: { cpus: number; loadAvg1: number; node: string };
  mesh?: { members: number; size: number; saturatedPerMember: number; loads: MeshLoad[] };
  state?: { bytes: number; copyIntoFreshMBps: number[]; keepReadsMBps: number[]; copyCpuMsPerMB: number[]; keepCpuMsPerMB: number[] };
  memory?: { bytes: number; firstTouchMsPerMB: number; secondTouchMsPerMB: number };
  idle?: { members: number; relays: number; seconds: number; coordinatorPct: number; relaysPct: number[]; othersMedianPct: number; othersMaxPct: number };
}

/** One command to a child, its one reply (a failed reply throws). */
function ask<R extends FloorReply>(child: ChildProcess, cmd: FloorCommand): Promise<R> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`host-floor child exited (${code}) during ${cmd.cmd}`));
    child.once('exit', onExit);
    child.once('message', (r: FloorReply) => {
      child.off('exit', onExit);
      if (!r.ok) reject(new Error(`host-floor child: ${cmd.cmd}: ${r.error}`));
      else resolve(r as R);
    });
    child.send(cmd);
  });
}

async function meshFloor(o: HostFloorOptions): Promise<NonNullable<HostFloor['mesh']>> {
  const kids = Array.from({ length: o.members }, () => forkWorker(CHILD));
  try {
    const ports = await Promise.all(kids.map(async (k) => (await ask<{ ok: true; port: number }>(k, { cmd: 'listen', frameBytes: o.size })).port));
    await Promise.all(kids.map((k, i) => ask(k, { cmd: 'dial', ports: ports.filter((_, j) => j !== i) })));
    const all = <R extends FloorReply>(cmd: FloorCommand): Promise<R[]> => Promise.all(kids.map((k) => ask<R>(k, cmd)));
    type Rate = { ok: true; deliveredPerSec: number };
    await all<Rate>({ cmd: 'saturate', seconds: Math.max(0.2, o.seconds * 0.4) }); // warm-up
    const sat = median((await all<Rate>({ cmd: 'saturate', seconds: Math.max(0.3, o.seconds * 0.6) })).map((r) => r.deliveredPerSec));
    const loads: MeshLoad[] = [];
    for (const fraction of o.fractions) {
      const perPeerPerSec = (sat * fraction) / (o.members - 1);
      type Loaded = Extract<FloorReply, { latencyMs: number[] }>;
      const rs = await all<Loaded>({ cmd: 'load', seconds: o.seconds, perPeerPerSec });
      const lat = rs.flatMap((r) => r.latencyMs);
      loads.push({
        fraction,
        offeredPerMember: Math.round(perPeerPerSec * (o.members - 1)),
        deliveredPerMember: rs.map((r) => Math.round(r.deliveredPerSec)),
        p50Ms: round(percentile(lat, 50), 3),
        p90Ms: round(percentile(lat, 90), 3),
        p99Ms: round(percentile(lat, 99), 3),
        maxMs: round(
          lat.reduce((a, b) => Math.max(a, b), 0),
          3,
        ),
        samples: lat.length,
        runMsPerSec: rs.map((r) => r.runMsPerSec),
        waitMsPerSec: rs.map((r) => r.waitMsPerSec),
      });
    }
    return { members: o.members, size: o.size, saturatedPerMember: Math.round(sat), loads };
  } finally {
    for (const k of kids) k.kill();
  }
}

/** Receive `bytes` once from the server at `port`; `keep`: hold the reads, else copy them into one fresh buffer. */
async function receiveOnce(port: number, bytes: number, keep: boolean): Promise<{ mbps: number; cpuMsPerMB: number }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const dest = keep ? null : Buffer.allocUnsafe(bytes);
  const kept: Buffer[] = [];
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    // The server gone mid-transfer: say so rather than wait for ever.
    sock.once('close', () => {
      if (got < bytes) reject(new Error(`state stream closed after ${got} of ${bytes} bytes`));
    });
    sock.on('data', (d: Buffer) => {
      if (dest) d.copy(dest, got);
      else kept.push(d);
      got += d.length;
      if (got >= bytes) resolve();
    });
    sock.write('s');
  });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  sock.destroy();
  const mb = bytes / 1e6;
  return { mbps: round(mb / (ms / 1000), 1), cpuMsPerMB: round((cpu.user + cpu.system) / 1000 / mb, 2) };
}

async function stateFloor(o: HostFloorOptions): Promise<NonNullable<HostFloor['state']>> {
  const bytes = Math.round(o.stateMiB * MiB);
  const server = forkWorker(CHILD);
  try {
    const { port } = await ask<{ ok: true; port: number }>(server, { cmd: 'serve-state', bytes, chunk: 60 * 1024 });
    const out = { bytes, copyIntoFreshMBps: [] as number[], keepReadsMBps: [] as number[], copyCpuMsPerMB: [] as number[], keepCpuMsPerMB: [] as number[] };
    for (let r = 0; r < o.runs; r++) {
      const c = await receiveOnce(port, bytes, false);
      out.copyIntoFreshMBps.push(c.mbps);
      out.copyCpuMsPerMB.push(c.cpuMsPerMB);
      const k = await receiveOnce(port, bytes, true);
      out.keepReadsMBps.push(k.mbps);
      out.keepCpuMsPerMB.push(k.cpuMsPerMB);
    }
    return out;
  } finally {
    server.kill();
  }
}

function memoryFloor(o: HostFloorOptions): NonNullable<HostFloor['memory']> {
  const bytes = Math.round(o.stateMiB * MiB);
  const piece = Buffer.alloc(60 * 1024, 7);
  const fill = (b: Buffer): number => {
    const t = performance.now();
    for (let off = 0; off < b.length; off += piece.length) piece.copy(b, off, 0, Math.min(piece.length, b.length - off));
    return performance.now() - t;
  };
  const b = Buffer.allocUnsafe(bytes);
  const first = fill(b);
  const second = fill(b);
  const mb = bytes / 1e6;
  return { bytes, firstTouchMsPerMB: round(first / mb, 3), secondTouchMsPerMB: round(second / mb, 3) };
}

async function idleFloor(o: HostFloorOptions): Promise<NonNullable<HostFloor['idle']>> {
  const n = o.idleMembers;
  const kids = Array.from({ length: n }, () => forkWorker(CHILD));
  try {
    const ports = await Promise.all(kids.map(async (k) => (await ask<{ ok: true; port: number }>(k, { cmd: 'listen', frameBytes: 64 })).port));
    // One process at a time dials its peers: 64 processes dialling 63 each at once overflow the accept queues.
    for (const [i, k] of kids.entries()) await ask(k, { cmd: 'dial', ports: ports.filter((_, j) => j !== i) });
    await Promise.all(kids.map((k, index) => ask(k, { cmd: 'idle', index, members: n, relays: o.relays, tickMs: 100, roundTicks: 3 })));
    const settle = o.seconds * 2;
    const window = o.seconds * 4;
    await new Promise((r) => setTimeout(r, settle * 1000));
    const before = kids.map((k) => cpuSecondsOf(k.pid) ?? NaN);
    await new Promise((r) => setTimeout(r, window * 1000));
    const pct = kids.map((k, i) => (100 * ((cpuSecondsOf(k.pid) ?? NaN) - before[i]!)) / window); // % of a core
    const others = pct.slice(1 + o.relays);
    return {
      members: n,
      relays: o.relays,
      seconds: window,
      coordinatorPct: round(pct[0]!),
      relaysPct: pct.slice(1, 1 + o.relays).map((x) => round(x)),
      othersMedianPct: round(median(others)),
      othersMaxPct: round(others.reduce((a, b) => Math.max(a, b), 0)),
    };
  } finally {
    for (const k of kids) k.kill();
  }
}

export async function runHostFloor(o: HostFloorOptions): Promise<HostFloor> {
  if (o.members < 2) throw new Error('--members must be at least 2');
  if (o.size < 8) throw new Error('--size must be at least 8 (a frame carries its send time)');
  const out: HostFloor = { machine: { cpus: os.cpus().length, loadAvg1: round(os.loadavg()[0] ?? 0), node: process.version } };
  if (o.only.has('memory')) out.memory = memoryFloor(o);
  if (o.only.has('state')) out.state = await stateFloor(o);
  if (o.only.has('mesh')) out.mesh = await meshFloor(o);
  if (o.only.has('idle')) {
    if (o.relays < 1 || o.relays + 1 >= o.idleMembers) throw new Error('--relays must be at least 1 and leave members that are not relays');
    out.idle = await idleFloor(o);
  }
  return out;
}

/** The command line's options; Error naming the bad one. */
export function parseHostFloorArgs(argv: readonly string[]): HostFloorOptions {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, dflt: number): number => {
    const v = get(name);
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not ${v}`);
    return n;
  };
  const only = new Set((get('only') ?? 'mesh,state,memory').split(','));
  for (const s of only)
    if (s !== 'mesh' && s !== 'state' && s !== 'memory' && s !== 'idle') throw new Error(`--only takes mesh, state, memory, idle; not ${s}`);
  const fractions = (get('fractions') ?? '0.25,0.5').split(',').map(Number);
  if (fractions.some((f) => !(f > 0 && f <= 1))) throw new Error('--fractions are between 0 and 1');
  return {
    only: only as Set<FloorKind>,
    members: Math.round(num('members', 3)),
    size: Math.round(num('size', 1024)),
    fractions,
    seconds: num('seconds', 5),
    stateMiB: num('state-mib', 100),
    runs: Math.round(num('runs', 3)),
    idleMembers: Math.round(num('idle-members', 64)),
    relays: Math.round(num('relays', 3)),
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runHostFloor(parseHostFloorArgs(process.argv.slice(2))).then(
    (r) => {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`host-floor: ${(err as Error).message}\n`);
      process.exit(2);
    },
  );
}
