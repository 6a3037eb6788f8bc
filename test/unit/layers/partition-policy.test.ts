import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Quorum, withPartitionPolicy } from '../../../src/layers/partition-policy.js';
import { DYNAMIC_STACK, DEFAULT_STACK } from '../../../src/layers/index.js';
import { parseStackSpec } from '../../../src/stack/stack.js';

const five = ['a:1/x', 'b:1/x', 'c:1/x', 'd:1/x', 'e:1/x'];
const inSet =
  (...ms: string[]) =>
  (m: string) =>
    ms.includes(m);

describe('partition policy rules', () => {
  it('majority: more than half of the counted members; replaced members count neither way', () => {
    const q = new Quorum();
    assert.equal(q.holds(five, inSet('a:1/x', 'b:1/x', 'c:1/x')), true);
    assert.equal(q.holds(five, inSet('a:1/x', 'b:1/x')), false);
    // Two of the five replaced: two of the other three are a majority.
    assert.equal(q.holds(five, inSet('a:1/x', 'b:1/x'), new Set(['d:1/x', 'e:1/x'])), true);
  });

  it('static quorum: a majority and at least `size` members; a view below it may still change with everyone in', () => {
    const q = new Quorum({ kind: 'quorum', size: 4 });
    assert.equal(q.holds(five, inSet('a:1/x', 'b:1/x', 'c:1/x')), false, 'a majority but below 4');
    assert.equal(q.holds(five, inSet('a:1/x', 'b:1/x', 'c:1/x', 'd:1/x')), true);
    const two = five.slice(0, 2);
    assert.equal(q.quorate(two), false);
    assert.equal(
      q.mayChange(two, () => true),
      true,
      'everyone of a small view may grow it',
    );
    assert.equal(q.mayChange(two, inSet('a:1/x')), false);
  });

  it('weights: by endpoint, any incarnation or later membership of it; the default for the rest', () => {
    const q = new Quorum({ kind: 'weights', weights: { 'a:1': 3 }, defaultWeight: 1 });
    assert.equal(q.weightOf('a:1/x'), 3);
    assert.equal(q.weightOf('a:1/y~2'), 3);
    assert.equal(q.weightOf('b:1/x'), 1);
    assert.equal(q.holds(five, inSet('a:1/x', 'b:1/x')), true, '4 of 7');
    assert.equal(q.holds(five, inSet('c:1/x', 'd:1/x', 'e:1/x')), false, '3 of 7');
    assert.equal(
      new Quorum({ kind: 'weights', weights: {}, defaultWeight: 0 }).holds(five, () => true),
      false,
      'no weight at all: never',
    );
  });

  it('leaseEnd: the latest time the rule still holds from the others’ lease ends, or ±Infinity', () => {
    const ends = new Map([
      ['b:1/x', 100],
      ['c:1/x', 300],
      ['d:1/x', 200],
    ]);
    const endOf = (m: string) => ends.get(m);
    assert.equal(new Quorum().leaseEnd(five, 'a:1/x', endOf), 200, 'majority: us and the two latest');
    assert.equal(new Quorum({ kind: 'quorum', size: 4 }).leaseEnd(five, 'a:1/x', endOf), 100, 'four: us and three');
    assert.equal(new Quorum({ kind: 'quorum', size: 5 }).leaseEnd(five, 'a:1/x', endOf), -Infinity, 'e never echoed');
    assert.equal(new Quorum({ kind: 'weights', weights: { 'a:1': 9 } }).leaseEnd(five, 'a:1/x', endOf), Infinity, 'a outweighs all');
    assert.equal(new Quorum().leaseEnd(['a:1/x'], 'a:1/x', endOf), Infinity);
  });

  it('a bad policy is refused when parsed', () => {
    assert.throws(() => new Quorum({ kind: 'quorum', size: 0 }));
    assert.throws(() => new Quorum({ kind: 'weights', weights: { a: 1.5 } }));
    assert.throws(() => new Quorum({ kind: 'other' } as never));
  });

  it('withPartitionPolicy gives GMS and FD the same policy, leaves the spec alone without one, and refuses a fixed stack', () => {
    assert.equal(withPartitionPolicy(DYNAMIC_STACK, undefined), DYNAMIC_STACK);
    const layers = parseStackSpec(withPartitionPolicy(DYNAMIC_STACK, { kind: 'quorum', size: 3 }));
    for (const name of ['GMS', 'FD']) assert.deepEqual(layers.find((l) => l.name === name)?.options?.partition, { kind: 'quorum', size: 3 }, name);
    assert.throws(() => withPartitionPolicy(DEFAULT_STACK, { kind: 'majority' }), { code: 'ERR_CONFIG' });
    assert.throws(() => withPartitionPolicy(DYNAMIC_STACK, { kind: 'quorum', size: -1 }), { code: 'ERR_CONFIG' });
  });
});
