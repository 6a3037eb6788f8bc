// The seed's applications as examples (issue 14 item 4), run as the README says: real processes on
// loopback, a member killed with SIGKILL in the middle. Each example checks its own outcome (the
// replicas' digests; the dataflow's result against a failure-free run) and exits non-zero otherwise.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { scriptCommand } from '../../src/cli/spawn.js';

describe("the seed's applications as examples, on real processes", () => {
  for (const name of ['replicated-files', 'dataflow']) {
    it(`${name} survives a member's SIGKILL and passes its own check`, () => {
      const script = fileURLToPath(new URL(`../../examples/${name}/run.ts`, import.meta.url));
      const { command, args } = scriptCommand(script, []);
      const r = spawnSync(command, args, { encoding: 'utf8', timeout: 180_000 });
      assert.equal(r.status, 0, `examples/${name} failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
    });
  }
});
