import { Worker } from 'node:worker_threads';
import type { Violation } from './checkers/violation.js';
import { runScenario } from './scenario.js';
import { runVsyncScenarioAsync, type VsyncScenarioOptions } from './scenario-vsync.js';

export type AdversaryKind = 'stranger' | 'member';

/** What to run for each seed: everything but the seed itself. Plain data, so it crosses to workers. */
export interface SimSpec {
  /** 'vsync' is `--faults all` (dynamic membership); 'fbcast' the fixed-membership workload; 'tools' `--scenario tools`. */
  scenario: 'fbcast' | 'vsync' | 'tools' | 'news' | 'jobs' | 'monitor' | 'lwg' | 'large';
  loss?: number;
  nodes?: number;
  /** fbcast only. */
  messages?: number;
  /** fbcast only: pauses, partitions, link breaks (default true). */
  faults?: boolean;
  /** vsync and tools: virtual ms of traffic and faults before the system must settle (default 14,000; tools 8,000). */
  durationMs?: number;
  /** vsync only: a fuzzer sends forged frames alongside the workload. */
  adversary?: AdversaryKind;
  /** vsync only: false keeps every seed from starting its nodes together (joining by name). */
  startTogether?: false;
  /** vsync only: 'pki' runs the group with identities, an ACL and CRYPT, plus refused outsiders. */
  security?: 'pki';
  /** vsync only: a partition policy other than majority. */
  policy?: 'quorum' | 'weights' | 'partitionable';
}

/** One seed's verdict, as printed. Plain data (it comes back from workers). */
export interface SeedOutcome {
  seed: number;
  violationCount: number;
  /** The first few violations. */
  violations: Violation[];
  /** The exception that stopped the run, if one did (a thrown exception is a failing seed). */
  crashed?: string;
  /** Adversary runs: what the fuzzer last sent to the node that failed. */
  notes?: string[];
  historyHash?: string;
  /** What the seed measured, printed per seed (the large scenario: frames per view change). */
  summary?: string;
}

export function failed(o: SeedOutcome): boolean {
  return o.violationCount > 0;
}

/** The flags that reproduce `spec`, as `npm run sim` and `horus sim` take them. */
export function specFlags(spec: SimSpec): string {
  const f: string[] = [];
  if (spec.scenario === 'jobs') f.push('--scenario jobs');
  if (spec.scenario === 'monitor') f.push('--scenario monitor');
  if (spec.scenario === 'lwg') f.push('--faults all --lwg');
  if (spec.scenario === 'vsync') f.push('--faults all');
  if (spec.scenario === 'tools') f.push('--scenario tools');
  if (spec.scenario === 'news') f.push('--scenario news');
  if (spec.scenario === 'large') f.push('--scenario large');
  if (spec.loss !== undefined) f.push(`--loss ${spec.loss}`);
  if (spec.nodes !== undefined) f.push(`--nodes ${spec.nodes}`);
  if (spec.messages !== undefined) f.push(`--messages ${spec.messages}`);
  if (spec.scenario === 'fbcast' && spec.faults === false) f.push('--no-faults');
  if (spec.durationMs !== undefined) f.push(`--duration ${spec.durationMs}`);
  if (spec.adversary !== undefined) f.push(`--adversary ${spec.adversary}`);
  if (spec.startTogether === false) f.push('--no-start-together');
  if (spec.security !== undefined) f.push(`--security ${spec.security}`);
  if (spec.policy !== undefined) f.push(`--policy ${spec.policy}`);
  return f.join(' ');
}

/** The command that replays one seed, e.g. `npm run sim -- --seed 17 --faults all --adversary member`. */
export function replayCommand(prefix: string, spec: SimSpec, seed: number): string {
  const flags = specFlags(spec);
  return `${prefix} --seed ${seed}${flags ? ` ${flags}` : ''}`;
}

/** One failing seed as printed: the verdict, and the command that replays it with every flag used. */
export function describeFailure(o: SeedOutcome, spec: SimSpec, replayPrefix: string): string {
  const head =
    o.crashed !== undefined
      ? `seed ${o.seed}: crashed: ${o.crashed}\n`
      : `seed ${o.seed}: ${o.violationCount} violations, first: ${o.violations[0]?.property}: ${o.violations[0]?.detail}\n`;
  const notes = (o.notes ?? [])
    .slice(0, 3)
    .map((n) => `  ${n}\n`)
    .join('');
  return `${head}${notes}  replay: ${replayCommand(replayPrefix, spec, o.seed)}\n`;
}

