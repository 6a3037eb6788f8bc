import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simCommand, simSpecOf, type SimFlags } from '../../src/cli/sim-cmd.js';
import { replayCommand } from '../../src/sim/seed-runner.js';
import { withoutTiming } from './sim-cli-helper.js';

function sink(lines: string[]): NodeJS.WritableStream & { isTTY: boolean } {
  return { write: (s: string) => lines.push(s) > 0, isTTY: false } as unknown as NodeJS.WritableStream & { isTTY: boolean };
}

describe('horus sim --workers', () => {
  it('reports the same seeds in the same order with one worker or two, ending with the summary line', async () => {
    const flags: SimFlags = { seeds: 4, first: 2, nodes: 2, messages: 10, faults: false };
    const one: string[] = [];
    const two: string[] = [];
    assert.equal(await simCommand(flags, sink(one), sink([])), 0);
    assert.equal(await simCommand({ ...flags, workers: 2 }, sink(two), sink([])), 0);
    assert.equal(two.join('').trimEnd().split('\n').at(-1), 'sim: 4 seeds, 0 violations');
    assert.match(two.join(''), /^\(\d+\.\d s, 2 workers\)$/m);
    assert.equal(withoutTiming(two.join('')), withoutTiming(one.join('')));
  });

  it('replays with `horus sim` and every flag that selects the run', () => {
    const spec = simSpecOf({ seeds: 1, first: 1, faults: 'all', nodes: 5, loss: 0.01, duration: 8000, adversary: 'member', messages: 3 });
    assert.equal(replayCommand('horus sim', spec, 9), 'horus sim --seed 9 --faults all --loss 0.01 --nodes 5 --duration 8000 --adversary member');
    assert.equal(replayCommand('horus sim', simSpecOf({ seeds: 1, first: 1, faults: false, messages: 3 }), 4), 'horus sim --seed 4 --messages 3 --no-faults');
  });
});
