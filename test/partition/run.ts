// `npm run partition-test`: every real-partition scenario, N times, then a table and a JSON summary.
//   tsx test/partition/run.ts [--runs 5] [--only primary-isolated,together] [--cut sink|blackhole]
//                             [--cut-ms 15000] [--seed S] [--keep] [--json out.json] [--log-level warn]
//                             [--nice=-5] [--quiet]
// Needs root and iproute2 (network namespaces); without them it says why and exits 0 (skipped).
// Exit status: 0 when every run of every scenario passed, 1 otherwise.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { netnsUnavailable, removeStaleLabs, type CutMode } from '../../bench/lib/netns.js';
import { EXTRA_SCENARIOS, SCENARIOS as DEFAULT_SCENARIOS, type ScenarioOptions, type ScenarioResult } from './scenarios.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    only: { type: 'string' },
    cut: { type: 'string', default: 'sink' },
    'cut-ms': { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
    quiet: { type: 'boolean', default: false },
    nice: { type: 'string' },
  },
});

const why = netnsUnavailable();
if (why !== null) {
  console.log(`partition-test: SKIPPED: ${why}`);
  process.exit(0);
}
const stale = removeStaleLabs();
if (stale.length > 0) console.error(`partition-test: removed ${stale.length} namespaces left by a killed run`);

const runs = Number(values.runs);
const SCENARIOS = { ...DEFAULT_SCENARIOS, ...EXTRA_SCENARIOS };
const names = values.only !== undefined ? values.only.split(',') : Object.keys(DEFAULT_SCENARIOS);
for (const n of names) if (!(n in SCENARIOS)) throw new Error(`unknown scenario ${n} (have ${Object.keys(SCENARIOS).join(', ')})`);
if (values.cut !== 'sink' && values.cut !== 'blackhole') throw new Error('--cut is sink or blackhole');
const opts: ScenarioOptions = {
  cut: values.cut as CutMode,
  keep: values.keep,
  logLevel: values['log-level'] as 'warn',
  ...(values['cut-ms'] !== undefined ? { cutMs: Number(values['cut-ms']) } : {}),
  ...(values.seed !== undefined ? { seed: Number(values.seed) } : {}),
  ...(values.nice !== undefined ? { nice: Number(values.nice) } : {}),
  ...(values.quiet ? {} : { log: (l: string) => console.error(`${new Date().toISOString().slice(11, 23)} ${l}`) }),
};

const results: ScenarioResult[] = [];
for (let r = 1; r <= runs; r++) {
  for (const n of names) {
    console.error(`--- run ${r}/${runs}: ${n}`);
    const res = await SCENARIOS[n]!(opts);
    results.push(res);
    if (!res.ok) for (const f of res.failures) console.error(`    ${f}`);
  }
}

// --- summary: per scenario, passes and the min / median / max of each timing
const med = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};
const summary = names.map((n) => {
  const rs = results.filter((x) => x.scenario.startsWith(n));
  const keys = [...new Set(rs.flatMap((x) => Object.keys(x.timings)))];
  const timings: Record<string, { min: number | null; median: number | null; max: number | null; missing: number }> = {};
  for (const k of keys) {
    const xs = rs.map((x) => x.timings[k]).filter((t): t is number => typeof t === 'number');
    timings[k] =
      xs.length === 0
        ? { min: null, median: null, max: null, missing: rs.length }
        : { min: Math.min(...xs), median: med(xs), max: Math.max(...xs), missing: rs.length - xs.length };
  }
  // Numbers the scenarios count (trades lost, founders, violations...), one value per run.
  const counts: Record<string, number[]> = {};
  for (const x of rs)
    for (const [k, v] of Object.entries(x.info))
      if (typeof v === 'number' && !['events', 'sends', 'deliveries', 'seed', 'viewsAfterHeal', 'loadAtStart'].includes(k)) (counts[k] ??= []).push(v);
  return { scenario: n, runs: rs.length, passed: rs.filter((x) => x.ok).length, timings, counts };
});
console.log('');
console.log('scenario           pass   timing                          min     med     max (ms)');
for (const s of summary) {
  const keys = Object.keys(s.timings);
  const counts = Object.entries(s.counts).map(([k, v]) => `${k} ${v.join('/')}`);
  console.log(`${s.scenario.padEnd(18)} ${`${s.passed}/${s.runs}`.padEnd(6)} ${counts.join(', ')}`);
  for (const k of keys) {
    const t = s.timings[k]!;
    const miss = t.missing > 0 ? `  (not reached in ${t.missing})` : '';
    const cell = (x: number | null): string => String(x ?? '-').padStart(7);
    console.log(`${''.padEnd(25)} ${k.padEnd(28)} ${cell(t.min)} ${cell(t.median)} ${cell(t.max)}${miss}`);
  }
}
const failed = results.filter((x) => !x.ok);
for (const f of failed) console.log(`FAILED ${f.scenario} (${f.dir}): ${f.failures.slice(0, 3).join(' / ')}`);
const out = { when: new Date().toISOString(), cut: opts.cut, runs, summary, results };
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(out, null, 2));
console.log(JSON.stringify({ summary }));
process.exit(failed.length === 0 ? 0 : 1);
