import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkSubject, SubjectPattern } from '../../../../src/services/news/subject.js';

const match = (pattern: string, subject: string): boolean => new SubjectPattern(pattern).matches(subject);

describe('news subjects and patterns', () => {
  it('a literal pattern matches only its own subject', () => {
    assert.equal(match('orders.eu', 'orders.eu'), true);
    assert.equal(match('orders.eu', 'orders.eu.paris'), false);
    assert.equal(match('orders.eu', 'orders'), false);
  });

  it('"*" matches exactly one token, anywhere', () => {
    assert.equal(match('orders.*', 'orders.eu'), true);
    assert.equal(match('orders.*', 'orders'), false);
    assert.equal(match('orders.*', 'orders.eu.paris'), false);
    assert.equal(match('*.eu.*', 'orders.eu.paris'), true);
    assert.equal(match('*.eu.*', 'orders.us.paris'), false);
  });

  it('">" matches one or more trailing tokens', () => {
    assert.equal(match('orders.>', 'orders.eu'), true);
    assert.equal(match('orders.>', 'orders.eu.paris.left'), true);
    assert.equal(match('orders.>', 'orders'), false);
    assert.equal(match('>', 'anything.at.all'), true);
    assert.equal(match('*.>', 'a'), false);
    assert.equal(match('*.>', 'a.b'), true);
  });

  it('refuses malformed subjects and patterns with ERR_INVALID_ARGUMENT', () => {
    for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a\nb', 'x'.repeat(257), 'a.*', 'a.>', 'a*b'])
      assert.throws(() => checkSubject(bad), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(bad));
    for (const bad of ['', 'a.>.b', '>.a', 'a.b*', 'a.>x', 'a..*', 42 as unknown as string])
      assert.throws(() => new SubjectPattern(bad), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(bad));
    assert.equal(checkSubject('orders.eu-west_1.ü'), 'orders.eu-west_1.ü');
  });
});
