import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { buildProgram, exitCodeOf } from '../../../src/cli/program.js';
import { HorusError } from '../../../src/core/errors.js';
import { RemoteError } from '../../../src/cli/http-client.js';
import { BIN, runCli } from './helpers.js';

const COMMANDS = ['node', 'status', 'groups', 'view', 'demo', 'kv', 'sim', 'bench'];

function find(program: Command, path: string): Command {
  let c = program;
  for (const name of path.split(' ')) c = c.commands.find((x) => x.name() === name)!;
  assert.ok(c, `no command ${path}`);
  return c;
}

describe('horus (top level)', { concurrency: true }, () => {
  it('--help lists every command and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c}\\b`, 'm'), `--help should list ${c}`);
  });

  it('every command and subcommand has a description and help', () => {
    const program = buildProgram();
    for (const path of [...COMMANDS, 'kv get', 'kv put', 'kv del', 'kv list']) {
      const c = find(program, path);
      assert.ok(c.description().length > 10, `${path} needs a description`);
      assert.match(c.helpInformation(), new RegExp(`^Usage: horus ${path}`, 'm'));
    }
  });

  it('an unknown command is a usage error (exit 2)', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });

  it('bin/horus.mjs runs the TypeScript CLI without a build', async () => {
    const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    const code = await new Promise((r) => child.once('close', r));
    assert.equal(code, 0);
    assert.equal(out.trim(), version);
  });

  it('maps errors to exit codes: 2 for bad usage, 1 for failed operations', () => {
    assert.equal(exitCodeOf(new HorusError('ERR_INVALID_ARGUMENT', 'x')), 2);
    assert.equal(exitCodeOf(new HorusError('ERR_CONFIG', 'x')), 2);
    assert.equal(exitCodeOf(new HorusError('ERR_CLOSED', 'x')), 1);
    assert.equal(exitCodeOf(new RemoteError('ERR_INVALID_ARGUMENT', 'no key', 404)), 1);
    assert.equal(exitCodeOf(new Error('bug')), 1);
  });
});
