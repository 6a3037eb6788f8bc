import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HorusError } from '../../../src/core/errors.js';
import { loadSecurity } from '../../../src/security/security-config.js';

const dir = mkdtempSync(join(tmpdir(), 'horus-secconf-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const code = (c: string) => (e: unknown) => e instanceof HorusError && e.code === c;

describe('loading a security setting', () => {
  it('psk: a secret file of mode 0600 loads; one others can read, a short one, or none is refused', () => {
    const good = join(dir, 'good');
    writeFileSync(good, 'sixteen or more bytes of secret\n', { mode: 0o600 });
    const sec = loadSecurity({ mode: 'psk', secretFile: good });
    assert.equal(sec.mode === 'psk' && sec.secret.toString(), 'sixteen or more bytes of secret');
    const open = join(dir, 'open');
    writeFileSync(open, 'sixteen or more bytes of secret', { mode: 0o644 });
    assert.throws(() => loadSecurity({ mode: 'psk', secretFile: open }), code('ERR_AUTH'));
    const short = join(dir, 'short');
    writeFileSync(short, 'tiny', { mode: 0o600 });
    assert.throws(() => loadSecurity({ mode: 'psk', secretFile: short }), code('ERR_AUTH'));
    assert.throws(() => loadSecurity({ mode: 'psk', secretFile: join(dir, 'missing') }), code('ERR_AUTH'));
    assert.throws(() => loadSecurity({ mode: 'psk', secret: Buffer.from('short') }), code('ERR_CONFIG'));
  });

  it('pki: files that do not exist are ERR_AUTH; no trust anchor is ERR_CONFIG', () => {
    assert.throws(() => loadSecurity({ mode: 'pki', key: join(dir, 'k'), cert: join(dir, 'c'), ca: ['x'] }), code('ERR_AUTH'));
    assert.throws(() => loadSecurity({ mode: 'pki', key: 'k', cert: 'c' }), code('ERR_CONFIG'));
    assert.deepEqual(loadSecurity({ mode: 'off' }), { mode: 'off' });
  });
});
