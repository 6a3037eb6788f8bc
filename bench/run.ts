// `npm run bench`: throughput, latency, crash detection and state transfer of real member processes
// on loopback (TCP), through the public API only. Prints ONE JSON document on stdout; progress goes to stderr.
//
//   tsx bench/run.ts [--filter TERMS] [--scale F] [--out FILE] [--compare FILE [--with FILE]]
//                    [--threshold F] [--fail-on-regression] [--profile CASE [--profile-dir DIR]] [--rounds N] [--list]
//
// The cases are the table in cases.ts; docs/performance.md says what each measures.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { CASES, ownProcesses, selectCases, type BenchCase, type OwnProcessesCase } from './cases.js';
import { Cluster } from './lib/cluster.js';
import { compareRuns, formatComparison, loadRun, type BenchRun } from './lib/compare.js';
import { renderProfiles, type ProfileOutput } from './lib/profile.js';
import { combineRounds, type Round, type RoundSummary } from './lib/rounds.js';
import { deriveFigures, type BenchResult } from './lib/results.js';
import { round } from './lib/stats.js';
import type { RunContext } from './runners/context.js';
import { runCrashToView } from './runners/crash-to-view.js';
import { runJobsFailover } from './runners/jobs.js';
import { runRekey } from './runners/rekey.js';
import { runInterleaved } from './runners/interleaved.js';
import { runLoadLatency } from './runners/load-latency.js';
import { runRoundTrip } from './runners/round-trip.js';
import { runStateTransfer } from './runners/state-transfer.js';
import { runThroughput } from './runners/throughput.js';
import { runNews } from './runners/news.js';
import { runTools } from './runners/tools.js';
import { runLwg } from './runners/lwg.js';
import { runMergeHeal } from './runners/merge-heal.js';
import { runLarge } from './runners/large.js';
import { prepareBenchSecurity, type BenchSecurity } from './lib/security.js';

const USAGE = `usage: npm run bench -- [options]
  --filter TERMS        cases to run: comma-separated; a case's exact id selects it alone, any other term every id containing it
  --scale F             multiply counts, rounds and durations by F (e.g. 0.05 for a quick check)
  --out FILE            also save the run's JSON to FILE
  --compare FILE        compare this run, case by case, with a saved run (ratios; flags regressions)
  --with FILE           with --compare: compare FILE (a saved run) instead of running the bench
  --threshold F         a regression is a case worse than the baseline by more than F (default 0.1)
  --fail-on-regression  exit with status 3 when --compare finds a regression
  --load-rate N         load-latency cases offer each member N msgs/s (all senders) instead of half the saturated rate
  --profile CASE        run one case with its members' CPU sampled during the measurement; write SVG flame graphs
  --profile-dir DIR     where the profiles go (default test-results/profiles/CASE-TIME)
  --profile-members L   with --profile: only these members (indices, e.g. 0,1,10): 64 sampled processes slow each other
  --profile-interval US with --profile: the sampling interval in µs (default 250)
  --security MODE       members secure their connections: pki, psk or off (default); compare with a run saved with off
  --warmup-seconds S    throughput and load-latency cases: after the case's own warm-up, warm up about S seconds more (sized from the rate seen)
  --measure-seconds T   throughput cases: measure about T seconds (sized from the warm-up's rate) instead of the case's count
  --rounds N            run the cases N times, one round after another: each case's result is the round at its median,
                        each ratio the median of its per-round values (both sides from one round); all rounds in "rounds"
  --list                list the cases
  --help                this text`;

