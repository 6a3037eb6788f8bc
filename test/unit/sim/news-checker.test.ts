import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkNews, type NewsEvent, type NewsPostingRecord } from '../../../src/sim/checkers/news.js';
import { ViolationList } from '../../../src/sim/checkers/violation.js';

/** Six postings: a.1 b.1 a.2 a.3 b.2 a.4 */
const truth: NewsPostingRecord[] = ['a', 'b', 'a', 'a', 'b', 'a'].map((subject, i, all) => ({
  pos: i + 1,
  subject,
  seq: all.slice(0, i + 1).filter((s) => s === subject).length,
  publisher: `p${i % 2}`,
  id: i + 1,
}));

const run = (ev: NewsEvent[]): string[] => {
  const v = new ViolationList();
  checkNews([...ev, { k: 'truth', at: 99, postings: truth }], v);
  return v.items.map((x) => x.property);
};
const deliver = (sub: string, ...pos: number[]): NewsEvent[] => pos.map((p) => ({ k: 'deliver', at: 1, sub, p: truth[p - 1]! }));

describe('the News checker', () => {
  it('accepts back issues, then the stream, for a late subscriber', () => {
    const start: NewsEvent = { k: 'sub-start', at: 0, sub: 's', pattern: 'a', back: 2, start: 3 };
    assert.deepEqual(run([start, ...deliver('s', 1, 3, 4, 6)]), []);
  });

  it('finds a gap at the seam, a duplicate, and a subscriber that stopped short', () => {
    const start: NewsEvent = { k: 'sub-start', at: 0, sub: 's', pattern: 'a', back: 2, start: 3 };
    assert.deepEqual(run([start, ...deliver('s', 1, 3, 6)]), ['news-gap']);
    assert.deepEqual(run([start, ...deliver('s', 1, 3, 3, 4, 6)]), ['news-duplicate-delivery']);
    assert.deepEqual(run([start, ...deliver('s', 1, 3, 4)]), ['news-gap']);
    assert.deepEqual(run([start, ...deliver('s', 1, 3, 4), { k: 'sub-end', at: 2, sub: 's' }]), [], 'one that stopped owes a prefix only');
  });

  it('finds a lost acknowledged posting, and a delivery the final order does not have', () => {
    assert.deepEqual(run([{ k: 'acked', at: 1, p: { ...truth[1]!, publisher: 'other' } }]), ['news-lost']);
    assert.deepEqual(run([{ k: 'acked', at: 1, p: { ...truth[5]!, pos: 7 } }]), ['news-lost']);
    const start: NewsEvent = { k: 'sub-start', at: 0, sub: 's', pattern: '>', back: 0, start: 5 };
    assert.deepEqual(run([start, { k: 'deliver', at: 1, sub: 's', p: { ...truth[5]!, subject: 'b' } }]), ['news-agreement']);
  });

  it('finds a posting posted twice and a hole in the final order', () => {
    const v = new ViolationList();
    const twice = [...truth, { ...truth[0]!, pos: 7, seq: 5 }];
    checkNews([{ k: 'truth', at: 0, postings: twice }], v);
    assert.deepEqual(
      v.items.map((x) => x.property),
      ['news-duplicate'],
    );
    const v2 = new ViolationList();
    checkNews([{ k: 'truth', at: 0, postings: truth.filter((p) => p.pos !== 2) }], v2);
    assert.ok(v2.items.some((x) => x.property === 'news-order'));
  });
});
