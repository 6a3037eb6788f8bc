// The resource manager with real processes on loopback (issue #14's scenario): four `horus jobs
// serve` members; a job (a bash loop that logs start / alive / stop lines with its wall-clock time
// and fencing token) is submitted with `horus jobs submit`; its member is killed with SIGKILL. The
// job must run again on another member within 2 × the failure-detection timeout (FD's default
// suspectTimeoutMs, 1000 ms); then the member running it is paused (SIGSTOP: its job dies with its
// lease) and the job runs elsewhere again; its own log must never show two placements alive at once. Then a
// job that keeps failing is given up after its policy, and a cancelled job is stopped (SIGTERM).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { createNode } from '../../src/api/create-node.js';
import { horusCommand, pickFreePorts } from '../../src/cli/spawn.js';
import { pinoLogger } from '../../src/obs/pino-logger.js';
import type { JobInfo } from '../../src/services/jobs/job-info.js';
import { waitUntil } from '../helpers/cluster.js';

const SUSPECT_TIMEOUT_MS = 1000;

/** The job: log `start`, then `alive` every 50 ms, and `stop` on SIGTERM; each line has µs since the epoch and the token. */
const JOB = [
  'log=$1',
  't() { echo "$1 ${EPOCHREALTIME//[.,]/} $HORUS_JOB_TOKEN" >> "$log"; }',
  "trap 't stop; exit 0' TERM",
  't start',
  'while :; do t alive; sleep 0.05; done',
].join('\n');

interface Serve {
  endpoint: string;
  proc: ChildProcess;
  lines: string[];
}

const procs: ChildProcess[] = [];
const closers: (() => Promise<void>)[] = [];
const dir = mkdtempSync(join(tmpdir(), 'horus-jobs-'));
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

