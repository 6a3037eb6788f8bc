import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { runScenario } from './scenario.js';
import { runVsyncScenarioAsync, type VsyncScenarioOptions } from './scenario-vsync.js';
import { describeFailure, failed, replayCommand, runSeeds, type AdversaryKind, type SeedOutcome, type SimSpec } from './seed-runner.js';

const USAGE = `usage: npm run sim -- --seeds N [--faults all] [--loss P] [--nodes K] [--messages M] [--no-faults] [--first S] [--workers W]
  --faults all: dynamic membership under crashes, restarts, pauses, partitions, leaves (virtual synchrony checks)
  default: fixed membership fbcast under loss, pauses and partitions
  --workers W: spread the seeds over W worker threads (default 1; "auto": one per core)
  --adversary stranger|member (with --faults all): a non-member, or one member, also sends forged frames
  --duration MS (with --faults all): virtual ms of traffic and faults per seed (default 14000)
  --no-start-together (with --faults all): no seed starts its nodes at one instant joining by name (1 in 4 do by default)
       npm run sim -- --seed S [--verbose]   (replay one seed; prints its history hash)`;
const REPLAY = 'npm run sim --';

function fail(msg: string): never {
  process.stderr.write(`sim: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function num(name: string, v: string | undefined, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || x < lo || x > hi) fail(`--${name} must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  return x;
}

let args;
try {
  args = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      first: { type: 'string' },
      loss: { type: 'string' },
      nodes: { type: 'string' },
      messages: { type: 'string' },
      'no-faults': { type: 'boolean' },
      faults: { type: 'string' },
      workers: { type: 'string' },
      adversary: { type: 'string' },
      duration: { type: 'string' },
      'no-start-together': { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (args.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}
if (args.faults !== undefined && args.faults !== 'all') fail(`--faults takes "all", got ${JSON.stringify(args.faults)}`);
const vsync = args.faults === 'all';
if (args.adversary !== undefined && args.adversary !== 'stranger' && args.adversary !== 'member')
  fail(`--adversary takes "stranger" or "member", got ${JSON.stringify(args.adversary)}`);
if (args.adversary !== undefined && !vsync) fail('--adversary needs --faults all');
if (args.duration !== undefined && !vsync) fail('--duration needs --faults all');
if (args['no-start-together'] && !vsync) fail('--no-start-together needs --faults all');
const spec: SimSpec = { scenario: vsync ? 'vsync' : 'fbcast' };
const loss = num('loss', args.loss, 0, 0.5);
const nodes = num('nodes', args.nodes, 2, 64);
const messages = num('messages', args.messages, 1, 1_000_000);
const duration = num('duration', args.duration, 4000, 1_000_000);
if (loss !== undefined) spec.loss = loss;
if (nodes !== undefined) spec.nodes = nodes;
if (messages !== undefined && !vsync) spec.messages = messages;
if (!vsync && args['no-faults']) spec.faults = false;
if (duration !== undefined) spec.durationMs = duration;
if (args.adversary !== undefined) spec.adversary = args.adversary as AdversaryKind;
if (args['no-start-together']) spec.startTogether = false;
const workers = args.workers === 'auto' ? availableParallelism() : num('workers', args.workers ?? '1', 1, 256)!;

if (args.seed !== undefined) {
  const seed = num('seed', args.seed, 0, 2 ** 31 - 1)!;
  const verbose = args.verbose ?? false;
  if (vsync) {
    const opts: VsyncScenarioOptions = { seed, verbose };
    if (spec.loss !== undefined) opts.loss = spec.loss;
    if (spec.nodes !== undefined) opts.nodes = spec.nodes;
    if (spec.durationMs !== undefined) opts.durationMs = spec.durationMs;
    if (spec.startTogether === false) opts.startTogether = false;
    if (spec.adversary !== undefined) opts.adversary = (await import('./adversary.js')).makeAdversary(spec.adversary, seed);
    const r = await runVsyncScenarioAsync(opts);
    for (const f of r.faults) process.stdout.write(`  fault: ${f}\n`);
    for (const v of r.violations) process.stdout.write(`  ${v.property}: ${v.detail}\n`);
    for (const n of r.notes) process.stdout.write(`  ${n}\n`);
    const total = r.violationCount;
    process.stdout.write(
      `seed ${seed}: ${r.nodes} nodes, ${r.sent} sent, ${r.delivered} delivered, ${Math.round(r.virtualMs)} virtual ms, ${total} violations\n`,
    );
    process.stdout.write(`history hash ${r.historyHash}\ntrace hash ${r.traceHash}\n`);
    process.exit(total > 0 ? 1 : 0);
  }
  const r = runScenario({
    seed,
    verbose,
    ...(loss !== undefined ? { loss } : {}),
    ...(nodes !== undefined ? { nodes } : {}),
    ...(messages !== undefined ? { messages } : {}),
    faults: !args['no-faults'],
  });
  for (const v of r.violations) process.stdout.write(`  ${v.property}: ${v.detail}\n`);
  process.stdout.write(
    `seed ${seed}: ${r.nodes} nodes, ${r.sent} sent, ${r.delivered} delivered, ${Math.round(r.virtualMs)} virtual ms, ${r.violationCount} violations\n`,
  );
  process.stdout.write(`history hash ${r.historyHash}\ntrace hash ${r.traceHash}\n`);
  process.exit(r.violationCount > 0 ? 1 : 0);
}

const count = num('seeds', args.seeds ?? '100', 1, 10_000_000)!;
const first = num('first', args.first ?? '1', 0, 2 ** 31 - 1)!;
const started = Date.now();
let doneCount = 0;
let failingCount = 0;
const { violations, failing } = await runSeeds(spec, {
  first,
  count,
  workers,
  onOutcome: (o: SeedOutcome) => {
    doneCount++;
    if (failed(o)) {
      failingCount++;
      process.stdout.write(describeFailure(o, spec, REPLAY));
    }
    if (process.stderr.isTTY && doneCount % 10 === 0) process.stderr.write(`\rseed ${doneCount}/${count} ${failingCount} failing`);
  },
});
if (process.stderr.isTTY) process.stderr.write('\n');
if (failing.length > 0) {
  process.stdout.write(`failing seeds: ${failing.join(' ')}\n`);
  for (const s of failing) process.stdout.write(`  ${replayCommand(REPLAY, spec, s)}\n`);
}
process.stdout.write(`(${((Date.now() - started) / 1000).toFixed(1)} s${workers > 1 ? `, ${workers} workers` : ''})\n`);
process.stdout.write(`sim: ${count} seeds, ${violations} violations\n`);
process.exit(violations > 0 ? 1 : 0);
