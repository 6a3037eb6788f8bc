// Light-weight groups (issue 15 item 1): `members` processes share one heavy-weight group; each
// joins `groups` light-weight groups at once (LightweightGroups.joinMany). Measures the time until
// every process has every group with all members in its view, the heap each idle group costs per
// process (the directory entry, the handle, its view), and each process's idle CPU with the groups
// joined. Aims: 10,000 groups x 3 nodes joined in under 10 s, under 2 KiB per idle group, idle CPU
// under 2% of a core. `npm run bench -- --filter lwg` runs it; alone: `npx tsx bench/runners/lwg.ts [--scale F]`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pickFreePorts, scriptCommand } from '../../src/cli/spawn.js';
import { CASES, type LwgCase } from '../cases.js';
import { cpuSecondsOf } from '../lib/proc-cpu.js';
import type { LwgResult } from '../lib/results.js';
import { round } from '../lib/stats.js';
import { sleep } from '../lib/wait.js';
import { scaled, type RunContext } from './context.js';

const MEMBER = fileURLToPath(new URL('./lwg-member.ts', import.meta.url));
const STEP_TIMEOUT_MS = 120_000;

interface Child {
  proc: ChildProcess;
  lines: Interface;
  next(prefix: string): Promise<string>;
}

function startChild(endpoint: string, seeds: string[]): Child {
  const { command, args } = scriptCommand(MEMBER, [endpoint, ...seeds]);
  const proc = spawn(command, ['--expose-gc', ...args], { stdio: ['pipe', 'pipe', process.env['HORUS_BENCH_DEBUG'] ? 'inherit' : 'ignore'] });
  const lines = createInterface({ input: proc.stdout! });
  const waiting: { prefix: string; resolve: (l: string) => void }[] = [];
  const early: string[] = [];
  lines.on('line', (l) => {
    const i = waiting.findIndex((w) => l.startsWith(w.prefix));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(l);
    else early.push(l);
  });
  return {
    proc,
    lines,
    next: (prefix) => {
      const j = early.findIndex((l) => l.startsWith(prefix));
      if (j >= 0) return Promise.resolve(early.splice(j, 1)[0]!);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`lwg member ${endpoint}: no "${prefix}" within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
        waiting.push({
          prefix,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        proc.once('exit', (code, signal) => reject(new Error(`lwg member ${endpoint} exited (${signal ?? code})`)));
      });
    },
  };
}

/** Each process's CPU over `ms` of idling, % of one core (null where /proc is missing). */
async function idleCpu(children: readonly Child[], ms: number): Promise<(number | null)[]> {
  const cpu0 = children.map((ch) => cpuSecondsOf(ch.proc.pid));
  const w0 = performance.now();
  await sleep(ms);
  const secs = (performance.now() - w0) / 1000;
  return children.map((ch, i) => {
    const a = cpu0[i];
    const b = cpuSecondsOf(ch.proc.pid);
    return a === null || a === undefined || b === null ? null : round(((b - a) / secs) * 100, 2);
  });
}

export async function runLwg(c: LwgCase, ctx: Pick<RunContext, 'scale' | 'log'>): Promise<LwgResult> {
  const t0 = performance.now();
  const groups = scaled(c.groups, ctx.scale, 10);
  const endpoints = (await pickFreePorts(c.members)).map((p) => `127.0.0.1:${p}`);
  const children: Child[] = [];
  try {
    ctx.log(`lwg: starting ${c.members} member processes`);
    for (let i = 0; i < c.members; i++) {
      const child = startChild(endpoints[i]!, endpoints.slice(0, i));
      children.push(child);
      await child.next('ready');
    }
    for (const ch of children) ch.proc.stdin!.write(`members ${c.members}\n`);
    await Promise.all(children.map((ch) => ch.next('members')));
    // What each process burns idle with the heavy-weight group alone (its heartbeats, gossip): the baseline.
    const idleMs = scaled(c.idleSeconds * 1000, ctx.scale, 1000);
    ctx.log(`lwg: baseline idle CPU over ${idleMs} ms`);
    const baseline = await idleCpu(children, idleMs);
    ctx.log(`lwg: each process joins ${groups} light-weight groups`);
    for (const ch of children) ch.proc.stdin!.write(`join ${groups}\n`);
    const before = await Promise.all(children.map(async (ch) => Number((await ch.next('heap')).split(' ')[1])));
    const joinMs = await Promise.all(children.map(async (ch) => Number((await ch.next('joined')).split(' ')[1])));
    // Idle: let stragglers settle, then measure the heap and the CPU of each process.
    await sleep(1000);
    for (const ch of children) ch.proc.stdin!.write('heap\n');
    const after = await Promise.all(children.map(async (ch) => Number((await ch.next('heap')).split(' ')[1])));
    const bytesPerGroup = after.map((a, i) => (a - before[i]!) / groups);
    ctx.log(`lwg: idle CPU over ${idleMs} ms`);
    const idle = await idleCpu(children, idleMs);
    const known = idle.filter((x): x is number => x !== null);
    return {
      kind: 'lwg',
      id: c.id,
      op: c.op,
      members: c.members,
      groups,
      joinMs: round(Math.max(...joinMs), 1),
      joinMsPerProcess: joinMs.map((x) => round(x, 1)),
      bytesPerIdleGroup: Math.round(Math.max(...bytesPerGroup)),
      bytesPerIdleGroupPerProcess: bytesPerGroup.map((x) => Math.round(x)),
      idleCpuPercent: known.length > 0 ? Math.max(...known) : null,
      idleCpuPercentPerProcess: idle,
      baselineIdleCpuPercentPerProcess: baseline,
      aims: { joinMs: 10_000, bytesPerIdleGroup: 2048, idleCpuPercent: 2 },
      durationS: round((performance.now() - t0) / 1000, 1),
    };
  } finally {
    for (const ch of children) ch.proc.kill('SIGKILL');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--scale');
  const scale = i > 0 ? Number(process.argv[i + 1]) : 1;
  const c = CASES.find((x): x is LwgCase => x.kind === 'lwg')!;
  const r = await runLwg(c, { scale, log: (m) => process.stderr.write(`${m}\n`) });
  console.log(JSON.stringify(r));
}