interface Args {
  filter: string | null;
  scale: number;
  out: string | null;
  compare: string | null;
  with: string | null;
  threshold: number;
  failOnRegression: boolean;
  loadRate: number | null;
  warmupSeconds: number | null;
  measureSeconds: number | null;
  rounds: number;
  profile: string | null;
  profileDir: string | null;
  /** --profile-members: the member indices to sample (null: all). */
  profileMembers: number[] | null;
  profileIntervalUs: number;
  security: BenchSecurity;
  list: boolean;
  help: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    filter: null,
    scale: 1,
    out: null,
    compare: null,
    with: null,
    threshold: 0.1,
    failOnRegression: false,
    loadRate: null,
    warmupSeconds: null,
    measureSeconds: null,
    rounds: 1,
    profile: null,
    profileDir: null,
    profileMembers: null,
    profileIntervalUs: 250,
    security: 'off',
    list: false,
    help: false,
  };
  const value = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    switch (f) {
      case '--filter':
        a.filter = value(++i, f);
        break;
      case '--scale':
        a.scale = Number(value(++i, f));
        break;
      case '--out':
        a.out = value(++i, f);
        break;
      case '--compare':
        a.compare = value(++i, f);
        break;
      case '--with':
        a.with = value(++i, f);
        break;
      case '--threshold':
        a.threshold = Number(value(++i, f));
        break;
      case '--fail-on-regression':
        a.failOnRegression = true;
        break;
      case '--load-rate':
        a.loadRate = Number(value(++i, f));
        break;
      case '--warmup-seconds':
        a.warmupSeconds = Number(value(++i, f));
        break;
      case '--measure-seconds':
        a.measureSeconds = Number(value(++i, f));
        break;
      case '--rounds':
        a.rounds = Number(value(++i, f));
        break;
      case '--profile':
        a.profile = value(++i, f);
        break;
      case '--profile-dir':
        a.profileDir = value(++i, f);
        break;
      case '--profile-members': {
        const list = value(++i, f).split(',').map(Number);
        if (list.some((x) => !Number.isInteger(x) || x < 0)) throw new Error('--profile-members takes member indices, e.g. 0,1,10');
        a.profileMembers = list;
        break;
      }
      case '--profile-interval': {
        const us = Number(value(++i, f));
        if (!Number.isInteger(us) || us < 50) throw new Error('--profile-interval takes whole µs, at least 50');
        a.profileIntervalUs = us;
        break;
      }
      case '--security': {
        const m = value(++i, f);
        if (m !== 'off' && m !== 'psk' && m !== 'pki') throw new Error('--security must be off, psk or pki');
        a.security = m;
        break;
      }
      case '--list':
        a.list = true;
        break;
      case '--help':
      case '-h':
        a.help = true;
        break;
      default:
        throw new Error(`unknown argument ${f}\n${USAGE}`);
    }
  }
  if (!(a.scale > 0)) throw new Error('--scale must be a positive number');
  if (!(a.threshold >= 0 && a.threshold < 1)) throw new Error('--threshold must be in [0, 1)');
  if (a.loadRate !== null && !(a.loadRate > 0)) throw new Error('--load-rate must be a positive number');
  if (a.warmupSeconds !== null && !(a.warmupSeconds >= 0 && a.warmupSeconds <= 600))
    throw new Error('--warmup-seconds must be a number of seconds in [0, 600]');
  if (a.measureSeconds !== null && !(a.measureSeconds > 0 && a.measureSeconds <= 60))
    throw new Error('--measure-seconds must be a number of seconds in (0, 60]');
  if (a.with !== null && a.compare === null) throw new Error('--with needs --compare');
  if (!(Number.isInteger(a.rounds) && a.rounds >= 1 && a.rounds <= 50)) throw new Error('--rounds must be a whole number in [1, 50]');
  if (a.rounds > 1 && a.profile !== null) throw new Error('--rounds and --profile do not go together: a profile is of one run');
  return a;
}

const log = (msg: string): void => {
  process.stderr.write(`bench: ${msg}\n`);
};

/** `horus bench` draws a progress bar from these lines (src/cli/bench-cmd.ts); elsewhere they are noise. */
const progress = (done: number, total: number, label: string): void => {
  if (process.env['HORUS_PROGRESS'] === '1') process.stderr.write(`progress ${done}/${total} ${label}\n`);
};

function runShared(cluster: Cluster, c: Exclude<BenchCase, OwnProcessesCase>, ctx: RunContext): Promise<BenchResult> {
  switch (c.kind) {
    case 'throughput':
      return runThroughput(cluster, c, ctx);
    case 'round-trip':
      return runRoundTrip(cluster, c, ctx);
    case 'load-latency':
      return runLoadLatency(cluster, c, ctx);
    case 'interleaved':
      return runInterleaved(cluster, c, ctx);
  }
}

async function runOwn(c: OwnProcessesCase, ctx: RunContext): Promise<BenchResult[]> {
  switch (c.kind) {
    case 'crash-to-view':
      return runCrashToView(c, ctx);
    case 'state-transfer':
      return [await runStateTransfer(c, ctx)];
    case 'news':
      return [await runNews(c, ctx)];
    case 'jobs-failover':
      return [await runJobsFailover(c, ctx)];
    case 'rekey':
      return runRekey(c, ctx);
    case 'tools':
      return [await runTools(c, ctx)];
    case 'lwg':
      return [await runLwg(c, ctx)];
    case 'merge-heal':
      return [await runMergeHeal(c, ctx)];
    case 'large':
      return [await runLarge(c, ctx)];
  }
}

interface CaseFailure {
  id: string;
  error: string;
}

/**
 * Runs `cases` in order; cases with the same members and stack share one cluster unless they ask for
 * a fresh one. A case that fails is reported and the run goes on (on new processes).
 */
