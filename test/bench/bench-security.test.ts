import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { benchSecurity, prepareBenchSecurity } from '../../bench/lib/security.js';
import { loadSecurity } from '../../src/security/security-config.js';

describe('bench --security', () => {
  for (const mode of ['pki', 'psk'] as const) {
    it(`${mode}: the members get a setting that loads, and the clean-up removes it and its files`, async () => {
      const cleanUp = await prepareBenchSecurity(mode);
      const { security } = benchSecurity();
      assert.equal(security?.mode, mode);
      assert.equal(loadSecurity(security!).mode, mode);
      const files = Object.values(security!).filter((v): v is string => typeof v === 'string' && v.startsWith('/'));
      assert.ok(files.length > 0);
      cleanUp();
      assert.deepEqual(benchSecurity(), {});
      for (const f of files) assert.equal(existsSync(f), false);
    });
  }

  it('off: nothing to hand over', async () => {
    const cleanUp = await prepareBenchSecurity('off');
    assert.deepEqual(benchSecurity(), {});
    cleanUp();
  });
});
