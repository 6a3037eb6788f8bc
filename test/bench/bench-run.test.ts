// `npm run bench` end to end at a tiny scale: one case, under --profile (so the flame graph path is
// exercised too), saved with --out; then --compare of two saved runs prints a ratio per case.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BenchRun } from '../../bench/lib/compare.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = join(ROOT, 'bench', 'run.ts');
mkdirSync(join(ROOT, 'test-results'), { recursive: true });
const dir = mkdtempSync(join(ROOT, 'test-results', 'bench-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const bench = (args: string[]): Promise<{ stdout: string; stderr: string }> =>
  run(process.execPath, ['--import', 'tsx', BENCH, ...args], { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });

describe('npm run bench', () => {
  it('runs a case at a tiny scale, prints and saves its JSON, profiles it as a flame graph, and --compare prints ratios', async () => {
    const out = join(dir, 'run.json');
    const prof = join(dir, 'prof');
    const r = await bench([
      '--profile',
      'fbcast-3-rtt',
      '--profile-dir',
      prof,
      '--profile-members',
      '0,2',
      '--profile-interval',
      '500',
      '--scale',
      '0.05',
      '--out',
      out,
    ]);
    const doc = JSON.parse(r.stdout) as BenchRun & { profile: { svg: string; top: { frame: string }[] } };
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), doc, '--out saves what stdout shows');
    assert.equal(doc.results.length, 1);
    const res = doc.results[0]!;
    assert.equal(res.id, 'fbcast-3-rtt');
    assert.equal(res.kind, 'round-trip');
    if (res.kind !== 'round-trip') return;
    assert.equal(res.members, 3);
    assert.ok(res.rounds >= 10);
    assert.ok(res.p50Ms > 0 && res.p50Ms <= res.p99Ms, `p50 ${res.p50Ms} <= p99 ${res.p99Ms}`);
    assert.equal(typeof doc.machine['cpus'], 'number');
    assert.ok(Array.isArray(doc.derived));
    // The flame graph: an SVG of all members' profiles, and the frames with the most self time.
    assert.ok(existsSync(doc.profile.svg), doc.profile.svg);
    assert.match(readFileSync(doc.profile.svg, 'utf8'), /<svg[^>]*>[\s\S]*<rect[\s\S]*<\/svg>/);
    assert.ok(doc.profile.top.length > 0);
    // --profile-members: only those members sampled.
    assert.deepEqual(
      [0, 1, 2].map((i) => existsSync(join(prof, `fbcast-3-rtt-member${i}.cpuprofile`))),
      [true, false, true],
    );

    // A saved "earlier" run where the round trip took twice as long: now is 2x better, no regression;
    // and the other way round, a regression.
    const slower = structuredClone(doc);
    const sr = slower.results[0]!;
    if (sr.kind === 'round-trip') sr.p50Ms = res.p50Ms * 2;
    const old = join(dir, 'old.json');
    writeFileSync(old, JSON.stringify(slower));
    const better = await bench(['--compare', old, '--with', out]);
    assert.match(better.stdout, /^fbcast-3-rtt\s+p50Ms \(↓\)\s+\S+\s+\S+\s+0\.50\s+2\.00$/m);
    assert.match(better.stdout, /0 regression\(s\) in 1 case/);
    const worse = await bench(['--compare', out, '--with', old, '--fail-on-regression']).then(
      () => assert.fail('--fail-on-regression exits non-zero on a regression'),
      (e: { code: number; stdout: string }) => e,
    );
    assert.equal(worse.code, 3);
    assert.match(worse.stdout, /^fbcast-3-rtt .*REGRESSION$/m);
  });

  it("reports what a delivery costs the kernel and the scheduler, and, beside the latency under load, the members' stalls", async () => {
    const r = await bench(['--filter', 'fbcast-3-100B,fbcast-3-half-100B', '--scale', '0.05']);
    const [tp, res] = (JSON.parse(r.stdout) as BenchRun).results;
    assert.equal(tp?.kind, 'throughput');
    if (tp?.kind !== 'throughput') return;
    const sys = tp.sysCpuSecPerMillionDeliveries!;
    assert.ok(sys > 0 && sys <= tp.cpuSecPerMillionDeliveries, `kernel ${sys} within CPU ${tp.cpuSecPerMillionDeliveries} s per million`);
    assert.ok(tp.voluntarySwitchesPerThousandDeliveries! >= 0 && tp.involuntarySwitchesPerThousandDeliveries! >= 0);
    // Members wait for input between frames: far fewer switches than deliveries (frames carry many).
    assert.ok(tp.voluntarySwitchesPerThousandDeliveries! < 1000, `${tp.voluntarySwitchesPerThousandDeliveries} switches per thousand deliveries`);

    assert.equal(res?.kind, 'load-latency');
    if (res?.kind !== 'load-latency') return;
    assert.equal(res.violations, 0);
    const { gcPauseMsPerSec, gcMaxPauseMs, gcMajorCollections, loopDelayP99Ms, loopDelayMaxMs, membersCpuCores, fcBlockedTotal, retransmissions } = res;
    for (const [k, v] of Object.entries({
      gcPauseMsPerSec,
      gcMaxPauseMs,
      gcMajorCollections,
      loopDelayP99Ms,
      loopDelayMaxMs,
      fcBlockedTotal,
      retransmissions,
    })) {
      assert.ok(typeof v === 'number' && v >= 0, `${k}: ${String(v)}`);
    }
    // Linux keeps each thread's time waiting for a core: at most the whole phase.
    if (process.platform === 'linux')
      assert.ok(res.runQueueWaitMsPerSec! >= 0 && res.runQueueWaitMsPerSec! <= 1000, `run-queue wait ${res.runQueueWaitMsPerSec} ms/s`);
    assert.ok(loopDelayMaxMs! >= loopDelayP99Ms!, `loop delay max ${loopDelayMaxMs} >= p99 ${loopDelayP99Ms}`);
    // The members delivered thousands of messages a second: they used CPU.
    assert.ok(membersCpuCores! > 0.01 && membersCpuCores! < 64, `cores ${membersCpuCores}`);
    // No collector time, no pause; a pause, some collector time.
    assert.equal(gcPauseMsPerSec === 0, gcMaxPauseMs === 0, `pauses ${gcPauseMsPerSec} ms/s, longest ${gcMaxPauseMs} ms`);
  });

  it('--rounds runs the cases again, keeps every round in the document and the median round as each result', async () => {
    const r = await bench(['--filter', 'fbcast-3-rtt,abcast-3-rtt', '--scale', '0.05', '--rounds', '3']);
    const doc = JSON.parse(r.stdout) as BenchRun & { rounds: { headlines: Record<string, number> }[] };
    assert.equal(doc.rounds.length, 3);
    assert.deepEqual(
      doc.results.map((x) => x.id),
      ['fbcast-3-rtt', 'abcast-3-rtt'],
    );
    for (const res of doc.results) {
      if (res.kind !== 'round-trip') return assert.fail(res.kind);
      const per = doc.rounds.map((x) => x.headlines[res.id]!).sort((a, b) => a - b);
      assert.equal(res.p50Ms, per[1], `${res.id}: the middle of ${per.join(', ')}`);
    }
    assert.equal((r.stderr.match(/bench: round \d of 3/g) ?? []).length, 3);
    for (const bad of [
      ['--rounds', '0'],
      ['--rounds', '1.5'],
      ['--rounds', '2', '--profile', 'fbcast-3-rtt'],
    ]) {
      await assert.rejects(bench(['--filter', 'fbcast-3-rtt', ...bad]), (e: { stderr?: string }) => /--rounds/.test(e.stderr ?? ''), bad.join(' '));
    }
  });

  it('--warmup-seconds and --measure-seconds size a throughput case by time, from the rate seen, not by its count', async () => {
    const r = await bench(['--filter', 'fbcast-3-100B', '--scale', '0.01', '--warmup-seconds', '1', '--measure-seconds', '1']);
    const [tp] = (JSON.parse(r.stdout) as BenchRun).results;
    assert.equal(tp?.kind, 'throughput');
    if (tp?.kind !== 'throughput') return;
    // The case's own count at this scale is 3000 a sender; sized by time, it is a second at the rate
    // seen (usually far more, but less on a machine loaded enough: CI once saw 1239 a second).
    assert.notEqual(tp.messagesPerSender, 3000, 'sized by the case count, not by time');
    assert.ok(tp.timedWarmupS! >= 1 && tp.timedWarmupS! < 30, `warm-up ${tp.timedWarmupS} s`);
    assert.ok(tp.durationS > 0.2 && tp.durationS < 10, `measured ${tp.durationS} s`);
    assert.match(r.stderr, /fbcast-3-100B: warm-up for 1 s more/);
    for (const bad of [
      ['--warmup-seconds', '-1'],
      ['--measure-seconds', '0'],
      ['--measure-seconds', 'x'],
    ]) {
      await assert.rejects(bench(['--filter', 'fbcast-3-100B', ...bad]), (e: { stderr?: string }) => /seconds/.test(e.stderr ?? ''), bad.join(' '));
    }
  });

  it('runs two orders in alternating phases on one cluster and derives their ratio from the pairs', async () => {
    const r = await bench(['--filter', 'cbcast-vs-fbcast-interleaved-3', '--scale', '0.05']);
    const doc = JSON.parse(r.stdout) as BenchRun;
    const [il] = doc.results;
    assert.equal(il?.kind, 'interleaved');
    if (il?.kind !== 'interleaved') return;
    assert.equal(il.pairRatios.length, 2);
    assert.deepEqual([il.num.op, il.den.op], ['cbcast', 'fbcast']);
    assert.equal(il.num.phaseRates.length, 2);
    assert.ok(il.num.msgsPerSecPerMember > 0 && il.den.msgsPerSecPerMember > 0);
    assert.equal(il.violations, 0);
    const derived = doc.derived.find((d) => d.id === 'cbcast-vs-fbcast-interleaved-3');
    assert.equal(derived?.value, il.ratio);
    assert.equal(derived?.aim, 0.9);
  });
});
