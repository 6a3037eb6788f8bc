import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newsLimits } from '../../../../src/services/news/news-options.js';
import { NewsStore, parsePubOp, type PubOp } from '../../../../src/services/news/news-store.js';
import { SubjectPattern } from '../../../../src/services/news/subject.js';

const all = new SubjectPattern('>');
const pub = (publisher: string, id: number, subject: string, at = 0, payload: unknown = id, acked = 0): PubOp => [
  'pub',
  publisher,
  id,
  acked,
  subject,
  at,
  payload,
];

describe('the news store', () => {
  it('numbers postings per subject and by position across subjects', () => {
    const s = new NewsStore(newsLimits());
    const r = [pub('m1', 1, 'a'), pub('m2', 1, 'b'), pub('m1', 2, 'a')].map((op) => s.apply(op, 10).result);
    assert.deepEqual(
      r.map((x) => [x.subject, x.seq, x.pos]),
      [
        ['a', 1, 1],
        ['b', 1, 2],
        ['a', 2, 3],
      ],
    );
    assert.equal(s.head, 3);
  });

  it('posts a retried publish once and answers it with the first place', () => {
    const s = new NewsStore(newsLimits());
    const first = s.apply(pub('client:c1', 7, 'a'), 10);
    s.apply(pub('m1', 1, 'a'), 10);
    const again = s.apply(pub('client:c1', 7, 'a'), 10);
    assert.equal(again.posting, null);
    assert.deepEqual(again.result, { ...first.result, duplicate: true });
    assert.equal(s.head, 2);
  });

  it('keeps the newest back issues per subject, by count, bytes and age', () => {
    const s = new NewsStore(newsLimits({ backIssues: 3, maxSubjectBytes: 1000, backIssueMs: 100 }));
    for (let i = 1; i <= 5; i++) s.apply(pub('m1', i, 'a', i), 10);
    assert.deepEqual(
      s.backIssues(all, 10).map((p) => p.seq),
      [3, 4, 5],
    );
    s.apply(pub('m1', 6, 'b', 6), 900);
    s.apply(pub('m1', 7, 'b', 7), 900); // over the subject's bytes: b keeps one
    assert.deepEqual(
      s.backIssues(new SubjectPattern('b'), 10).map((p) => p.seq),
      [2],
    );
    s.apply(pub('m1', 8, 'c', 500), 10); // a and b are more than 100 ms older than the newest posting
    assert.deepEqual(
      s.backIssues(all, 10).map((p) => p.subject),
      ['c'],
    );
    assert.equal(s.seqOf('a'), 5, 'a subject keeps its sequence when its back issues are gone');
  });

  it('keeps the total under maxTotalBytes, dropping the oldest postings first', () => {
    const s = new NewsStore(newsLimits({ maxTotalBytes: 4096 }));
    for (let i = 1; i <= 100; i++) s.apply(pub('m1', i, `s${i % 7}`), 200);
    assert.ok(s.bytes <= 4096, `${s.bytes} bytes kept`);
    const kept = s.backIssues(all, 1000).map((p) => p.pos);
    assert.ok(kept.length > 5);
    assert.deepEqual(
      kept,
      Array.from({ length: kept.length }, (_, i) => 101 - kept.length + i),
      'the newest are kept, without a hole',
    );
  });

  it('serves postings after a position by pattern, within a byte budget, and says how far it looked', () => {
    const s = new NewsStore(newsLimits());
    for (let i = 1; i <= 10; i++) s.apply(pub('m1', i, i % 2 ? 'odd.x' : 'even.x'), 100);
    const odd = new SubjectPattern('odd.*');
    assert.deepEqual(
      s.after(4, odd, 10_000).postings.map((p) => p.pos),
      [5, 7, 9],
    );
    assert.equal(s.after(4, odd, 10_000).next, 10);
    const part = s.after(0, odd, 150);
    assert.deepEqual(
      part.postings.map((p) => p.pos),
      [1],
    );
    assert.equal(part.next, 1);
    assert.equal(s.after(12, odd, 10_000).next, 12, 'a reader ahead of this replica keeps its place');
  });

  it('a snapshot restores the same state: same back issues, sequences and retry answers', () => {
    const a = new NewsStore(newsLimits({ backIssues: 2 }));
    for (let i = 1; i <= 6; i++) a.apply(pub(i % 2 ? 'client:c' : 'm1', i, `t.${i % 3}`, i), 20);
    const b = new NewsStore(newsLimits({ backIssues: 2 }));
    b.restore(structuredClone(a.snapshot()));
    assert.deepEqual(b.snapshot(), a.snapshot());
    assert.deepEqual(b.apply(pub('client:c', 5, 't.2'), 20).result, a.apply(pub('client:c', 5, 't.2'), 20).result);
    assert.deepEqual(b.apply(pub('m1', 7, 't.1', 7), 20).result, a.apply(pub('m1', 7, 't.1', 7), 20).result);
    assert.throws(() => b.restore({ v: 2 }), { code: 'ERR_STATE_TRANSFER' });
  });

  it('refuses a member posting in the name of another, and malformed operations', () => {
    assert.throws(() => parsePubOp(pub('m2', 1, 'a'), 'm1'), { code: 'ERR_MALFORMED' });
    assert.doesNotThrow(() => parsePubOp(pub('client:x', 1, 'a'), 'm1'));
    for (const bad of [
      ['pub', 'm1', 0, 0, 'a', 0, 1],
      ['pub', 'm1', 1, -1, 'a', 0, 1],
      ['pub', 'm1', 1, 0, 'a.*', 0, 1],
      ['pub', 'm1', 1, 0, 'a', Number.NaN, 1],
      ['pub', 'm1', 1, 0, 'a', 0],
      'pub',
    ])
      assert.throws(() => parsePubOp(bad, 'm1'), { code: 'ERR_MALFORMED' }, JSON.stringify(bad));
  });

  it('refuses a posting over maxPostingBytes with ERR_TOO_LARGE', () => {
    const s = new NewsStore(newsLimits({ maxPostingBytes: 1024 }));
    assert.throws(() => s.apply(pub('m1', 1, 'a'), 10_000), { code: 'ERR_TOO_LARGE' });
    assert.equal(s.head, 0);
  });

  it('bad limits are ERR_CONFIG', () => {
    assert.throws(() => newsLimits({ backIssues: -1 }), { code: 'ERR_CONFIG' });
    assert.throws(() => newsLimits({ nonsense: 1 } as never), { code: 'ERR_CONFIG' });
  });
});

