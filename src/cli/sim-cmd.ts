import { describeFailure, failed, replayCommand, runSeeds, type AdversaryKind, type SimSpec } from '../sim/seed-runner.js';
import { runScenario } from '../sim/scenario.js';
import { runVsyncScenarioAsync, type VsyncScenarioOptions } from '../sim/scenario-vsync.js';
import { ProgressBar } from './progress.js';
import { largeSummaryOf } from '../sim/large-summary.js';

/** Flags of `horus sim` (also `npm run sim` and src/sim/cli.ts, which run this command; parsed in sim-options.ts). */
export interface SimFlags {
  seeds: number;
  seed?: number;
  first: number;
  loss?: number;
  nodes?: number;
  messages?: number;
  /** false: `--no-faults`; 'all': `--faults all` (dynamic membership, virtual synchrony checks). */
  faults?: boolean | string;
  /** With `--faults all`: a stranger or one member also sends forged frames. */
  adversary?: AdversaryKind;
  /** With `--faults all`: virtual ms of traffic and faults per seed. */
  duration?: number;
  /** With `--faults all`: false (`--no-start-together`) draws no seed that starts its nodes together. */
  startTogether?: boolean;
  /** With `--faults all`: 'pki' encrypts the group, admits only its nodes, and adds refused outsiders; 'off' (default) does not. */
  security?: 'off' | 'pki';
  /** With `--faults all`: the partition policy ('majority' default; 'quorum' static, 'weights' per node). */
  policy?: 'majority' | 'quorum' | 'weights' | 'partitionable';
  /** 'tools': the toolkit's workload with tool-level checkers (src/sim/scenario-tools.ts). */
  /** 'news': the News service's workload with its checker (src/sim/scenario-news.ts). */
  /** 'jobs' and 'monitor': the services' workloads (src/sim/scenario-jobs.ts, scenario-monitor.ts). */
  scenario?: 'tools' | 'news' | 'jobs' | 'monitor' | 'large';
  /** With `--faults all`: light-weight groups over shared heavy-weight groups (src/sim/scenario-lwg.ts). */
  lwg?: boolean;
  /** Worker threads to spread the seeds over (default 1: this thread). */
  workers?: number;
  verbose?: boolean;
  /** Draw a progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
}

/** How a failing seed's replay command starts: as the user started this run. */
export function replayPrefix(env: NodeJS.ProcessEnv = process.env): string {
  return env.npm_lifecycle_event === 'sim' ? 'npm run sim --' : 'npx horus sim';
}

/** A scenario's spec with the flags every scenario shares: loss, nodes and (where it has one) duration. */
function scenarioSpec(scenario: SimSpec['scenario'], flags: SimFlags, withDuration: boolean): SimSpec {
  const spec: SimSpec = { scenario };
  if (flags.loss !== undefined) spec.loss = flags.loss;
  if (flags.nodes !== undefined) spec.nodes = flags.nodes;
  if (withDuration && flags.duration !== undefined) spec.durationMs = flags.duration;
  return spec;
}

/** What `flags` ask to run for each seed. */
export function simSpecOf(flags: SimFlags): SimSpec {
  const scenario = flags.scenario;
  if (scenario === 'jobs' || scenario === 'monitor' || scenario === 'tools' || scenario === 'news') return scenarioSpec(scenario, flags, true);
  // The large scenario runs its own fixed script: no duration.
  if (scenario === 'large') return scenarioSpec('large', flags, false);
  if (flags.lwg === true) return scenarioSpec('lwg', flags, true);
  const vsync = flags.faults === 'all';
  const spec = scenarioSpec(vsync ? 'vsync' : 'fbcast', flags, vsync);
  if (!vsync && flags.messages !== undefined) spec.messages = flags.messages;
  if (!vsync && flags.faults === false) spec.faults = false;
  if (vsync && flags.adversary !== undefined) spec.adversary = flags.adversary;
  if (vsync && flags.startTogether === false) spec.startTogether = false;
  if (vsync && flags.security === 'pki') spec.security = 'pki';
  if (vsync && (flags.policy === 'quorum' || flags.policy === 'weights' || flags.policy === 'partitionable')) spec.policy = flags.policy;
  return spec;
}

/**
 * The scenarios that bring their own faults (the services' and tools' workloads: crashes, restarts,
 * isolation, loss; large: 10 members crash at once) take none of the vsync scenario's fault flags.
 * Returns the usage error for a flag given to one that does not take it, or null.
 */
function workloadFlagsRefused(scenario: NonNullable<SimFlags['scenario']>, flags: SimFlags): string | null {
  const timed = scenario !== 'large';
  const wrong =
    (flags.faults !== undefined && (!timed || flags.faults !== 'all')) ||
    flags.adversary !== undefined ||
    flags.security !== undefined ||
    flags.messages !== undefined ||
    flags.policy !== undefined ||
    (!timed && flags.duration !== undefined);
  if (!wrong) return null;
  return `--scenario ${scenario} takes only --seeds/--seed/--first, ${timed ? '--faults all, --loss, --nodes, --duration' : '--loss, --nodes'} and --workers`;
}

/** Runs the seeded scenarios; the last line is `sim: N seeds, V violations`. Resolves to the exit code. */
export async function simCommand(
  flags: SimFlags,
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
): Promise<number> {
  const out = (s: string): boolean => stdout.write(s);
  const usage = (msg: string): number => {
    stderr.write(`horus sim: ${msg}\n`);
    return 2;
  };
  if (typeof flags.faults === 'string' && flags.faults !== 'all') return usage(`--faults takes "all", got ${JSON.stringify(flags.faults)}`);
  if (flags.nodes !== undefined && flags.nodes > 64 && flags.scenario !== 'large') return usage('--nodes above 64 needs --scenario large');
  if (flags.lwg === true) {
    if (
      flags.faults !== 'all' ||
      flags.scenario !== undefined ||
      flags.adversary !== undefined ||
      flags.security !== undefined ||
      flags.messages !== undefined ||
      flags.policy !== undefined
    )
      return usage('--lwg needs --faults all and takes only --seeds/--seed/--first, --loss, --nodes, --duration and --workers');
  } else if (flags.scenario !== undefined) {
    const refused = workloadFlagsRefused(flags.scenario, flags);
    if (refused !== null) return usage(refused);
  } else if (flags.faults !== 'all') {
    if (flags.adversary !== undefined) return usage('--adversary needs --faults all');
    if (flags.duration !== undefined) return usage('--duration needs --faults all');
    if (flags.startTogether === false) return usage('--no-start-together needs --faults all');
    if (flags.security === 'pki') return usage('--security pki needs --faults all');
    if (flags.policy !== undefined) return usage('--policy needs --faults all');
  }
  const spec = simSpecOf(flags);

  if (flags.seed !== undefined) {
    const verbose = flags.verbose ?? false;
    if (spec.scenario !== 'vsync' && spec.scenario !== 'fbcast') {
      const r = await replayWorkload(spec.scenario, { seed: flags.seed, verbose, ...workloadOptions(spec) });
      for (const f of r.faults) out(`  fault: ${f}\n`);
      for (const v of r.violations) out(`  ${v.property}: ${v.detail}\n`);
      out(`seed ${flags.seed}: ${r.summary}, ${r.violationCount} violations\n`);
      out(`history hash ${r.historyHash}\n`);
      return r.violationCount > 0 ? 1 : 0;
    }
    if (spec.scenario === 'vsync') {
      const opts: VsyncScenarioOptions = { seed: flags.seed, verbose };
      if (spec.loss !== undefined) opts.loss = spec.loss;
      if (spec.nodes !== undefined) opts.nodes = spec.nodes;
      if (spec.durationMs !== undefined) opts.durationMs = spec.durationMs;
      // A secure run always has its intruder (see runSeed).
      const adversary = spec.adversary ?? (spec.security === 'pki' ? 'stranger' : undefined);
      if (adversary !== undefined) opts.adversary = (await import('../sim/adversary.js')).makeAdversary(adversary, flags.seed);
      if (spec.startTogether === false) opts.startTogether = false;
      if (spec.security !== undefined) opts.security = spec.security;
      if (spec.policy !== undefined) opts.policy = spec.policy;
      const r = await runVsyncScenarioAsync(opts);
      for (const f of r.faults) out(`  fault: ${f}\n`);
      for (const v of r.violations) out(`  ${v.property}: ${v.detail}\n`);
      for (const n of r.notes) out(`  ${n}\n`);
      const total = r.violationCount;
      out(`seed ${flags.seed}: ${r.nodes} nodes, ${r.sent} sent, ${r.delivered} delivered, ${Math.round(r.virtualMs)} virtual ms, ${total} violations\n`);
      out(`history hash ${r.historyHash}\ntrace hash ${r.traceHash}\n`);
      return total > 0 ? 1 : 0;
    }
    const r = runScenario({
      seed: flags.seed,
      verbose,
      ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
      ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
      ...(spec.messages !== undefined ? { messages: spec.messages } : {}),
      faults: spec.faults ?? true,
    });
    for (const v of r.violations) out(`  ${v.property}: ${v.detail}\n`);
    out(
      `seed ${flags.seed}: ${r.nodes} nodes, ${r.sent} sent, ${r.delivered} delivered, ${Math.round(r.virtualMs)} virtual ms, ${r.violationCount} violations\n`,
    );
    out(`history hash ${r.historyHash}\ntrace hash ${r.traceHash}\n`);
    return r.violationCount > 0 ? 1 : 0;
  }

  const count = flags.seeds;
  const workers = flags.workers ?? 1;
  const bar = new ProgressBar(stderr, count, 'sim', flags.progress ?? stderr.isTTY === true);
  let done = 0;
  let failingSoFar = 0;
  const started = Date.now();
  const { violations, failing } = await runSeeds(spec, {
    first: flags.first,
    count,
    workers,
    onOutcome: (o) => {
      done++;
      if (failed(o)) {
        failingSoFar++;
        bar.clear();
        out(describeFailure(o, spec, replayPrefix()));
      }
      if (o.summary !== undefined) {
        bar.clear();
        out(`seed ${o.seed}: ${o.summary}\n`);
      }
      bar.update(done, `seeds, ${failingSoFar} failing`);
    },
  });
  bar.done();
  if (failing.length > 0) {
    out(`failing seeds: ${failing.join(' ')}\n`);
    for (const s of failing) out(`  ${replayCommand(replayPrefix(), spec, s)}\n`);
  }
  out(`(${((Date.now() - started) / 1000).toFixed(1)} s${workers > 1 ? `, ${workers} workers` : ''})\n`);
  out(`sim: ${count} seeds, ${violations} violations\n`);
  return violations > 0 ? 1 : 0;
}

/** The workload options a spec gives a scenario that brings its own faults. */
function workloadOptions(spec: SimSpec): { loss?: number; nodes?: number; durationMs?: number } {
  return {
    ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
    ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
    ...(spec.durationMs !== undefined ? { durationMs: spec.durationMs } : {}),
  };
}

/** One replayed seed of a workload scenario, as the command prints it. */
interface WorkloadReplay {
  faults: readonly string[];
  violations: readonly { property: string; detail: string }[];
  /** All violations found (the list may keep only the first ones). */
  violationCount: number;
  /** What ran: nodes, events and the scenario's own counts. */
  summary: string;
  historyHash: string;
}

/** Replay one seed of a workload scenario (each is loaded only when asked for). */
async function replayWorkload(
  scenario: Exclude<SimSpec['scenario'], 'vsync' | 'fbcast'>,
  o: { seed: number; verbose: boolean; loss?: number; nodes?: number; durationMs?: number },
): Promise<WorkloadReplay> {
  switch (scenario) {
    case 'jobs': {
      const r = await (await import('../sim/scenario-jobs.js')).runJobsScenarioAsync(o);
      return { ...r, summary: `${r.nodes} nodes, ${r.events} events` };
    }
    case 'monitor': {
      const r = await (await import('../sim/scenario-monitor.js')).runMonitorScenarioAsync(o);
      return { ...r, summary: `${r.nodes} nodes, ${r.firings} firings (${r.takenOver} taken over), ${r.events} events` };
    }
    case 'lwg': {
      const { seed, ...rest } = o;
      const r = (await import('../sim/scenario-lwg.js')).runLwgScenario(seed, rest);
      return {
        faults: r.faults,
        violations: r.violations.items,
        violationCount: r.violations.total,
        summary: `${r.nodes} nodes, ${r.hwgs.length} heavy-weight and ${r.lwgs.length} light-weight groups, ${r.sent} sent, ${r.delivered} delivered`,
        historyHash: r.historyHash,
      };
    }
    case 'large': {
      const { seed, ...rest } = o;
      const r = (await import('../sim/scenario-large.js')).runLargeScenario({ seed, ...rest });
      return { ...r, summary: largeSummaryOf(r) };
    }
    case 'tools': {
      const r = await (await import('../sim/scenario-tools.js')).runToolsScenarioAsync(o);
      return { ...r, summary: `${r.nodes} nodes, ${r.events} events` };
    }
    case 'news': {
      const r = await (await import('../sim/scenario-news.js')).runNewsScenarioAsync(o);
      return { ...r, summary: `${r.nodes} nodes, ${r.postings} postings, ${r.events} events` };
    }
  }
}
