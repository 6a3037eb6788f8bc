// The tools' benchmark: RPC round trip to one member (p50/p99), ReplicatedMap writes/s at 3
// members, lock acquire/release pairs/s, and a client's failover time after kill -9 of the member
// it talks to (against the failure detector's suspect timeout). This process is one member (or
// the client); the others are child processes (tools-member.ts). Prints one JSON object.
// Run: npx tsx bench/runners/tools.ts [--scale 0.1]
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pickFreePorts, scriptCommand } from '../../src/cli/spawn.js';
import { createNode, LockService, ReplicatedMap, ReplicatedService } from '../../src/index.js';
import { percentile, round } from '../lib/stats.js';

const MEMBER = fileURLToPath(new URL('./tools-member.ts', import.meta.url));
/** FD's default suspect timeout (src/layers/FD.ts): the failover aim is 1.5 times it. */
const SUSPECT_TIMEOUT_MS = 1000;

interface Child {
  endpoint: string;
  id: string;
  proc: ChildProcess;
}

function startChild(endpoint: string, seeds: string[]): Promise<Child> {
  const { command, args } = scriptCommand(MEMBER, [endpoint, ...seeds]);
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', process.env.HORUS_BENCH_DEBUG ? 'inherit' : 'ignore'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${endpoint} did not start`)), 30_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /^ready (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ endpoint, id: m[1]!, proc });
      }
    });
  });
}

export interface ToolsBenchResult {
  kind: 'tools';
  rpcRoundTrip: { calls: number; p50Us: number; p99Us: number };
  mapWrites: { members: number; writes: number; perSecond: number };
  lockPairs: { members: number; pairs: number; perSecond: number };
  clientFailover: { kills: number; failoverMs: number[]; medianMs: number; suspectTimeoutMs: number; aimMs: number };
}

export async function runToolsBench(scale = 1): Promise<ToolsBenchResult> {
  const n = (x: number): number => Math.max(10, Math.round(x * scale));
  const ports = await pickFreePorts(3);
  const [me, ...others] = ports.map((p) => `127.0.0.1:${p}`) as [string, ...string[]];
  const children: Child[] = [];
  try {
    // Two children first (the first founds the groups), then this process as the third member.
    children.push(await startChild(others[0]!, []));
    children.push(await startChild(others[1]!, [others[0]!]));
    const node = await createNode({ listen: me, seeds: others });
    const rpc = await node.join('bench-rpc');
    const target = children[0]!.id;
    while (!rpc.view.members.includes(target)) await new Promise((r) => setTimeout(r, 20));
    // RPC round trip, one call at a time.
    for (let i = 0; i < 200; i++) await rpc.call(target, i);
    const rtts: number[] = [];
    for (let i = 0; i < n(5000); i++) {
      const t = process.hrtime.bigint();
      await rpc.call(target, i);
      rtts.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    // Map writes, 64 outstanding at a time.
    const map = await ReplicatedMap.join<number>(node, 'bench-map');
    const writes = n(20_000);
    let t0 = performance.now();
    for (let i = 0; i < writes; i += 64) await Promise.all(Array.from({ length: Math.min(64, writes - i) }, (_, k) => map.set(`k${(i + k) % 1000}`, i + k)));
    const mapSecs = (performance.now() - t0) / 1000;
    // Lock pairs, one after the other.
    const locks = await LockService.join(node, 'bench-locks');
    const pairs = n(2000);
    t0 = performance.now();
    for (let i = 0; i < pairs; i++) await (await locks.lock('bench')).release();
    const lockSecs = (performance.now() - t0) / 1000;
    // This process stays a member below: two of three survive each kill (a majority).
    let count = 0;
    await ReplicatedService.join(node, 'bench-service', { apply: () => ++count, snapshot: () => count, restore: (s) => void (count = s as number) });
    // Client failover: a client outside the groups; kill -9 the member it talks to, time to the next answer.
    const failoverMs: number[] = [];
    const kills = Math.max(1, Math.round(3 * Math.min(1, scale * 3)));
    const clientNode = await createNode({ listen: '127.0.0.1:0', seeds: others });
    const client = await clientNode.client('bench-service', { attemptTimeoutMs: 2 * SUSPECT_TIMEOUT_MS, timeoutMs: 30_000 });
    for (let k = 0; k < kills; k++) {
      await client.request('x');
      // The client's member must be a child (this process cannot kill itself): steer it there first.
      while (!children.some((c) => c.id === client.target)) {
        client.failover(client.target!);
        await client.request('x');
      }
      const victim = children.find((c) => c.id === client.target)!;
      const killedAt = performance.now();
      victim.proc.kill('SIGKILL');
      await client.request('x');
      failoverMs.push(round(performance.now() - killedAt, 1));
      // A fresh member takes the victim's place for the next kill.
      const ports2 = await pickFreePorts(1);
      children.splice(
        children.indexOf(victim),
        1,
        await startChild(
          `127.0.0.1:${ports2[0]}`,
          children.filter((c) => c !== victim).map((c) => c.endpoint),
        ),
      );
      await new Promise((r) => setTimeout(r, 1500));
    }
    client.close();
    await clientNode.close();
    await node.close();
    return {
      kind: 'tools',
      rpcRoundTrip: { calls: rtts.length, p50Us: round(percentile(rtts, 50), 0), p99Us: round(percentile(rtts, 99), 0) },
      mapWrites: { members: 3, writes, perSecond: Math.round(writes / mapSecs) },
      lockPairs: { members: 3, pairs, perSecond: Math.round(pairs / lockSecs) },
      clientFailover: {
        kills,
        failoverMs,
        medianMs: [...failoverMs].sort((a, b) => a - b)[Math.floor(failoverMs.length / 2)]!,
        suspectTimeoutMs: SUSPECT_TIMEOUT_MS,
        aimMs: 1.5 * SUSPECT_TIMEOUT_MS,
      },
    };
  } finally {
    for (const c of children) c.proc.kill('SIGKILL');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--scale');
  const scale = i > 0 ? Number(process.argv[i + 1]) : 1;
  console.log(JSON.stringify(await runToolsBench(scale), null, 2));
  process.exit(0);
}
