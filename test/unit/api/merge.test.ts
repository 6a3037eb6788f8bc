import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMergeControl, encodeMergeControl, mergeKey, MergedKeys, mergePolicies, MAX_MERGE_KEYS, recordFromItsSide } from '../../../src/api/merge.js';
import { pack } from '../../../src/codec/payload.js';

const view = { group: 'g', id: 7, members: ['a:1/1', 'b:1/1~2'] };
const input = (mine: unknown, theirs: unknown) => ({ mine, theirs, view, theirView: view });

describe('merging the sides of a partitionable group', () => {
  it('lastWriterWins keeps the higher version per key, ties to the senior side; pick and seniorWins choose a side', () => {
    const lww = mergePolicies.lastWriterWins<{ v: number; x: string }>((e) => e.v);
    const merged = lww(
      input(
        { a: { v: 2, x: 'mine' }, b: { v: 1, x: 'mine' }, c: { v: 5, x: 'mine' } },
        { a: { v: 1, x: 'theirs' }, b: { v: 3, x: 'theirs' }, c: { v: 5, x: 'theirs' }, d: { v: 0, x: 'theirs' } },
      ),
    );
    assert.deepEqual(merged, { a: { v: 2, x: 'mine' }, b: { v: 3, x: 'theirs' }, c: { v: 5, x: 'mine' }, d: { v: 0, x: 'theirs' } });
    assert.deepEqual(mergePolicies.pick<number[]>((m, t) => (t.length > m.length ? 'theirs' : 'mine'))(input([1], [1, 2])), [1, 2]);
    assert.deepEqual(mergePolicies.seniorWins()(input('m', 't')), 'm');
  });

  it('control messages round-trip, and anything malformed or out of bounds decodes to null', () => {
    const marker = { t: 'marker' as const, into: ['a:1/1'] };
    assert.deepEqual(decodeMergeControl(encodeMergeControl(marker)), marker);
    const rec = decodeMergeControl(encodeMergeControl({ t: 'record', was: view, enc: 1, state: Buffer.from([1, 2]) }));
    assert.equal(rec?.t, 'record');
    assert.equal(decodeMergeControl(Buffer.from([0xc1, 0xff])), null, 'not MessagePack');
    assert.equal(decodeMergeControl(pack({ t: 'marker', into: [] })), null, 'nobody to merge into');
    assert.equal(decodeMergeControl(pack({ t: 'marker', into: ['x'.repeat(300)] })), null, 'an id over the limit');
    assert.equal(decodeMergeControl(pack({ t: 'record', was: view, enc: 9, state: Buffer.alloc(1) })), null, 'an unknown encoding');
    assert.equal(decodeMergeControl(pack({ t: 'marker', into: ['a:1/1'], extra: 1 })), null, 'an unknown field');
    assert.equal(decodeMergeControl(pack({ t: 'view', members: ['a'] })), null, 'an unknown kind');
  });

  it("a record speaks for its sender's own side only, keyed by that side's last view", () => {
    assert.ok(recordFromItsSide('b:1/1~3', view), 'b rejoined under a new membership: still its side');
    assert.ok(!recordFromItsSide('c:1/1', view));
    assert.equal(mergeKey(view), '7@a:1/1');
  });

  it('the merged keys travel with the state, bounded, and a malformed wrapper throws', () => {
    const k = new MergedKeys();
    for (let i = 0; i < MAX_MERGE_KEYS + 10; i++) k.add(`k${i}`);
    assert.ok(!k.has('k0') && k.has(`k${MAX_MERGE_KEYS + 9}`), 'the oldest are forgotten');
    const joiner = new MergedKeys();
    const inner = joiner.unwrap(k.wrap(1, Buffer.from([9, 9])));
    assert.deepEqual([inner.encoding, [...inner.state]], [1, [9, 9]]);
    assert.ok(joiner.has(`k${MAX_MERGE_KEYS + 9}`));
    assert.throws(() => new MergedKeys().unwrap(pack({ k: 'nope', e: 0, s: Buffer.alloc(0) })));
  });
});
