import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildProgram } from '../../../src/cli/program.js';
import { simCommand } from '../../../src/cli/sim-cmd.js';
import { runCli } from './helpers.js';

describe('horus sim', { concurrency: true }, () => {
  it('runs seeds, draws a progress bar on stderr with --progress, ends with the summary line', async () => {
    const r = await runCli(['sim', '--seeds', '2', '--first', '7', '--nodes', '2', '--messages', '10', '--progress']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /sim \[#{24}\] 2\/2 seeds, 0 failing/);
    assert.equal(r.stdout.trimEnd().split('\n').at(-1), 'sim: 2 seeds, 0 violations');
  });

  it('replays one seed and prints its hashes', async () => {
    const r = await runCli(['sim', '--seed', '5', '--nodes', '2', '--messages', '10']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^seed 5: 2 nodes, \d+ sent, \d+ delivered, \d+ virtual ms, 0 violations$/m);
    assert.match(r.stdout, /^history hash [0-9a-f]{64}$/m);
  });

  it('rejects a loss probability out of range (exit 2)', async () => {
    const r = await runCli(['sim', '--loss', '2']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /option '--loss <p>' argument '2' is invalid\. expected a number from 0 to 0\.5\./);
  });

  it('rejects --seed together with --seeds', async () => {
    const program = buildProgram();
    const errors: string[] = [];
    program.commands.find((c) => c.name() === 'sim')!.configureOutput({ writeErr: (s) => errors.push(s) });
    await assert.rejects(program.parseAsync(['node', 'horus', 'sim', '--seed', '1', '--seeds', '4']), /cannot be used with option '--seed <s>'/);
    assert.match(errors.join(''), /cannot be used with/);
  });

  it('prints no progress bar when stderr is not a terminal', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const sink = (a: string[]) => ({ write: (s: string) => a.push(s) > 0 }) as unknown as NodeJS.WritableStream;
    const code = await simCommand({ seeds: 2, first: 1, nodes: 2, messages: 10, faults: false }, sink(out), Object.assign(sink(err), { isTTY: false }));
    assert.equal(code, 0);
    assert.deepEqual(err, []);
    assert.equal(out.join('').trimEnd().split('\n').at(-1), 'sim: 2 seeds, 0 violations');
  });
});