describe('the news store stream window', () => {
  it('keeps the last streamWindow postings for streams beyond the back issues, then lets them go', () => {
    const s = new NewsStore(newsLimits({ backIssues: 1, streamWindow: 5 }));
    for (let i = 1; i <= 12; i++) s.apply(pub('m1', i, 'a', 0, i), 10);
    assert.deepEqual(
      s.backIssues(all, 10).map((p) => p.pos),
      [12],
      'one back issue',
    );
    assert.deepEqual(
      s.after(0, all, 1e9).postings.map((p) => p.pos),
      [8, 9, 10, 11, 12],
      'the stream still has the last five',
    );
    assert.equal(s.bytes, 5 * 10 + 1 + 64);
    const b = new NewsStore(newsLimits({ backIssues: 1, streamWindow: 5 }));
    b.restore(structuredClone(s.snapshot()));
    assert.deepEqual(b.snapshot(), s.snapshot());
    s.apply(pub('m1', 13, 'a'), 10);
    b.apply(pub('m1', 13, 'a'), 10);
    assert.deepEqual(b.snapshot(), s.snapshot(), 'a restored replica drops the same postings');
    assert.deepEqual(
      b.after(0, all, 1e9).postings.map((p) => p.pos),
      [9, 10, 11, 12, 13],
    );
  });

  it('keeps an old back issue past the window, and drops it from the stream once it stops being one', () => {
    const s = new NewsStore(newsLimits({ backIssues: 2, streamWindow: 2 }));
    s.apply(pub('m1', 1, 'rare'), 10);
    for (let i = 2; i <= 6; i++) s.apply(pub('m1', i, 'busy'), 10);
    assert.deepEqual(
      s.after(0, all, 1e9).postings.map((p) => p.pos),
      [1, 5, 6],
    );
    s.apply(pub('m1', 7, 'rare'), 10);
    s.apply(pub('m1', 8, 'rare'), 10);
    assert.deepEqual(
      s.after(0, all, 1e9).postings.map((p) => p.pos),
      [5, 6, 7, 8],
      'rare#1 left the back issues outside the window: gone; busy 5 and 6 are still back issues',
    );
  });
});
