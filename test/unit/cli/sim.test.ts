import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../../../src/cli/program.js';
import { replayPrefix, simCommand } from '../../../src/cli/sim-cmd.js';
import { workersArg } from '../../../src/cli/sim-options.js';
import { envFor, runCli, type CliResult } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SIM_CLI = fileURLToPath(new URL('../../../src/sim/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** Runs a command (argv) from the repository and collects its output. */
function runIn(argv: readonly string[], timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: envFor({}), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `npm run sim -- ARGS` and the old entry point `src/sim/cli.ts ARGS`, besides `horus sim ARGS`. */
const viaNpm = (args: readonly string[]): Promise<CliResult> => runIn(['npm', 'run', '--silent', 'sim', '--', ...args]);
const viaSimCli = (args: readonly string[]): Promise<CliResult> => runIn([process.execPath, '--import', TSX, SIM_CLI, ...args]);

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

  it('runs the tools workload with --scenario tools, replays one of its seeds, and refuses flags it does not take', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const sink = (a: string[]) => ({ write: (s: string) => a.push(s) > 0 }) as unknown as NodeJS.WritableStream;
    const tty = (a: string[]) => Object.assign(sink(a), { isTTY: false });
    assert.equal(await simCommand({ seeds: 2, first: 1, scenario: 'tools', faults: 'all' }, sink(out), tty(err)), 0);
    assert.equal(out.join('').trimEnd().split('\n').at(-1), 'sim: 2 seeds, 0 violations');
    out.length = 0;
    assert.equal(await simCommand({ seeds: 1, seed: 2, first: 1, scenario: 'tools' }, sink(out), tty(err)), 0);
    assert.match(out.join(''), /seed 2: \d+ nodes, \d+ events, 0 violations\nhistory hash [0-9a-f]{64}/);
    assert.equal(await simCommand({ seeds: 1, first: 1, scenario: 'tools', adversary: 'member' }, sink(out), tty(err)), 2);
    assert.match(err.join(''), /--scenario tools takes only/);
  });

  it('refuses, for every scenario that brings its own faults, the fault flags it does not take', async () => {
    const err: string[] = [];
    const sink = { write: (s: string) => err.push(s) > 0 } as unknown as NodeJS.WritableStream;
    for (const scenario of ['jobs', 'monitor', 'tools', 'news', 'large'] as const) {
      for (const extra of [{ policy: 'quorum' }, { security: 'pki' }, { messages: 5 }, { adversary: 'member' }] as const) {
        err.length = 0;
        assert.equal(await simCommand({ seeds: 1, first: 1, scenario, ...extra }, sink, sink), 2, `${scenario} ${JSON.stringify(extra)}`);
        assert.match(err.join(''), new RegExp(`--scenario ${scenario} takes only`));
      }
    }
    err.length = 0;
    assert.equal(await simCommand({ seeds: 1, first: 1, scenario: 'large', duration: 5000 }, sink, sink), 2);
    assert.equal(err.join(''), 'horus sim: --scenario large takes only --seeds/--seed/--first, --loss, --nodes and --workers\n');
    err.length = 0;
    assert.equal(await simCommand({ seeds: 1, first: 1, scenario: 'large', faults: 'all' }, sink, sink), 2, 'large brings its own one fault');
  });
});

// One at a time: each case starts several processes, and the machine may be a loaded 2-core one.
describe('horus sim, npm run sim and src/sim/cli.ts: one command, one flag parser', () => {
  it('parses every flag alike through horus sim, npm run sim and src/sim/cli.ts: the same seed gives the same history', async () => {
    // Seed 1 starts its nodes together unless --no-start-together: the flag changes the run, the same way each way.
    const args = ['--seed', '1', '--faults', 'all', '--nodes', '3', '--duration', '4000', '--loss', '0.01', '--no-start-together'];
    const [horus, npm, simCli, together] = await Promise.all([
      runCli(['sim', ...args], { timeoutMs: 120_000 }),
      viaNpm(args),
      viaSimCli(args),
      runCli(['sim', ...args.slice(0, -1)], { timeoutMs: 120_000 }),
    ]);
    for (const r of [horus, npm, simCli, together]) assert.equal(r.code, 0, r.stdout + r.stderr);
    const hash = (r: CliResult): string => /^history hash ([0-9a-f]{64})$/m.exec(r.stdout)?.[1] ?? 'none';
    assert.equal(hash(npm), hash(horus));
    assert.equal(hash(simCli), hash(horus));
    assert.doesNotMatch(horus.stdout, /start together/);
    assert.match(together.stdout, /fault: 0 all nodes start together/);
    assert.notEqual(hash(together), hash(horus));
  });

  it('gives the same usage errors (exit 2) through each entry point', async () => {
    const cases: [string[], RegExp][] = [
      [['--seeds', '2', '--workers', '0'], /--workers must be a number in \[1, 256\]/],
      [['--seeds', '2', '--faults', 'all', '--adversary', 'martian'], /--adversary takes "stranger" or "member"/],
      [['--seeds', '2', '--faults', 'some'], /--faults takes "all"/],
      [['--seeds', '2', '--no-start-together'], /--no-start-together needs --faults all/],
      [['--seeds', '2', '--duration', '5000'], /--duration needs --faults all/],
      [['--seeds', '2', '--policy', 'quorum'], /--policy needs --faults all/],
      [['--seeds', '2', '--faults', 'all', '--policy', 'dictator'], /--policy takes "majority" or "quorum" or "weights"/],
    ];
    for (const [args, re] of cases) {
      const [a, b] = await Promise.all([runCli(['sim', ...args]), viaSimCli(args)]);
      assert.equal(a.code, 2, `horus sim ${args.join(' ')}: ${a.stderr}`);
      assert.equal(b.code, 2, `src/sim/cli.ts ${args.join(' ')}: ${b.stderr}`);
      assert.match(a.stderr, re);
      assert.match(b.stderr, re);
    }
  });

  it('takes --workers auto as one worker per core', () => {
    assert.equal(workersArg('auto'), availableParallelism());
    assert.equal(workersArg('3'), 3);
    assert.throws(() => workersArg('257'), /--workers must be/);
  });

  it('prints replay commands the way the run was started', () => {
    assert.equal(replayPrefix({ npm_lifecycle_event: 'sim' }), 'npm run sim --');
    assert.equal(replayPrefix({}), 'npx horus sim');
  });
});
