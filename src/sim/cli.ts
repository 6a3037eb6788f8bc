import { parseArgs } from 'node:util';
import { runScenario } from './scenario.js';
import { runVsyncScenario } from './scenario-vsync.js';

const USAGE = 'usage: npm run sim -- --seeds N [--faults all] [--loss P] [--nodes K] [--messages M] [--no-faults] [--first S]\n  --faults all: dynamic membership under crashes, restarts, pauses, partitions, leaves (virtual synchrony checks)\n  default: fixed membership fbcast under loss, pauses and partitions\n       npm run sim -- --seed S [--verbose]   (replay one seed; prints its history hash)';

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
const loss = num('loss', args.loss, 0, 0.5);
const nodes = num('nodes', args.nodes, 2, 64);
const messages = num('messages', args.messages, 1, 1_000_000);
if (args.faults !== undefined && args.faults !== 'all') fail(`--faults takes "all", got ${JSON.stringify(args.faults)}`);
const vsync = args.faults === 'all';
type Run = { nodes: number; sent: number; delivered: number; virtualMs: number; violationCount: number; violations: { property: string; detail: string }[]; historyHash: string; traceHash: string; faults?: string[] };
function run(seed: number, verbose = false): Run {
  if (vsync) return runVsyncScenario({ seed, ...(loss !== undefined ? { loss } : {}), ...(nodes !== undefined ? { nodes } : {}), verbose });
  return runScenario({ seed, ...common, verbose });
}
const common = { ...(loss !== undefined ? { loss } : {}), ...(nodes !== undefined ? { nodes } : {}), ...(messages !== undefined ? { messages } : {}), faults: !args['no-faults'] };

if (args.seed !== undefined) {
  const seed = num('seed', args.seed, 0, 2 ** 31 - 1)!;
  const r = run(seed, args.verbose ?? false);
  for (const f of r.faults ?? []) process.stdout.write(`  fault: ${f}\n`);
  for (const v of r.violations) process.stdout.write(`  ${v.property}: ${v.detail}\n`);
  process.stdout.write(`seed ${seed}: ${r.nodes} nodes, ${r.sent} sent, ${r.delivered} delivered, ${Math.round(r.virtualMs)} virtual ms, ${r.violationCount} violations\n`);
  process.stdout.write(`history hash ${r.historyHash}\ntrace hash ${r.traceHash}\n`);
  process.exit(r.violationCount > 0 ? 1 : 0);
}

const count = num('seeds', args.seeds ?? '100', 1, 10_000_000)!;
const first = num('first', args.first ?? '1', 0, 2 ** 31 - 1)!;
const failing: number[] = [];
let violations = 0;
const started = Date.now();
for (let s = first; s < first + count; s++) {
  let r;
  try {
    r = run(s);
  } catch (err) {
    violations++;
    failing.push(s);
    process.stdout.write(`seed ${s}: crashed: ${(err as Error).stack ?? String(err)}\n`);
    continue;
  }
  if (r.violationCount > 0) {
    violations += r.violationCount;
    failing.push(s);
    process.stdout.write(`seed ${s}: ${r.violationCount} violations, first: ${r.violations[0]?.property}: ${r.violations[0]?.detail}\n  replay: npm run sim -- --seed ${s}${vsync ? ' --faults all' : ''}${loss !== undefined ? ` --loss ${loss}` : ''}${nodes !== undefined ? ` --nodes ${nodes}` : ''}\n`);
  }
  if (process.stderr.isTTY && (s - first) % 10 === 0) process.stderr.write(`\rseed ${s - first + 1}/${count} ${failing.length} failing`);
}
if (process.stderr.isTTY) process.stderr.write('\n');
if (failing.length > 0) process.stdout.write(`failing seeds: ${failing.join(' ')}\n`);
process.stdout.write(`(${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
process.stdout.write(`sim: ${count} seeds, ${violations} violations\n`);
process.exit(violations > 0 ? 1 : 0);
