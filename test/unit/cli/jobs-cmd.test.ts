import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildProgram, exitCodeOf } from '../../../src/cli/program.js';
import { jobsSubmit, type JobsSubmitFlags } from '../../../src/cli/jobs-cmd.js';

/** Parses `args` in this process; the exit code `horus` would give a parse error (null: it parsed), and what it printed. */
async function parse(args: string[]): Promise<{ code: number | null; err: string; out: string }> {
  let err = '';
  let out = '';
  const write = process.stderr.write.bind(process.stderr);
  const writeOut = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    const program = buildProgram();
    // Stop before any action runs: only the parsing is under test.
    for (const c of program.commands.find((x) => x.name() === 'jobs')!.commands) c.action(() => {});
    await program.parseAsync(['node', 'horus', ...args]);
    return { code: null, err, out };
  } catch (e) {
    return { code: exitCodeOf(e), err, out };
  } finally {
    process.stderr.write = write;
    process.stdout.write = writeOut;
  }
}

const flags: JobsSubmitFlags = {
  connect: ['127.0.0.1:1'],
  group: 'jobs',
  timeoutMs: 100,
  needs: [],
  cpus: 0,
  memory: 0,
  restart: 'on-failure',
  maxFailures: 5,
  windowS: 30,
};

describe('horus jobs', () => {
  it('has --help for every subcommand (exit 0)', async () => {
    for (const sub of ['serve', 'submit', 'list', 'cancel']) {
      const r = await parse(['jobs', sub, '--help']);
      assert.equal(r.code, 0, sub);
      assert.match(r.out, new RegExp(`Usage: horus jobs ${sub}`));
    }
  });

  it('bad arguments are usage errors (exit 2)', async () => {
    const bad: string[][] = [
      ['jobs', 'submit', '--connect', '127.0.0.1:7101', '--restart', 'sometimes', '--', 'ls'],
      ['jobs', 'submit', '--connect', 'nowhere', '--', 'ls'],
      ['jobs', 'submit', '--connect', '127.0.0.1:7101', '--cpus', '-1', '--', 'ls'],
      ['jobs', 'submit', '--connect', '127.0.0.1:7101', '--max-failures', '0', '--', 'ls'],
      ['jobs', 'submit', '--', 'ls'],
      ['jobs', 'list'],
      ['jobs', 'cancel', '--connect', '127.0.0.1:7101'],
      ['jobs', 'serve', '--labels', 'a'],
      ['jobs', 'serve', '--listen', '127.0.0.1:7101', '--memory', 'lots'],
      ['jobs', 'serve', '--listen', '127.0.0.1:7101', '--lease-ms', '5'],
    ];
    for (const args of bad) assert.equal((await parse(args)).code, 2, args.join(' '));
  });

  it('parses a command after -- with its own options', async () => {
    const r = await parse(['jobs', 'submit', '--connect', '127.0.0.1:7101', '--needs', 'gpu', '--', 'python3', 'train.py', '--epochs', '3']);
    assert.equal(r.code, null, r.err);
  });

  it('submit refuses a command and a handler together, neither, and --args without --handler (exit 2, before connecting)', async () => {
    for (const [cmd, f] of [
      [['ls'], { ...flags, handler: 'h' }],
      [[], flags],
      [['ls'], { ...flags, args: '{}' }],
      [[], { ...flags, handler: 'h', args: '{not json' }],
    ] as const) {
      const err = await jobsSubmit([...cmd], f, () => {}).then(
        () => null,
        (e: unknown) => e,
      );
      assert.equal(exitCodeOf(err), 2, String(err));
    }
  });
});
