import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simCommand, simSpecOf } from '../../../src/cli/sim-cmd.js';
import { replayCommand } from '../../../src/sim/seed-runner.js';

describe('horus sim --scenario news', () => {
  it('runs the News workload over seeds, replays one of them, and refuses flags it does not take', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const sink = (a: string[]) => ({ write: (s: string) => a.push(s) > 0 }) as unknown as NodeJS.WritableStream;
    const tty = (a: string[]) => Object.assign(sink(a), { isTTY: false });
    assert.equal(await simCommand({ seeds: 2, first: 1, scenario: 'news', faults: 'all' }, sink(out), tty(err)), 0);
    assert.equal(out.join('').trimEnd().split('\n').at(-1), 'sim: 2 seeds, 0 violations');
    out.length = 0;
    assert.equal(await simCommand({ seeds: 1, seed: 2, first: 1, scenario: 'news', nodes: 3 }, sink(out), tty(err)), 0);
    assert.match(out.join(''), /seed 2: 3 nodes, \d+ postings, \d+ events, 0 violations\nhistory hash [0-9a-f]{64}/);
    assert.equal(await simCommand({ seeds: 1, first: 1, scenario: 'news', security: 'pki' }, sink(out), tty(err)), 2);
    assert.match(err.join(''), /--scenario news takes only/);
    assert.equal(
      replayCommand('npm run sim --', simSpecOf({ seeds: 1, first: 1, scenario: 'news', loss: 0.01 }), 9),
      'npm run sim -- --seed 9 --scenario news --loss 0.01',
    );
  });
});
