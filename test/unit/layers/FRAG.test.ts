import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { simGroup } from '../../helpers/sim-group.js';
import { SeededRng } from '../../../src/core/rng.js';

function digest(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

describe('FRAG', () => {
  it('carries a 64 MiB message over 60 KiB fragments intact', () => {
    const s = simGroup(2, 'FRAG:NAK:COM', { loss: 0.02 });
    const big = Buffer.alloc(64 * 1024 * 1024);
    const rng = new SeededRng(5);
    for (let i = 0; i < big.length; i += 4096) big[i] = rng.int(0, 255);
    void s.groups[0]!.fbcast(big);
    s.world.runFor(30_000);
    assert.equal(s.delivered[1]!.length, 1);
    const got = s.delivered[1]![0]!.raw;
    assert.equal(got.length, big.length);
    assert.equal(digest(got), digest(big));
  });

  it('interleaves small and large messages from several senders in FIFO order', () => {
    const s = simGroup(3, [{ name: 'FRAG', options: { fragSize: 1000 } }, 'NAK', 'COM'], { loss: 0.05 });
    const sizes = [10, 5000, 0, 999, 1000, 1001, 30000, 3];
    s.groups.forEach((g) => sizes.forEach((n, i) => void g.fbcast(Buffer.alloc(n, i))));
    s.world.runFor(5000);
    for (const list of s.delivered) {
      for (const src of s.endpoints) {
        assert.deepEqual(
          list.filter((d) => d.src === src).map((d) => d.raw.length),
          sizes,
        );
      }
    }
  });

  it('refuses a message over the 64 MiB limit with a typed error', async () => {
    const s = simGroup(2, 'FRAG:NAK:COM');
    await assert.rejects(
      async () => {
        await s.groups[0]!.fbcast(Buffer.alloc(64 * 1024 * 1024 + 128 * 1024));
      },
      { code: 'ERR_TOO_LARGE' },
    );
  });
});
