// The benchmark's pure parts: case selection, comparison of runs, derived figures, flame graphs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CASES, selectCases } from '../../bench/cases.js';
import { compareRuns, formatComparison, loadRun, type BenchRun } from '../../bench/lib/compare.js';
import { flameGraphSvg, foldProfile, shareByFile, topSelf, type CpuProfile } from '../../bench/lib/flamegraph.js';
import { deriveFigures, type BenchResult, type RoundTripResult, type ThroughputResult } from '../../bench/lib/results.js';

function tp(id: string, rate: number): ThroughputResult {
  return {
    kind: 'throughput',
    id,
    op: 'fbcast',
    members: 3,
    size: 100,
    api: 'cast',
    messagesPerSender: 1,
    msgsPerSecPerMember: rate,
    remoteMsgsPerSecPerMember: rate,
    payloadMiBPerSecPerMember: 0,
    p50Ms: 1,
    p99Ms: 1,
    maxMs: 1,
    latencySamples: 1,
    durationS: 1,
    cpuSecPerMillionDeliveries: 1,
    peakRssMiB: 1,
    retransmissions: 0,
    fcBlockedTotal: 0,
    violations: 0,
  };
}

function rtt(id: string, p50Ms: number): RoundTripResult {
  return {
    kind: 'round-trip',
    id,
    op: 'fbcast',
    members: 3,
    size: 100,
    rounds: 10,
    p50Ms,
    p99Ms: p50Ms,
    meanMs: p50Ms,
    selfP50Ms: 0,
    selfP99Ms: 0,
    durationS: 1,
  };
}

const run = (results: BenchResult[]): BenchRun => ({ machine: {}, startedAt: '2026-12-01T00:00:00.000Z', totalS: 1, scale: 1, results, derived: [] });

describe('bench case selection', () => {
  it('keeps the README case name valid', () => {
    assert.deepEqual(
      selectCases(CASES, 'fbcast-3-rtt').map((c) => c.id),
      ['fbcast-3-rtt'],
    );
  });
  it('selects an exact id alone, other terms by substring, several terms by comma', () => {
    assert.deepEqual(
      selectCases(CASES, 'abcast-3-100B').map((c) => c.id),
      ['abcast-3-100B'],
    );
    const rtts = selectCases(CASES, 'rtt').map((c) => c.id);
    assert.deepEqual(rtts, ['fbcast-3-rtt', 'abcast-3-rtt', 'safe-abcast-3-rtt']);
    assert.deepEqual(
      selectCases(CASES, 'fbcast-9-100B, fbcast-3-100B').map((c) => c.id),
      ['fbcast-3-100B', 'fbcast-9-100B'],
    );
  });
  it('has every figure issue 10 names', () => {
    const ids = new Set(CASES.map((c) => c.id));
    for (const op of ['fbcast', 'cbcast', 'abcast']) for (const size of ['100B', '1KiB']) assert.ok(ids.has(`${op}-3-${size}`), `${op}-3-${size}`);
    for (const id of ['fbcast-3-rtt', 'abcast-3-rtt', 'safe-abcast-3-rtt', 'fbcast-5-100B', 'fbcast-7-100B', 'fbcast-9-100B', 'cbcast-5-100B'])
      assert.ok(ids.has(id), id);
    assert.ok(CASES.some((c) => c.kind === 'load-latency' && c.members === 3 && c.loadFraction === 0.5));
    assert.ok(CASES.some((c) => c.kind === 'crash-to-view'));
    assert.ok(CASES.some((c) => c.kind === 'state-transfer' && c.stateBytes === 100 * 1024 * 1024));
    assert.equal(ids.size, CASES.length, 'ids are unique');
  });
});

describe('bench comparison', () => {
  it('orients ratios so that > 1 is better and flags what is worse beyond the threshold', () => {
    const base = run([tp('a', 100_000), rtt('b', 0.5), tp('gone', 1)]);
    const cmp = compareRuns([tp('a', 80_000), rtt('b', 0.25), tp('new', 1)], base, 'base.json', 0.1);
    const a = cmp.cases.find((c) => c.id === 'a')!;
    const b = cmp.cases.find((c) => c.id === 'b')!;
    assert.equal(a.ratio, 0.8);
    assert.equal(a.speedup, 0.8);
    assert.equal(a.regression, true);
    assert.equal(b.ratio, 0.5);
    assert.equal(b.speedup, 2);
    assert.equal(b.regression, false);
    assert.equal(cmp.regressions, 1);
    assert.deepEqual(cmp.onlyInBaseline, ['gone']);
    assert.deepEqual(cmp.onlyInCurrent, ['new']);
    const text = formatComparison(cmp);
    assert.match(text, /^a\s.*0\.80.*REGRESSION$/m);
    assert.match(text, /^b\s.*0\.50\s+2\.00$/m);
  });
  it('does not flag a change within the threshold', () => {
    const cmp = compareRuns([tp('a', 95_000)], run([tp('a', 100_000)]), 'base.json', 0.1);
    assert.equal(cmp.regressions, 0);
  });
});

