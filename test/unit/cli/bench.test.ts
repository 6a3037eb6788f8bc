import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from './helpers.js';

const FAKE = fileURLToPath(new URL('./fixtures/fake-bench.ts', import.meta.url));

describe('horus bench', { concurrency: true }, () => {
  it('runs the script through tsx: arguments, output, exit code and progress pass through', async () => {
    const r = await runCli(['bench', '--script', FAKE, '--progress', '--filter', 'fbcast', '--exit', '3']);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { args: ['--filter', 'fbcast', '--exit', '3'], progressEnv: '1' });
    assert.match(r.stderr, /bench: starting\n/);
    assert.match(r.stderr, /bench \[#{24}\] 2\/2 second case/, 'progress lines become the bar');
    assert.doesNotMatch(r.stderr, /^progress 1\/2/m);
  });

  it('says when the benchmark script does not exist (exit 2)', async () => {
    const r = await runCli(['bench', '--script', '/nonexistent/run.ts']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "horus bench: benchmark script /nonexistent/run.ts does not exist (the benchmarks come with Horus's source repository, not the installed package)\n",
    );
  });
});
