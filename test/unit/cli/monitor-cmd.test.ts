import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildProgram, exitCodeOf } from '../../../src/cli/program.js';
import { monitorRule, runMonitorServe } from '../../../src/cli/monitor-cmd.js';

/** Parses `args` in this process (no action runs); the exit code `horus` would give, null if it parsed. */
async function parse(args: string[]): Promise<{ code: number | null; out: string }> {
  let out = '';
  const write = process.stderr.write.bind(process.stderr);
  const writeOut = process.stdout.write.bind(process.stdout);
  process.stderr.write = (() => true) as typeof process.stderr.write;
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    const program = buildProgram();
    for (const c of program.commands.find((x) => x.name() === 'monitor')!.commands) c.action(() => {});
    await program.parseAsync(['node', 'horus', ...args]);
    return { code: null, out };
  } catch (e) {
    return { code: exitCodeOf(e), out };
  } finally {
    process.stderr.write = write;
    process.stdout.write = writeOut;
  }
}

describe('horus monitor', () => {
  it('has --help for every subcommand; bad arguments exit 2', async () => {
    for (const sub of ['serve', 'report', 'rule', 'rules', 'history']) {
      const r = await parse(['monitor', sub, '--help']);
      assert.equal(r.code, 0, sub);
      assert.match(r.out, new RegExp(`Usage: horus monitor ${sub}`));
    }
    for (const args of [
      ['monitor', 'report', '--connect', '127.0.0.1:7301', 'load', 'high'],
      ['monitor', 'report', 'load', '1'],
      ['monitor', 'serve', '--rule', 'when max(x) > 1 then log'],
      ['monitor', 'history', '--connect', 'nowhere'],
    ])
      assert.equal((await parse(args)).code, 2, args.join(' '));
    assert.equal((await parse(['monitor', 'report', '--connect', '127.0.0.1:7301', 'load', '-3.5'])).code, null);
  });

  it('a rule that does not parse is a usage error before anything connects or starts', async () => {
    const flags = { connect: ['127.0.0.1:1'], group: 'monitor', timeoutMs: 100 };
    const e1 = await monitorRule('when avg(x > 1 then log', flags, () => {}).catch((e: unknown) => e);
    assert.equal(exitCodeOf(e1), 2);
    const e2 = await runMonitorServe(
      { listen: '127.0.0.1:1', seeds: [], group: 'm', rules: ['when x then y'], admin: false, logLevel: 'silent' },
      () => {},
    ).catch((e: unknown) => e);
    assert.equal(exitCodeOf(e2), 2);
  });
});
