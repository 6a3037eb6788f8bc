// The tools' benchmark (issue 13): RPC round trip to one member (p50/p99, and CPU per call),
// ReplicatedMap writes/s at 3 members, lock acquire/release pairs/s, and a client's failover time
// after kill -9 of the member it talks to (against the failure detector's suspect timeout). This
// process is one member (and the client); the other two are child processes (tools-member.ts).
// `npm run bench -- --filter tools-3` runs it as a case; alone it prints one JSON object:
//   npx tsx bench/runners/tools.ts [--scale 0.2]
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pickFreePorts, scriptCommand } from '../../src/cli/spawn.js';
import { createNode, LockService, ReplicatedMap, ReplicatedService, type HorusNode } from '../../src/index.js';
import { pinoLogger } from '../../src/obs/pino-logger.js';
import { CASES, type ToolsCase } from '../cases.js';
import { cpuSecondsOf } from '../lib/proc-cpu.js';
import type { ToolsResult } from '../lib/results.js';
import { median, percentile, round } from '../lib/stats.js';
import { sleep, waitUntil, withTimeout } from '../lib/wait.js';
import { scaled, type RunContext } from './context.js';

const MEMBER = fileURLToPath(new URL('./tools-member.ts', import.meta.url));
/** FD's default suspect timeout (src/layers/FD.ts): the failover aim is 1.5 times it. */
const SUSPECT_TIMEOUT_MS = 1000;
/**
 * Calls between the cold and the warm RPC measurement. V8 optimises the call path only after thousands
 * of round trips (bench/micro/rpc-rtt.ts --window 2000 shows CPU per call falling for ~8000 calls on
 * this machine, then flat); 10,000 take 1-3 s.
 */
const RPC_WARMUP_CALLS = 10_000;
/** No phase of the case waits longer than this for one step (a start, a view, a call). */
const STEP_TIMEOUT_MS = 30_000;

/** One measurement of `rpcCalls` calls. */
interface RpcFigures {
  p50Us: number;
  p99Us: number;
  callsPerSec: number;
  callerCpuUs: number;
  calleeCpuUs: number | null;
}

interface Child {
  endpoint: string;
  id: string;
  proc: ChildProcess;
}

function startChild(endpoint: string, seeds: string[]): Promise<Child> {
  const { command, args } = scriptCommand(MEMBER, [endpoint, ...seeds]);
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', process.env['HORUS_BENCH_DEBUG'] ? 'inherit' : 'ignore'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`tools member ${endpoint} did not start within ${STEP_TIMEOUT_MS} ms`));
    }, STEP_TIMEOUT_MS);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`tools member ${endpoint} exited (${signal ?? code}) before it was ready`));
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /^ready (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ endpoint, id: m[1]!, proc });
      }
    });
  });
}

/** CPU seconds per wall second this process and `pid` use while idle, over `ms`. */
async function idleCpu(pid: number | undefined, ms: number): Promise<{ caller: number; callee: number | null }> {
  const a0 = selfCpuSeconds();
  const b0 = cpuSecondsOf(pid);
  const t0 = performance.now();
  await sleep(ms);
  const secs = (performance.now() - t0) / 1000;
  const b1 = cpuSecondsOf(pid);
  return { caller: (selfCpuSeconds() - a0) / secs, callee: b0 !== null && b1 !== null ? (b1 - b0) / secs : null };
}

const selfCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export async function runTools(c: ToolsCase, ctx: Pick<RunContext, 'scale' | 'log'>): Promise<ToolsResult> {
  const t0 = performance.now();
  const ports = await pickFreePorts(3);
  const [me, ...others] = ports.map((p) => `127.0.0.1:${p}`) as [string, ...string[]];
  const children: Child[] = [];
  const nodes: HorusNode[] = [];
  // The bench's own nodes log errors only: frames of groups not joined yet are expected at the start.
  const logger = pinoLogger({ level: 'error' });
  try {
    // Two children first (the first founds the groups), then this process as the third member.
    ctx.log('tools: starting 2 member processes');
    children.push(await startChild(others[0]!, []));
    children.push(await startChild(others[1]!, [others[0]!]));
    const node = await createNode({ listen: me, seeds: others, logger });
    nodes.push(node);
    const rpc = await withTimeout(node.join('bench-rpc'), STEP_TIMEOUT_MS, 'joining bench-rpc');
    const target = children[0]!.id;
    await waitUntil(() => rpc.view.members.includes(target), { timeoutMs: STEP_TIMEOUT_MS, what: `${target} in the view of bench-rpc`, pollMs: 20 });

    // RPC round trip, one call at a time: wall time per call, and CPU per call in both processes.
    // Measured twice: first right after the join (V8 still runs much of the path in its interpreter
    // and baseline tiers: several times the CPU per call), then after RPC_WARMUP_CALLS more calls,
    // once the path is optimised (the steady state of a process that serves calls: the headline).
    ctx.log('tools: rpc');
    for (let i = 0; i < 200; i++) await rpc.call(target, i);
    const calls = scaled(c.rpcCalls, ctx.scale, 50);
    // What both processes burn with no calls (heartbeats, gossip, the other groups of the child),
    // per second: taken off the CPU per call, which at a few hundred calls a second it would swamp.
    const idle = await idleCpu(children[0]!.proc.pid, 1000);
    const calleePid = children[0]!.proc.pid;
    const measureCalls = async (): Promise<RpcFigures> => {
      const rtts: number[] = [];
      const callerCpu0 = selfCpuSeconds();
      const calleeCpu0 = cpuSecondsOf(calleePid);
      const rpcT0 = performance.now();
      for (let i = 0; i < calls; i++) {
        const t = process.hrtime.bigint();
        await rpc.call(target, i);
        rtts.push(Number(process.hrtime.bigint() - t) / 1000);
      }
      const secs = (performance.now() - rpcT0) / 1000;
      const calleeCpu1 = cpuSecondsOf(calleePid);
      const calleeCpuUs =
        calleeCpu0 !== null && calleeCpu1 !== null && idle.callee !== null ? ((calleeCpu1 - calleeCpu0 - idle.callee * secs) * 1e6) / calls : null;
      return {
        p50Us: round(percentile(rtts, 50), 0),
        p99Us: round(percentile(rtts, 99), 0),
        callsPerSec: Math.round(calls / secs),
        callerCpuUs: round(((selfCpuSeconds() - callerCpu0 - idle.caller * secs) * 1e6) / calls, 1),
        calleeCpuUs: calleeCpuUs === null ? null : round(calleeCpuUs, 1),
      };
    };
    const cold = await measureCalls();
    const warmupCalls = scaled(RPC_WARMUP_CALLS, ctx.scale, 1000);
    for (let i = 0; i < warmupCalls; i++) await rpc.call(target, i);
    const warm = await measureCalls();

    // Map writes, 64 outstanding at a time.
    ctx.log('tools: map writes');
    const map = await withTimeout(ReplicatedMap.join<number>(node, 'bench-map'), STEP_TIMEOUT_MS, 'joining bench-map');
    const writes = scaled(c.mapWrites, ctx.scale, 64);
    let t1 = performance.now();
    for (let i = 0; i < writes; i += 64)
      await withTimeout(
        Promise.all(Array.from({ length: Math.min(64, writes - i) }, (_, k) => map.set(`k${(i + k) % 1000}`, i + k))),
        STEP_TIMEOUT_MS,
        'a batch of map writes',
      );
    const mapSecs = (performance.now() - t1) / 1000;

    // Lock pairs, one after the other.
    ctx.log('tools: lock pairs');
    const locks = await withTimeout(LockService.join(node, 'bench-locks'), STEP_TIMEOUT_MS, 'joining bench-locks');
    const pairs = scaled(c.lockPairs, ctx.scale, 20);
    t1 = performance.now();
    for (let i = 0; i < pairs; i++) await withTimeout((await locks.lock('bench', { timeoutMs: STEP_TIMEOUT_MS })).release(), STEP_TIMEOUT_MS, 'a lock release');
    const lockSecs = (performance.now() - t1) / 1000;

    // Client failover: a client outside the groups; kill -9 the member it talks to, time to the next answer.
    // This process stays a member: two of three survive each kill (a majority).
    let count = 0;
    await withTimeout(
      ReplicatedService.join(node, 'bench-service', { apply: () => ++count, snapshot: () => count, restore: (s) => void (count = s as number) }),
      STEP_TIMEOUT_MS,
      'joining bench-service',
    );
    const failoverMs: number[] = [];
    const kills = scaled(c.kills, Math.min(1, ctx.scale), 1);
    const clientNode = await createNode({ listen: '127.0.0.1:0', seeds: others, logger });
    nodes.push(clientNode);
    const client = await withTimeout(
      clientNode.client('bench-service', { attemptTimeoutMs: 2 * SUSPECT_TIMEOUT_MS, timeoutMs: STEP_TIMEOUT_MS }),
      STEP_TIMEOUT_MS,
      'the client finding bench-service',
    );
    try {
      for (let k = 0; k < kills; k++) {
        ctx.log(`tools: client failover ${k + 1}/${kills}`);
        await client.request('x');
        // The client's member must be a child (this process cannot kill itself): steer it there first.
        for (let tries = 0; !children.some((ch) => ch.id === client.target); tries++) {
          if (tries > 20) throw new Error(`the client keeps talking to ${client.target ?? 'nobody'}, not a member process`);
          client.failover(client.target!);
          await client.request('x');
        }
        const victim = children.find((ch) => ch.id === client.target)!;
        const killedAt = performance.now();
        victim.proc.kill('SIGKILL');
        await client.request('x');
        failoverMs.push(round(performance.now() - killedAt, 1));
        if (k === kills - 1) break;
        // A fresh member takes the victim's place for the next kill, and is in every view first.
        const [port] = await pickFreePorts(1);
        const fresh = await startChild(
          `127.0.0.1:${port}`,
          children.filter((ch) => ch !== victim).map((ch) => ch.endpoint),
        );
        children.splice(children.indexOf(victim), 1, fresh);
        const service = node.group('bench-service');
        await waitUntil(() => service?.view.members.length === 3 && service.view.members.includes(fresh.id), {
          timeoutMs: STEP_TIMEOUT_MS,
          what: `${fresh.id} in the view of bench-service`,
          pollMs: 20,
        });
        await sleep(200);
      }
    } finally {
      client.close();
    }
    return {
      kind: 'tools',
      id: c.id,
      op: c.op,
      members: c.members,
      rpcCalls: calls,
      rpcWarmupCalls: warmupCalls,
      rpcP50Us: warm.p50Us,
      rpcP99Us: warm.p99Us,
      rpcCallsPerSec: warm.callsPerSec,
      rpcCallerCpuUsPerCall: warm.callerCpuUs,
      rpcCalleeCpuUsPerCall: warm.calleeCpuUs,
      rpcCold: { p50Us: cold.p50Us, p99Us: cold.p99Us, callerCpuUsPerCall: cold.callerCpuUs, calleeCpuUsPerCall: cold.calleeCpuUs },
      rpcIdleCpuPercent: { caller: round(idle.caller * 100, 1), callee: idle.callee === null ? null : round(idle.callee * 100, 1) },
      mapWrites: writes,
      mapWritesPerSec: Math.round(writes / mapSecs),
      lockPairs: pairs,
      lockPairsPerSec: Math.round(pairs / lockSecs),
      kills,
      failoverSamplesMs: failoverMs,
      failoverMedianMs: median(failoverMs),
      suspectTimeoutMs: SUSPECT_TIMEOUT_MS,
      failoverAimMs: 1.5 * SUSPECT_TIMEOUT_MS,
      durationS: round((performance.now() - t0) / 1000, 1),
    };
  } finally {
    // Leave while the member processes still answer (a leave waits on its peers: with them killed
    // first, each of the four groups took a flush timeout, and the process lingered ~15 s), bounded.
    await Promise.all(nodes.map((n) => withTimeout(n.close(), 5000, 'closing a bench node').catch(() => {})));
    for (const ch of children) ch.proc.kill('SIGKILL');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--scale');
  const scale = i > 0 ? Number(process.argv[i + 1]) : 1;
  const c = CASES.find((x): x is ToolsCase => x.kind === 'tools')!;
  const r = await runTools(c, { scale, log: (m) => process.stderr.write(`${m}\n`) });
  console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