/** Run one seed in this thread. Never throws: a crash is part of the outcome. */
export async function runSeed(spec: SimSpec, seed: number, verbose = false): Promise<SeedOutcome> {
  try {
    if (spec.scenario === 'jobs') {
      const { runJobsSeed } = await import('./scenario-jobs.js');
      return await runJobsSeed(seed, {
        ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
        ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
        ...(spec.durationMs !== undefined ? { durationMs: spec.durationMs } : {}),
      });
    }
    if (spec.scenario === 'monitor') {
      const { runMonitorSeed } = await import('./scenario-monitor.js');
      return await runMonitorSeed(seed, {
        ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
        ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
        ...(spec.durationMs !== undefined ? { durationMs: spec.durationMs } : {}),
      });
    }
    if (spec.scenario === 'lwg') {
      const { runLwgSeed } = await import('./scenario-lwg.js');
      return runLwgSeed(seed, {
        ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
        ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
        ...(spec.durationMs !== undefined ? { durationMs: spec.durationMs } : {}),
      });
    }
    if (spec.scenario === 'large') {
      const { runLargeSeed } = await import('./scenario-large.js');
      return runLargeSeed(seed, {
        ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
        ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
      });
    }
    if (spec.scenario === 'tools') {
      const { runToolsSeed } = await import('./scenario-tools.js');
      return await runToolsSeed(seed, {
        ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
        ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
        ...(spec.durationMs !== undefined ? { durationMs: spec.durationMs } : {}),
      });
    }
    if (spec.scenario === 'news') {
      const { runNewsSeed } = await import('./scenario-news.js');
      return await runNewsSeed(seed, {
        ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
        ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
        ...(spec.durationMs !== undefined ? { durationMs: spec.durationMs } : {}),
      });
    }
    if (spec.scenario === 'vsync') {
      const opts: VsyncScenarioOptions = { seed, verbose };
      if (spec.loss !== undefined) opts.loss = spec.loss;
      if (spec.nodes !== undefined) opts.nodes = spec.nodes;
      if (spec.durationMs !== undefined) opts.durationMs = spec.durationMs;
      if (spec.startTogether === false) opts.startTogether = false;
      if (spec.security !== undefined) opts.security = spec.security;
      if (spec.policy !== undefined) opts.policy = spec.policy;
      // A secure run always has its intruder: the stranger, who forges frames without an identity.
      const adversary = spec.adversary ?? (spec.security === 'pki' ? 'stranger' : undefined);
      if (adversary !== undefined) {
        // Loaded only when asked for: the fuzzer needs fast-check, the plain simulator does not.
        const { makeAdversary } = await import('./adversary.js');
        opts.adversary = makeAdversary(adversary, seed);
      }
      const r = await runVsyncScenarioAsync(opts);
      const out: SeedOutcome = { seed, violationCount: r.violationCount, violations: r.violations.slice(0, 5), historyHash: r.historyHash };
      if (r.crashed !== undefined) out.crashed = r.crashed;
      if (r.notes.length > 0) out.notes = r.notes;
      return out;
    }
    const r = runScenario({
      seed,
      verbose,
      ...(spec.loss !== undefined ? { loss: spec.loss } : {}),
      ...(spec.nodes !== undefined ? { nodes: spec.nodes } : {}),
      ...(spec.messages !== undefined ? { messages: spec.messages } : {}),
      faults: spec.faults ?? true,
    });
    return { seed, violationCount: r.violationCount, violations: r.violations.slice(0, 5), historyHash: r.historyHash };
  } catch (err) {
    const crashed = (err as Error).stack ?? String(err);
    return { seed, violationCount: 1, violations: [{ property: 'crash', detail: crashed }], crashed };
  }
}

/**
 * A seed's run is synchronous, so the promise reactions it queues (a group's `ready`, a leave's
 * continuation...) only run once the thread yields; until then they keep the seed's whole world
 * reachable. Yield to the event loop after every seed so that nothing of it survives.
 */
