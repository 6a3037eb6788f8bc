import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HorusError } from '../../../src/core/errors.js';
import { generateEd25519, loadPrivateKey, loadPublicKey, publicKeyId, writeKeyPair } from '../../../src/security/keys.js';

const dir = mkdtempSync(join(tmpdir(), 'horus-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const isAuth = (e: unknown): boolean => e instanceof HorusError && e.code === 'ERR_AUTH';

describe('key files', () => {
  it('writes the private key with mode 0600 and loads the same key back', async () => {
    const file = join(dir, 'node.key');
    const pair = await writeKeyPair(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const loaded = loadPrivateKey(file);
    assert.equal(publicKeyId(loaded.publicKey), publicKeyId(pair.publicKey));
    assert.equal(publicKeyId(loadPublicKey(`${file}.pub`)), publicKeyId(pair.publicKey));
  });

  it('never overwrites an existing key file', async () => {
    const file = join(dir, 'twice.key');
    await writeKeyPair(file);
    await assert.rejects(writeKeyPair(file), (e: unknown) => e instanceof HorusError && e.code === 'ERR_CONFIG' && /exists/.test(e.message));
  });

  it('refuses a private key file that group or others can read', async () => {
    const file = join(dir, 'open.key');
    await writeKeyPair(file);
    chmodSync(file, 0o644);
    assert.throws(
      () => loadPrivateKey(file),
      (e: unknown) => isAuth(e) && /chmod 600/.test((e as Error).message),
    );
    chmodSync(file, 0o640);
    assert.throws(() => loadPrivateKey(file), isAuth);
  });

  it('a missing, malformed or non-Ed25519 key file is ERR_AUTH naming the file', () => {
    assert.throws(
      () => loadPrivateKey(join(dir, 'nope.key')),
      (e: unknown) => isAuth(e) && /does not exist/.test((e as Error).message),
    );
    const garbage = join(dir, 'garbage.key');
    writeFileSync(garbage, 'not a key at all', { mode: 0o600 });
    assert.throws(
      () => loadPrivateKey(garbage),
      (e: unknown) => isAuth(e) && (e as Error).message.includes(garbage),
    );
    const pub = join(dir, 'public-as-private.key');
    writeFileSync(pub, publicKeyId(generateEd25519().publicKey), { mode: 0o600 });
    assert.throws(() => loadPrivateKey(pub), isAuth);
  });

  it('a public key file that is not base64 of 32 bytes is refused', () => {
    const file = join(dir, 'bad.pub');
    writeFileSync(file, 'AAAA\n');
    assert.throws(() => loadPublicKey(file), isAuth);
  });
});