async function runCases(cases: readonly BenchCase[], ctx: RunContext): Promise<{ results: BenchResult[]; failures: CaseFailure[] }> {
  const results: BenchResult[] = [];
  const failures: CaseFailure[] = [];
  let cluster: Cluster | null = null;
  let clusterKey = '';
  try {
    for (const [i, c] of cases.entries()) {
      progress(i, cases.length, c.id);
      try {
        if (ownProcesses(c)) {
          // Nothing else runs meanwhile: the shared cluster's processes would take CPU from the measured ones.
          await cluster?.close(0);
          cluster = null;
          for (const r of await runOwn(c, ctx)) {
            log(JSON.stringify(r));
            results.push(r);
          }
          continue;
        }
        const key = `${c.members}|${c.stack ?? ''}`;
        if (cluster === null || key !== clusterKey || c.freshCluster === true) {
          await cluster?.close(0);
          cluster = null;
          log(`starting ${c.members} members${c.stack !== undefined ? ` (${c.stack})` : ''}`);
          cluster = await Cluster.start({ size: c.members, ...(c.stack !== undefined ? { stack: c.stack } : {}), execArgv: ctx.execArgv });
          clusterKey = key;
        }
        const r = await runShared(cluster, c, ctx);
        log(JSON.stringify(r));
        results.push(r);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        log(`${c.id} FAILED: ${error}`);
        failures.push({ id: c.id, error });
        // Its processes may be in any state: the next case starts afresh.
        await cluster?.close(0);
        cluster = null;
      }
    }
    progress(cases.length, cases.length, 'done');
  } finally {
    await cluster?.close(0);
  }
  return { results, failures };
}

function machine(loadAtStart: number): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    /** Other work on the machine skews these numbers: 1-minute load before and after. */
    loadAvg1mStart: round(loadAtStart),
    loadAvg1mEnd: round(os.loadavg()[0] ?? 0),
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (args.list) {
    for (const c of CASES) process.stdout.write(`${c.id.padEnd(24)} ${c.kind}, ${c.members} members\n`);
    return 0;
  }
  // Compare two saved runs: no measurement.
  if (args.compare !== null && args.with !== null) {
    const cmp = compareRuns(loadRun(args.with).results, loadRun(args.compare), args.compare, args.threshold);
    process.stdout.write(formatComparison(cmp) + '\n');
    return args.failOnRegression && cmp.regressions > 0 ? 3 : 0;
  }
  const baseline = args.compare !== null ? loadRun(args.compare) : null;

  let cases = selectCases(CASES, args.filter);
  let profileDir: string | null = null;
  if (args.profile !== null) {
    cases = CASES.filter((c) => c.id === args.profile);
    if (cases.length !== 1) throw new Error(`--profile takes one case id (see --list), got ${args.profile}`);
    profileDir = args.profileDir ?? join('test-results', 'profiles', `${args.profile}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  }
  if (cases.length === 0) throw new Error(`no case matches --filter ${args.filter ?? ''} (see --list)`);

  // Profiles cover the measured part of a case only (through node:inspector in each member): not the
  // process starts, not tsx compiling TypeScript, not the warm-up.
  if (profileDir !== null) mkdirSync(profileDir, { recursive: true });
  const ctx: RunContext = {
    scale: args.scale,
    execArgv: [],
    loadRate: args.loadRate,
    timed: args.warmupSeconds !== null || args.measureSeconds !== null ? { warmupSeconds: args.warmupSeconds ?? 0, measureSeconds: args.measureSeconds } : null,
    profile: profileDir !== null ? { dir: profileDir, intervalUs: args.profileIntervalUs, members: args.profileMembers } : null,
    log,
  };
  const started = new Date();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const t0 = performance.now();
  if (args.security !== 'off') log(`members run security ${args.security}`);
  const cleanUp = await prepareBenchSecurity(args.security);
  const rounds: Round[] = [];
  try {
    for (let r = 1; r <= args.rounds; r++) {
      if (args.rounds > 1) log(`round ${r} of ${args.rounds}`);
      rounds.push(await runCases(cases, ctx));
    }
  } finally {
    await cleanUp();
  }
  const combined = args.rounds > 1 ? combineRounds(rounds) : null;
  const results = combined?.results ?? rounds[0]!.results;
  const failures = rounds.flatMap((r) => r.failures);
  const doc: BenchRun & { failures: CaseFailure[]; profile?: ProfileOutput; security?: BenchSecurity; rounds?: RoundSummary[] } = {
    machine: machine(loadAtStart),
    startedAt: started.toISOString(),
    totalS: round((performance.now() - t0) / 1000, 1),
    scale: args.scale,
    results,
    failures,
    derived: combined?.derived ?? deriveFigures(results),
    ...(combined !== null ? { rounds: combined.rounds } : {}),
    ...(args.security !== 'off' ? { security: args.security } : {}),
  };
  if (profileDir !== null && failures.length === 0) {
    doc.profile = renderProfiles(profileDir, cases[0]!.id);
    log(`flame graph: ${doc.profile.svg}`);
  }
  // A failed case fails the run (after the JSON of the others is out).
  let code = failures.length > 0 ? 1 : 0;
  if (baseline !== null) {
    const cmp = compareRuns(results, baseline, args.compare!, args.threshold);
    doc.comparison = cmp;
    process.stderr.write(formatComparison(cmp) + '\n');
    if (args.failOnRegression && cmp.regressions > 0 && code === 0) code = 3;
  }
  const json = JSON.stringify(doc, null, 2) + '\n';
  if (args.out !== null) writeFileSync(args.out, json);
  process.stdout.write(json);
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
