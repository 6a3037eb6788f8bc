// --compare: each case of this run against the same case of a saved run, by the case's headline
// figure (lib/results.ts), as a ratio oriented so that > 1 is better; worse than 1 - threshold is a regression.
import { readFileSync } from 'node:fs';
import { headline, type BenchResult, type DerivedFigure } from './results.js';

/** The JSON document a run prints (and --out saves). */
export interface BenchRun {
  machine: Record<string, unknown>;
  startedAt: string;
  totalS: number;
  scale: number;
  results: BenchResult[];
  derived: DerivedFigure[];
  comparison?: Comparison;
}

export interface CaseComparison {
  id: string;
  metric: string;
  better: 'higher' | 'lower';
  baseline: number;
  current: number;
  /** current / baseline, the raw ratio of the figure. */
  ratio: number;
  /** The ratio oriented so that > 1 means better (baseline / current for a 'lower is better' figure). */
  speedup: number;
  regression: boolean;
}

export interface Comparison {
  baselineFile: string;
  baselineStartedAt: string;
  threshold: number;
  cases: CaseComparison[];
  /** Case ids in one run only. */
  onlyInBaseline: string[];
  onlyInCurrent: string[];
  regressions: number;
}

export function loadRun(file: string): BenchRun {
  const text = readFileSync(file, 'utf8');
  // Tolerate progress lines before the document (a redirected `npm run bench` may carry npm's banner).
  const doc = JSON.parse(text.slice(text.indexOf('{'))) as Partial<BenchRun>;
  if (!Array.isArray(doc.results)) throw new Error(`${file} is not a saved bench run (no "results" list)`);
  return { machine: {}, startedAt: '', totalS: 0, scale: 1, derived: [], ...doc, results: doc.results.map(withKind) };
}

/** Runs saved before results carried `kind` are recognised by their fields. */
function withKind(r: BenchResult): BenchResult {
  if ('kind' in r && r.kind !== undefined) return r;
  const x = r as unknown as Record<string, unknown>;
  const kind =
    'msgsPerSecPerMember' in x
      ? 'throughput'
      : 'rounds' in x
        ? 'round-trip'
        : 'victim' in x
          ? 'crash-to-view'
          : 'stateBytes' in x
            ? 'state-transfer'
            : 'load-latency';
  return { ...x, kind } as unknown as BenchResult;
}

const r3 = (x: number): number => Number(x.toFixed(3));

export function compareRuns(current: readonly BenchResult[], baseline: BenchRun, baselineFile: string, threshold: number): Comparison {
  const base = new Map(baseline.results.map((r) => [r.id, r]));
  const cases: CaseComparison[] = [];
  for (const r of current) {
    const b = base.get(r.id);
    if (b === undefined || b.kind !== r.kind) continue;
    const h = headline(r);
    const hb = headline(b);
    const ratio = hb.value === 0 ? NaN : h.value / hb.value;
    const speedup = h.better === 'higher' ? ratio : 1 / ratio;
    cases.push({
      id: r.id,
      metric: h.metric,
      better: h.better,
      baseline: hb.value,
      current: h.value,
      ratio: r3(ratio),
      speedup: r3(speedup),
      regression: Number.isFinite(speedup) && speedup < 1 - threshold,
    });
  }
  const ids = new Set(current.map((r) => r.id));
  return {
    baselineFile,
    baselineStartedAt: baseline.startedAt,
    threshold,
    cases,
    onlyInBaseline: baseline.results.map((r) => r.id).filter((id) => !ids.has(id)),
    onlyInCurrent: current.map((r) => r.id).filter((id) => !base.has(id)),
    regressions: cases.filter((c) => c.regression).length,
  };
}

/** A table for people: one line per case. */
export function formatComparison(c: Comparison): string {
  const lines = [`compared with ${c.baselineFile} (${c.baselineStartedAt || 'undated'}); regression: worse by more than ${Math.round(c.threshold * 100)}%`];
  const w = Math.max(4, ...c.cases.map((x) => x.id.length));
  lines.push(`${'case'.padEnd(w)}  ${'figure'.padEnd(20)} ${'before'.padStart(10)} ${'now'.padStart(10)}  ratio  better×`);
  for (const x of c.cases) {
    const fig = `${x.metric} (${x.better === 'higher' ? '↑' : '↓'})`;
    const flag = x.regression ? '  REGRESSION' : '';
    lines.push(
      `${x.id.padEnd(w)}  ${fig.padEnd(20)} ${String(x.baseline).padStart(10)} ${String(x.current).padStart(10)}  ${x.ratio.toFixed(2).padStart(5)}  ${x.speedup.toFixed(2).padStart(6)}${flag}`,
    );
  }
  if (c.onlyInBaseline.length > 0) lines.push(`not run now: ${c.onlyInBaseline.join(', ')}`);
  if (c.onlyInCurrent.length > 0) lines.push(`not in the baseline: ${c.onlyInCurrent.join(', ')}`);
  lines.push(`${c.regressions} regression(s) in ${c.cases.length} case(s)`);
  return lines.join('\n');
}