export function drainSeed(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface RunSeedsOptions {
  first: number;
  count: number;
  /** Worker threads (1: run in this thread). */
  workers: number;
  /** Called once per seed, in seed order whatever the number of workers. */
  onOutcome: (o: SeedOutcome) => void;
}

export interface RunSeedsResult {
  violations: number;
  failing: number[];
}

/** Run `count` seeds from `first`, in this thread or spread over worker threads. */
export async function runSeeds(spec: SimSpec, opts: RunSeedsOptions): Promise<RunSeedsResult> {
  const result: RunSeedsResult = { violations: 0, failing: [] };
  const record = (o: SeedOutcome): void => {
    if (failed(o)) {
      result.violations += o.violationCount;
      result.failing.push(o.seed);
    }
    opts.onOutcome(o);
  };
  if (opts.workers <= 1 || opts.count <= 1) {
    for (let s = opts.first; s < opts.first + opts.count; s++) {
      record(await runSeed(spec, s));
      await drainSeed();
    }
    return result;
  }
  await runInWorkers(spec, opts, record);
  return result;
}

/** `--max-old-space-size` of this process, if set: each worker gets the same heap limit. */
function inheritedOldSpaceMb(): number | undefined {
  const flags = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  for (const f of flags) {
    const m = /^--max-old-space-size=(\d+)$/.exec(f);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * A worker thread running seed-worker. Under tsx (this file is .ts) the worker registers tsx's
 * loader before importing it: on Node 20 `execArgv: ['--import', 'tsx']` does not apply to a
 * worker's .ts entry point.
 */
function spawnWorker(spec: SimSpec): Worker {
  const entry = new URL(import.meta.url.endsWith('.ts') ? './seed-worker.ts' : './seed-worker.js', import.meta.url).href;
  const oldSpace = inheritedOldSpaceMb();
  const resourceLimits = oldSpace !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: oldSpace } } : {};
  if (!entry.endsWith('.ts')) return new Worker(new URL(entry), { workerData: spec, ...resourceLimits });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { eval: true, workerData: spec, execArgv: [], ...resourceLimits });
}

type FromWorker = { t: 'ready' } | { t: 'outcome'; outcome: SeedOutcome };

async function runInWorkers(spec: SimSpec, opts: RunSeedsOptions, record: (o: SeedOutcome) => void): Promise<void> {
  const end = opts.first + opts.count;
  let next = opts.first;
  let emitNext = opts.first;
  const done = new Map<number, SeedOutcome>();
  const emit = (o: SeedOutcome): void => {
    done.set(o.seed, o);
    for (let d = done.get(emitNext); d !== undefined; d = done.get(emitNext)) {
      done.delete(emitNext);
      emitNext++;
      record(d);
    }
  };
  await new Promise<void>((resolve) => {
    let running = 0;
    const start = (): void => {
      const w = spawnWorker(spec);
      running++;
      let current: number | null = null;
      let finished = false;
      const feed = (): void => {
        if (next < end) {
          current = next++;
          w.postMessage(current);
        } else {
          current = null;
          void w.terminate();
        }
      };
      // A worker that dies (out of memory, say) fails the seed it held; a fresh one takes over.
      const died = (why: string): void => {
        if (finished) return;
        finished = true;
        running--;
        // A worker that cannot even start takes the next seed down with it: respawns stay bounded.
        if (current === null && next < end) current = next++;
        if (current !== null)
          emit({ seed: current, violationCount: 1, violations: [{ property: 'crash', detail: `worker died: ${why}` }], crashed: `worker died: ${why}` });
        current = null;
        if (next < end) start();
        else if (running === 0) resolve();
      };
      w.on('message', (m: FromWorker) => {
        if (m.t === 'outcome') emit(m.outcome);
        feed();
      });
      w.on('error', (err) => died((err as Error).stack ?? String(err)));
      w.on('exit', (code) => {
        if (current !== null) died(`exit code ${code}`);
        else if (!finished) {
          finished = true;
          running--;
          if (running === 0) resolve();
        }
      });
    };
    for (let i = 0; i < Math.min(opts.workers, opts.count); i++) start();
  });
}
