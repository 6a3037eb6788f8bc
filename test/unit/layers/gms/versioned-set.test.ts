import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VersionedSet } from '../../../../src/layers/gms/versioned-set.js';

describe('VersionedSet', () => {
  it('moves its version on every change, and only on a change', () => {
    const s = new VersionedSet<string>();
    assert.equal(s.version, 0);
    s.add('a');
    assert.equal(s.version, 1);
    s.add('a');
    assert.equal(s.version, 1, 'adding what is there changes nothing');
    assert.equal(s.delete('b'), false);
    assert.equal(s.version, 1, 'deleting what is not there changes nothing');
    assert.equal(s.delete('a'), true);
    assert.equal(s.version, 2);
    s.clear();
    assert.equal(s.version, 2, 'clearing an empty set changes nothing');
    s.add('x');
    s.clear();
    assert.equal(s.version, 4);
    assert.equal(s.size, 0);
  });

  it('is still a Set to its readers', () => {
    const s = new VersionedSet(['a', 'b']);
    assert.equal(s.version, 0, 'what the constructor puts in is where counting starts');
    s.add('c');
    assert.equal(s.version, 1);
    assert.deepEqual([...s], ['a', 'b', 'c']);
    assert.ok(s.has('b'));
  });
});
