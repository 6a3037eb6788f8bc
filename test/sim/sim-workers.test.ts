import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeFailure, replayCommand, runSeeds, type SeedOutcome, type SimSpec } from '../../src/sim/seed-runner.js';
import { runSimCli, withoutTiming } from './sim-cli-helper.js';

async function outcomes(spec: SimSpec, first: number, count: number, workers: number): Promise<SeedOutcome[]> {
  const got: SeedOutcome[] = [];
  await runSeeds(spec, { first, count, workers, onOutcome: (o) => got.push(o) });
  return got;
}

describe('sim --workers', () => {
  it('runs the same seeds to the same histories in worker threads, reported in seed order', async () => {
    const spec: SimSpec = { scenario: 'vsync', durationMs: 4000, nodes: 3 };
    const inline = await outcomes(spec, 11, 4, 1);
    const spread = await outcomes(spec, 11, 4, 3);
    assert.deepEqual(
      spread.map((o) => o.seed),
      [11, 12, 13, 14],
    );
    assert.ok(inline.every((o) => /^[0-9a-f]{64}$/.test(o.historyHash ?? '')));
    assert.deepEqual(spread, inline);
  });

  it('prints the same lines with one worker or several, ending with the summary line', async () => {
    const args = ['--seeds', '5', '--first', '3', '--nodes', '3', '--messages', '20'];
    const one = await runSimCli([...args, '--workers', '1']);
    const three = await runSimCli([...args, '--workers', '3']);
    assert.equal(one.code, 0, one.stdout + one.stderr);
    assert.equal(three.code, 0, three.stdout + three.stderr);
    assert.equal(three.stdout.trimEnd().split('\n').at(-1), 'sim: 5 seeds, 0 violations');
    assert.match(three.stdout, /^\(\d+\.\d s, 3 workers\)$/m);
    assert.equal(withoutTiming(three.stdout), withoutTiming(one.stdout));
  });

  it('names a failing seed with the command that replays it, every flag included', async () => {
    const spec: SimSpec = { scenario: 'vsync', loss: 0.02, nodes: 4, durationMs: 4000 };
    const [o] = await outcomes(spec, 21, 1, 1);
    const failing: SeedOutcome = { ...o!, violationCount: 1, violations: [{ property: 'liveness', detail: 'made up for the test' }] };
    const text = describeFailure(failing, spec, 'npm run sim --');
    assert.match(text, /^seed 21: 1 violations, first: liveness: made up for the test$/m);
    const cmd = replayCommand('npm run sim --', spec, 21);
    assert.equal(cmd, 'npm run sim -- --seed 21 --faults all --loss 0.02 --nodes 4 --duration 4000');
    assert.ok(text.includes(`  replay: ${cmd}\n`));
    // The command really replays it: same history.
    const replay = await runSimCli(cmd.replace('npm run sim -- ', '').split(' '));
    assert.equal(replay.code, 0, replay.stdout + replay.stderr);
    assert.ok(replay.stdout.includes(`history hash ${o!.historyHash}\n`), replay.stdout);
  });

  it('rejects a bad --workers or --adversary (exit 2)', async () => {
    const a = await runSimCli(['--seeds', '2', '--workers', '0']);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /--workers must be a number in \[1, 256\]/);
    const b = await runSimCli(['--seeds', '2', '--adversary', 'martian', '--faults', 'all']);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--adversary takes "stranger" or "member"/);
  });
});
