// The News example on real processes: three members on loopback, the one a subscriber outside the
// group talks to killed with SIGKILL mid-stream; the example checks that every posting reached the
// subscriber once, back issues first, in the log's order, and exits non-zero otherwise.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { scriptCommand } from '../../src/cli/spawn.js';

describe('News example on real processes', () => {
  it('a subscriber outside the group gets every posting once across a kill -9 of its member', () => {
    const script = fileURLToPath(new URL('../../examples/news/run.ts', import.meta.url));
    const { command, args } = scriptCommand(script, []);
    const r = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `examples/news failed:\n${r.stdout}\n${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /kill -9 .*, the member the client talks to/);
    assert.match(r.stdout, /each once and in order: true/);
  });
});