function serve(endpoint: string, seeds: string[]): Promise<Serve> {
  const { command, args } = horusCommand(['jobs', 'serve', '--listen', endpoint, '--labels', 'worker', ...(seeds.length ? ['--seeds', seeds.join(',')] : [])]);
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  const s: Serve = { endpoint, proc, lines: [] };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jobs serve ${endpoint} did not start within 60 s`)), 60_000);
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

function horus(args: string[]): Promise<{ code: number | null; out: string }> {
  const { command, args: a } = horusCommand(args);
  const p = spawn(command, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => p.once('exit', (code) => resolve({ code, out })));
}

interface Line {
  what: 'start' | 'alive' | 'stop';
  /** ms since the epoch. */
  at: number;
  token: string;
}

function readLog(file: string): Line[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [what, us, token] = l.split(' ');
      return { what: what as Line['what'], at: Number(us) / 1000, token: token! };
    });
}

describe('horus jobs with real processes', () => {
  it('a job whose member is killed with SIGKILL runs again elsewhere within 2 × the failure-detection timeout, and again when its next member is paused, never twice at once; a failing job is given up', async () => {
    // Four members: after one is killed and one paused, two of the three left are a majority.
    const ports = await pickFreePorts(4);
    const eps = ports.map((p) => `127.0.0.1:${p}`);
    const first = await serve(eps[0]!, []);
    const others = await Promise.all(eps.slice(1).map((ep) => serve(ep, [eps[0]!])));
    const serves = [first, ...others];
    const log = join(dir, 'job.log');
    // An in-process client polls (a CLI process per poll costs seconds under load); the CLI submits, lists and cancels.
    const outside = await createNode({ listen: '127.0.0.1:0', seeds: eps, logger: pinoLogger({ level: 'silent' }) });
    closers.push(() => outside.close());
    // A request may wait out a view change or two: under load a starved member can be suspected and
    // rejoin with state transfer (one run in five at load 23 saw a 5 s list time out so), and
    // requests are answered only once every member holds them.
    const client = await outside.client('jobs', { timeoutMs: 15_000 });
    closers.push(async () => client.close());
    const list = async (): Promise<JobInfo[]> => (await client.request({ op: 'list' })) as JobInfo[];
    const sub = await horus(['jobs', 'submit', '--connect', eps.join(','), '--needs', 'worker', '--restart', 'always', '--', 'bash', '-c', JOB, 'job', log]);
    assert.equal(sub.code, 0, sub.out);
    assert.match(sub.out, /^j1 running on /);
    await waitUntil(() => readLog(log).some((l) => l.what === 'alive'), { timeoutMs: 20_000, what: 'the job runs' });
    const token1 = readLog(log)[0]!.token;
    const victim = serves.find((s) => s.lines.some((l) => l === `started j1 (token ${token1})`));
    assert.ok(victim, `a member says it started j1 with token ${token1}`);
    const killedAt = Date.now();
    victim.proc.kill('SIGKILL');
    await waitUntil(() => readLog(log).some((l) => l.what === 'start' && l.token !== token1), {
      timeoutMs: 20_000,
      what: 'the job starts elsewhere',
      detail: () => JSON.stringify(readLog(log).slice(-3)),
    });
    const restart = readLog(log).find((l) => l.what === 'start' && l.token !== token1)!;
    const took = restart.at - killedAt;
    console.log(`  job j1 running again ${took.toFixed(0)} ms after kill -9 of its member (token ${token1} -> ${restart.token})`);
    assert.ok(took < 2 * SUSPECT_TIMEOUT_MS, `restarted ${took.toFixed(0)} ms after the kill`);
    const survivor = serves.find((s) => s !== victim && s.lines.some((l) => l === `started j1 (token ${restart.token})`));
    assert.ok(survivor, 'another member started it');
    await new Promise((r) => setTimeout(r, 500));

    // A paused member (SIGSTOP): its job dies when its lease lapses, the others run it, and when the
    // member wakes up (it was excluded meanwhile) it runs no stale copy.
    survivor.proc.kill('SIGSTOP');
    const pausedAt = Date.now();
    await waitUntil(() => readLog(log).some((l) => l.what === 'start' && l.token !== token1 && l.token !== restart.token), {
      timeoutMs: 20_000,
      what: 'the job starts elsewhere after the pause',
    });
    const third = readLog(log).find((l) => l.what === 'start' && l.token !== token1 && l.token !== restart.token)!;
    console.log(`  job j1 running again ${(third.at - pausedAt).toFixed(0)} ms after SIGSTOP of its member (token ${restart.token} -> ${third.token})`);
    survivor.proc.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 2000));

    // From the job's own log: the runs of distinct tokens never overlap.
    const runs = new Map<string, { from: number; to: number }>();
    for (const l of readLog(log)) {
      const r = runs.get(l.token);
      if (!r) runs.set(l.token, { from: l.at, to: l.at });
      else r.to = Math.max(r.to, l.at);
    }
    const ordered = [...runs].sort((a, b) => a[1].from - b[1].from);
    assert.ok(ordered.length >= 3);
    for (let i = 1; i < ordered.length; i++)
      assert.ok(
        ordered[i]![1].from > ordered[i - 1]![1].to,
        `token ${ordered[i]![0]} started before ${ordered[i - 1]![0]} last logged: ${JSON.stringify(ordered)}`,
      );
    // (A member too loaded to renew a lease in time kills its copy, which is then restarted: more
    // placements than the three are safe, and only overlaps count.)

    // A job that keeps failing is given up after its policy (3 failures within 30 s here).
    const bad = (await client.request({
      op: 'submit',
      job: { run: { kind: 'command', argv: ['false'] }, restart: 'always', giveUp: { maxFailures: 3, windowMs: 30_000 } },
    })) as JobInfo;
    const id = bad.id;
    let jobs: JobInfo[] = [];
    await waitUntil(
      async () => {
        // A poll that times out polls again (the wait has its own budget).
        jobs = await list().catch((err: unknown) => {
          if ((err as { code?: string }).code === 'ERR_TIMEOUT') return jobs;
          throw err;
        });
        return jobs.some((j) => j.id === id && j.state === 'failed');
      },
      { timeoutMs: 30_000, what: `${id} given up`, pollMs: 100, detail: () => JSON.stringify(jobs) },
    );
    assert.match(jobs.find((j) => j.id === id)!.reason!, /gave up: 3 failures within 30 s/);
    const cancelled = (await client.request({ op: 'cancel', id: 'j1' })) as JobInfo;
    assert.equal(cancelled.state, 'cancelled');
    const last = readLog(log)
      .filter((l) => l.what === 'start')
      .at(-1)!.token;
    await waitUntil(() => readLog(log).some((l) => l.what === 'stop' && l.token === last), { timeoutMs: 10_000, what: 'the cancelled job stops' });
  });
});
