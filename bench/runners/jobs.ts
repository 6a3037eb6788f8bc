// The resource manager's recovery time: `members` `horus jobs serve` processes on loopback run one
// job (a bash loop that appends `start <µs since the epoch> <token>` to a file when it starts); the
// member running it is killed with kill -9, `kills` times (a fresh member joins after each). One
// sample per kill: the kill to the job's next start line, both on the wall clock.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createNode } from '../../src/api/create-node.js';
import { horusCommand, pickFreePorts } from '../../src/cli/spawn.js';
import { pinoLogger } from '../../src/obs/pino-logger.js';
import type { JobInfo } from '../../src/services/jobs/job-info.js';
import type { JobsFailoverCase } from '../cases.js';
import type { JobsFailoverResult } from '../lib/results.js';
import { median, round } from '../lib/stats.js';
import { sleep, waitUntil } from '../lib/wait.js';
import type { RunContext } from './context.js';

const TIMEOUT_MS = 60_000;
const JOB = 'echo "start ${EPOCHREALTIME//[.,]/} $HORUS_JOB_TOKEN" >> "$1"; exec sleep 100000';

interface Serve {
  endpoint: string;
  proc: ChildProcess;
  lines: string[];
}

function serve(endpoint: string, seeds: string[]): Promise<Serve> {
  const { command, args } = horusCommand(['jobs', 'serve', '--listen', endpoint, ...(seeds.length ? ['--seeds', seeds.join(',')] : [])]);
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const s: Serve = { endpoint, proc, lines: [] };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jobs serve ${endpoint} did not start`)), TIMEOUT_MS);
    proc.once('exit', (code) => reject(new Error(`jobs serve ${endpoint} exited (${code})`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      s.lines.push(line);
      if (line.startsWith('horus jobs serve ')) {
        clearTimeout(timer);
        resolve(s);
      }
    });
  });
}

function starts(file: string): { at: number; token: string }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('start '))
    .map((l) => {
      const [, us, token] = l.split(' ');
      return { at: Number(us) / 1000, token: token! };
    });
}

export async function runJobsFailover(c: JobsFailoverCase, ctx: RunContext): Promise<JobsFailoverResult> {
  const kills = Math.max(1, Math.round(c.kills * Math.min(1, ctx.scale)));
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'horus-bench-jobs-'));
  const log = join(dir, 'job.log');
  const ports = await pickFreePorts(c.members + kills);
  const eps = ports.map((p) => `127.0.0.1:${p}`);
  const serves: Serve[] = [];
  const outside = await createNode({ listen: '127.0.0.1:0', seeds: eps.slice(0, c.members), logger: pinoLogger({ level: 'silent' }) });
  try {
    serves.push(await serve(eps[0]!, []));
    serves.push(...(await Promise.all(eps.slice(1, c.members).map((ep) => serve(ep, [eps[0]!])))));
    ctx.log(`${c.id}: ${c.members} members up after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const client = await outside.client('jobs', { timeoutMs: 10_000 });
    try {
      await waitUntil(async () => ((await client.request({ op: 'list' }).catch(() => null)) as unknown[] | null) !== null, {
        timeoutMs: TIMEOUT_MS,
        what: 'the jobs group answers',
      });
      // Every member offers resources before the job goes out (so each kill leaves a match).
      await sleep(1000);
      const job = (await client.request({
        op: 'submit',
        job: { run: { kind: 'command', argv: ['bash', '-c', JOB, 'job', log] }, restart: 'always' },
      })) as JobInfo;
      const samples: number[] = [];
      for (let k = 0; k < kills; k++) {
        await waitUntil(() => starts(log).length === k + 1, { timeoutMs: TIMEOUT_MS, what: `run ${k + 1} of ${job.id}` });
        const token = starts(log)[k]!.token;
        const victim = serves.find((s) => s.proc.exitCode === null && s.lines.includes(`started ${job.id} (token ${token})`));
        if (!victim) throw new Error(`no member says it started ${job.id} with token ${token}`);
        await sleep(300);
        const killedAt = Date.now();
        victim.proc.kill('SIGKILL');
        await waitUntil(() => starts(log).length === k + 2, { timeoutMs: TIMEOUT_MS, what: `${job.id} running again after kill ${k + 1}` });
        samples.push(starts(log)[k + 1]!.at - killedAt);
        ctx.log(`${c.id}: kill ${k + 1}: running again after ${Math.round(samples.at(-1)!)} ms`);
        // Keep `members` members: a fresh one joins before the next kill.
        serves.push(
          await serve(
            eps[c.members + k]!,
            serves.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null).map((s) => s.endpoint),
          ),
        );
        await sleep(1000);
      }
      return {
        kind: 'jobs-failover',
        id: c.id,
        op: c.op,
        members: c.members,
        kills,
        samplesMs: samples.map((s) => round(s, 1)),
        medianMs: round(median(samples), 1),
        maxMs: round(Math.max(...samples), 1),
        durationS: round((performance.now() - t0) / 1000, 1),
      };
    } finally {
      client.close();
    }
  } finally {
    await outside.close();
    for (const s of serves) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
    await sleep(500);
    rmSync(dir, { recursive: true, force: true });
  }
}
