// The tools' examples, run as the README says: real processes on loopback, members killed with
// SIGKILL in the middle of requests. Each example checks its own outcome and exits non-zero when
// it does not hold (a request lost or applied twice, a stale token, a second answer).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { scriptCommand } from '../../src/cli/spawn.js';

const EXAMPLES = ['rpc', 'replicated-map', 'locks', 'counters', 'client-failover', 'primary-backup', 'coordinator-cohort'];

describe('tools examples on real processes', () => {
  for (const name of EXAMPLES) {
    it(`${name} runs to its own success check`, () => {
      const script = fileURLToPath(new URL(`../../examples/${name}/run.ts`, import.meta.url));
      const { command, args } = scriptCommand(script, []);
      const r = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `examples/${name} failed:\n${r.stdout}\n${r.stderr.slice(-2000)}`);
    });
  }
});