describe('bench derived figures', () => {
  it('computes the scale and cbcast ratios against their aims', () => {
    const d = deriveFigures([tp('fbcast-3-100B', 90_000), tp('fbcast-9-100B', 27_000), tp('cbcast-3-100B', 72_000)]);
    const scale = d.find((x) => x.id === 'fbcast-scale-9v3')!;
    assert.equal(scale.value, 0.3);
    assert.equal(scale.meetsAim, false);
    const causal = d.find((x) => x.id === 'cbcast-vs-fbcast-3')!;
    assert.equal(causal.value, 0.8);
    assert.equal(causal.meetsAim, false);
    assert.equal(
      d.find((x) => x.id === 'cbcast-vs-fbcast-5'),
      undefined,
      'no figure without both cases',
    );
  });
});

describe('flame graphs from V8 CPU profiles', () => {
  // (root) -> main -> { hot (30 self), cold (10 self) }, and (idle) with 100 samples.
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, hitCount: 0, children: [2, 5] },
      { id: 2, callFrame: { functionName: 'main', url: 'file:///x/horus/src/api/group.ts', lineNumber: 9 }, hitCount: 2, children: [3, 4] },
      { id: 3, callFrame: { functionName: 'hot', url: 'file:///x/horus/src/layers/NAK.ts', lineNumber: 99 }, hitCount: 30 },
      { id: 4, callFrame: { functionName: '', url: 'node:internal/streams', lineNumber: 0 }, hitCount: 10 },
      { id: 5, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 }, hitCount: 100 },
    ],
  };
  it('folds stacks root first, names frames by function and file, and leaves idle out', () => {
    const folded = foldProfile(profile);
    assert.deepEqual(
      new Map(folded),
      new Map([
        ['main src/api/group.ts:10', 2],
        ['main src/api/group.ts:10;hot src/layers/NAK.ts:100', 30],
        ['main src/api/group.ts:10;(anonymous) node:internal/streams', 10],
      ]),
    );
    assert.deepEqual(
      topSelf(folded, 1).map((t) => [t.frame, t.samples, t.share]),
      [['hot src/layers/NAK.ts:100', 30, Number((30 / 42).toFixed(4))]],
    );
  });
  it('draws one rectangle per frame, widths in proportion to samples', () => {
    const svg = flameGraphSvg(foldProfile(profile), { title: 'a <test>', width: 1020 });
    assert.match(svg, /^<\?xml/);
    assert.match(svg, /a &#60;test&#62;/);
    const widths = new Map(
      [...svg.matchAll(/<title>([^<]+?) \((\d+) samples[^<]*<\/title><rect [^>]*width="([\d.]+)"/g)].map((m) => [m[1]!.trim(), Number(m[3])]),
    );
    assert.equal(widths.size, 4, 'all, main, hot, anonymous');
    assert.equal(widths.get('all'), 1000);
    assert.ok(Math.abs(widths.get('hot src/layers/NAK.ts:100')! - (1000 * 30) / 42) < 0.01);
  });
});

describe('time by source file', () => {
  it('splits self and inclusive shares by the file a frame is in', () => {
    const folded = new Map([
      ['main src/api/group.ts;hot src/layers/NAK.ts', 30],
      ['main src/api/group.ts;(anonymous) node:internal/streams', 10],
      ['(garbage collector)', 10],
      ['main src/api/group.ts;writeBuffer', 50],
    ]);
    const by = new Map(shareByFile(folded).map((f) => [f.file, f]));
    assert.deepEqual(by.get('src/layers/NAK.ts'), { file: 'src/layers/NAK.ts', self: 0.3, inclusive: 0.3 });
    assert.deepEqual(by.get('src/api/group.ts'), { file: 'src/api/group.ts', self: 0, inclusive: 0.9 });
    assert.equal(by.get('native')!.self, 0.5);
    assert.equal(by.get('(garbage collector)')!.self, 0.1);
    assert.equal(by.get('node:internal/streams')!.self, 0.1);
    assert.equal(shareByFile(folded)[0]!.file, 'native', 'most self time first');
  });
});

describe('saved runs', () => {
  it('reads a run saved before results carried their kind (and npm banner lines before the JSON)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    try {
      const file = join(dir, 'old.json');
      const old = {
        startedAt: 'x',
        scale: 1,
        results: [{ id: 'fbcast-3-rtt', op: 'fbcast', members: 3, size: 100, rounds: 10, p50Ms: 0.22, p99Ms: 1, meanMs: 0.3, durationS: 1 }],
      };
      writeFileSync(file, '\n> horus@0.1.0 bench\n> tsx bench/run.ts\n\n' + JSON.stringify(old));
      const r = loadRun(file);
      assert.equal(r.results[0]!.kind, 'round-trip');
      const cmp = compareRuns([rtt('fbcast-3-rtt', 0.11)], r, file, 0.1);
      assert.equal(cmp.cases[0]!.speedup, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
