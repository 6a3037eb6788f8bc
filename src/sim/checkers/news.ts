import { ViolationList } from './violation.js';
import { SubjectPattern } from '../../services/news/subject.js';

/** A posting as the News workload records it: its place and its name (publisher, id). */
export interface NewsPostingRecord {
  pos: number;
  subject: string;
  seq: number;
  publisher: string;
  id: number;
}

/**
 * What the News workload records. The checker reads only this. `sub` names one subscriber (a
 * member's subscription, or a client's, resumed or not); `truth` is the total order as a member of
 * the final view holds it once the run settled (its back issues keep every posting in this run).
 */
export type NewsEvent =
  /** A subscriber started: its pattern, the back issues it asked for, and its start position. */
  | { k: 'sub-start'; at: number; sub: string; pattern: string; back: number; start: number }
  | { k: 'deliver'; at: number; sub: string; p: NewsPostingRecord }
  /** A publish was acknowledged to its publisher (its posting must survive). */
  | { k: 'acked'; at: number; p: NewsPostingRecord }
  /** The subscriber stopped before the end (its member crashed): it must have seen a prefix of its due. */
  | { k: 'sub-end'; at: number; sub: string }
  | { k: 'truth'; at: number; postings: NewsPostingRecord[] };

const key = (p: NewsPostingRecord): string => `${p.publisher}#${p.id}`;
const same = (a: NewsPostingRecord, b: NewsPostingRecord): boolean =>
  a.pos === b.pos && a.subject === b.subject && a.seq === b.seq && a.publisher === b.publisher && a.id === b.id;

/** What `sub` is due: the newest `back` postings of each matching subject at or before `start`, then every matching posting after it. */
function dueOf(truth: readonly NewsPostingRecord[], pattern: SubjectPattern, back: number, start: number): NewsPostingRecord[] {
  const mine = truth.filter((p) => pattern.matches(p.subject));
  const before = mine.filter((p) => p.pos <= start);
  const perSubject = new Map<string, NewsPostingRecord[]>();
  for (const p of before) {
    const l = perSubject.get(p.subject) ?? [];
    l.push(p);
    perSubject.set(p.subject, l);
  }
  const backIssues = [...perSubject.values()].flatMap((l) => (back > 0 ? l.slice(-back) : [])).sort((a, b) => a.pos - b.pos);
  return [...backIssues, ...mine.filter((p) => p.pos > start)];
}

/**
 * The News promises over a recorded run:
 * - one total order: the truth numbers positions 1, 2, 3 ... and each subject's postings 1, 2, 3 ...
 *   and every posting anyone received is the truth's posting at that position;
 * - no acknowledged posting is lost, none is posted twice (a retried publish);
 * - every subscriber that stays up receives exactly its due (back issues, then the stream: no gap,
 *   no duplicate at the seam, the same order as every other subscriber); one that stops received
 *   a prefix of it.
 */
export function checkNews(ev: readonly NewsEvent[], v: ViolationList): void {
  const truthEv = ev.find((e): e is Extract<NewsEvent, { k: 'truth' }> => e.k === 'truth');
  if (!truthEv) {
    v.add('news-liveness', 'no member of a final view to read the postings from');
    return;
  }
  const truth = truthEv.postings;
  const byPos = new Map<number, NewsPostingRecord>();
  const byKey = new Map<string, NewsPostingRecord>();
  const lastSeq = new Map<string, number>();
  truth.forEach((p, i) => {
    if (p.pos !== i + 1) v.add('news-order', `the truth has position ${p.pos} at index ${i} (a hole or a repeat)`);
    const s = (lastSeq.get(p.subject) ?? 0) + 1;
    if (p.seq !== s) v.add('news-order', `subject ${p.subject}: sequence ${p.seq} at position ${p.pos}, expected ${s}`);
    lastSeq.set(p.subject, p.seq);
    if (byKey.has(key(p))) v.add('news-duplicate', `posting ${key(p)} is at positions ${byKey.get(key(p))!.pos} and ${p.pos}`);
    byKey.set(key(p), p);
    byPos.set(p.pos, p);
  });
  for (const e of ev) {
    if (e.k === 'acked') {
      const t = byPos.get(e.p.pos);
      if (!t || !same(t, e.p))
        v.add('news-lost', `acknowledged posting ${key(e.p)} at position ${e.p.pos} (${e.p.subject}#${e.p.seq}) is not in the final order`);
    } else if (e.k === 'deliver') {
      const t = byPos.get(e.p.pos);
      if (!t || !same(t, e.p))
        v.add('news-agreement', `${e.sub} received ${key(e.p)} at position ${e.p.pos}, the final order has ${t ? key(t) : 'nothing'} there`);
    }
  }
  const starts = new Map<string, Extract<NewsEvent, { k: 'sub-start' }>>();
  const got = new Map<string, NewsPostingRecord[]>();
  const ended = new Set<string>();
  for (const e of ev) {
    if (e.k === 'sub-start') starts.set(e.sub, e);
    else if (e.k === 'deliver') {
      const l = got.get(e.sub) ?? [];
      l.push(e.p);
      got.set(e.sub, l);
    } else if (e.k === 'sub-end') ended.add(e.sub);
  }
  for (const [sub, s] of starts) {
    const due = dueOf(truth, new SubjectPattern(s.pattern), s.back, s.start);
    const have = got.get(sub) ?? [];
    const upTo = ended.has(sub) ? have.length : Math.max(have.length, due.length);
    for (let i = 0; i < upTo; i++) {
      const want = due[i];
      const was = have[i];
      if (want && was && want.pos === was.pos) continue;
      const what = !was
        ? `nothing more (missed ${due.length - have.length})`
        : !want
          ? `${key(was)} at ${was.pos} beyond its due`
          : `${key(was)} at ${was.pos}`;
      v.add(
        was && want && was.pos < want.pos ? 'news-duplicate-delivery' : 'news-gap',
        `${sub} (${s.pattern}, back ${s.back}, from ${s.start}): delivery ${i + 1} was ${what}, due ${want ? `${key(want)} at ${want.pos}` : 'nothing'}`,
      );
      break;
    }
  }
}
