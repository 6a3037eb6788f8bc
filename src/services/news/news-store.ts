/**
 * The News service's replicated state: per subject its sequence and back issues, the position of
 * the last posting in the total order, and the recent posting ids of each publisher (to post a
 * retried publish once). Every replica applies the same postings in the same order and prunes by
 * the same rules (count, bytes, and age measured against the postings' own timestamps, never a
 * local clock), so replicas that applied the same postings hold the same state; joiners get it by
 * state transfer.
 */
import { HorusError } from '../../core/errors.js';
import { MAX_ID_BYTES } from '../../core/input-guard.js';
import type { NewsLimits } from './news-options.js';
import type { Posting, StoredPosting } from './posting.js';
import { checkSubject, type SubjectPattern } from './subject.js';

/** A publish as it goes through the total order: ['pub', publisher, id, acked, subject, at, payload]. */
export type PubOp = ['pub', string, number, number, string, number, unknown];

/** What a publisher hears back: where its posting went, and whether it was there already (a retry). */
export interface Published {
  subject: string;
  seq: number;
  pos: number;
  /** The posting's name: its publisher and the publisher's id for it. */
  publisher: string;
  id: number;
  duplicate: boolean;
}

/** Bytes a subject record costs beside its name. */
const SUBJECT_OVERHEAD = 64;
/** Publisher ids of clients start with this: any member may relay them; a member id speaks only for its sender. */
export const CLIENT_PUBLISHER = 'client:';

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

interface SubjectState {
  seq: number;
  /** Back issues, oldest first, from `head`. */
  posts: StoredPosting[];
  head: number;
  bytes: number;
}

interface PublisherState {
  acked: number;
  ids: Map<number, [number, string, number]>;
}

/** Checks a publish op's shape (it comes from a member, perhaps a hostile one): ERR_MALFORMED if wrong. */
export function parsePubOp(raw: unknown, sender: string): PubOp {
  if (!Array.isArray(raw) || raw.length !== 7 || raw[0] !== 'pub') throw new HorusError('ERR_MALFORMED', 'unknown news operation');
  const [, publisher, id, acked, subject, at] = raw as unknown[];
  if (typeof publisher !== 'string' || publisher.length === 0 || Buffer.byteLength(publisher) > MAX_ID_BYTES + CLIENT_PUBLISHER.length)
    throw new HorusError('ERR_MALFORMED', 'news posting with a bad publisher id');
  if (!publisher.startsWith(CLIENT_PUBLISHER) && publisher !== sender)
    throw new HorusError('ERR_MALFORMED', `member ${sender} posted in the name of ${publisher.slice(0, 64)}`);
  if (!isCount(id) || id < 1 || !isCount(acked) || typeof at !== 'number' || !Number.isFinite(at))
    throw new HorusError('ERR_MALFORMED', 'news posting with a bad id, acknowledgement or time');
  try {
    checkSubject(subject);
  } catch {
    throw new HorusError('ERR_MALFORMED', 'news posting with a bad subject');
  }
  return raw as PubOp;
}

export class NewsStore {
  private readonly subjects = new Map<string, SubjectState>();
  private readonly publishers = new Map<string, PublisherState>();
  /**
   * Every kept posting in order of position: the back issues, and the last `streamWindow` postings
   * (which clients' streams read, back issues or not); tombstones (removed) until compaction.
   */
  private log: StoredPosting[] = [];
  private logHead = 0;
  private removedInLog = 0;
  private totalBytes = 0;
  /** Position of the last posting applied (0: none). */
  private position = 0;
  /** The newest posting time seen: the clock that ages back issues (the same on every replica). */
  private clock = 0;
  /** Postings kept as back issues now. */
  private kept = 0;

  constructor(private readonly limits: NewsLimits) {}

  /** Position of the last posting applied. */
  get head(): number {
    return this.position;
  }

  get subjectCount(): number {
    return this.subjects.size;
  }

  get backIssueCount(): number {
    return this.kept;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Apply one publish (a checked op of `bytes` bytes): the posting, or null with the earlier one's place if it is a retry. */
  apply(op: PubOp, bytes: number): { posting: Posting | null; result: Published } {
    const [, publisher, id, acked, subject, at, payload] = op;
    if (bytes > this.limits.maxPostingBytes + MAX_ID_BYTES + 2 * subject.length + 64)
      throw new HorusError('ERR_TOO_LARGE', `a posting of ${bytes} bytes is over maxPostingBytes (${this.limits.maxPostingBytes})`);
    const pub = this.publisher(publisher);
    if (acked > pub.acked) {
      pub.acked = acked;
      for (const k of [...pub.ids.keys()]) if (k <= acked) pub.ids.delete(k);
    }
    const earlier = pub.ids.get(id);
    if (earlier) return { posting: null, result: { pos: earlier[0], subject: earlier[1], seq: earlier[2], publisher, id, duplicate: true } };
    if (id <= pub.acked) throw new HorusError('ERR_INVALID_ARGUMENT', `posting ${id} of ${publisher.slice(0, 64)} was acknowledged already`);
    let s = this.subjects.get(subject);
    if (!s) {
      this.subjects.set(subject, (s = { seq: 0, posts: [], head: 0, bytes: 0 }));
      this.totalBytes += subject.length + SUBJECT_OVERHEAD;
    } else {
      // Most recently posted goes last: the first is the one to forget when records must go.
      this.subjects.delete(subject);
      this.subjects.set(subject, s);
    }
    this.clock = Math.max(this.clock, at);
    const p: StoredPosting = { subject, seq: ++s.seq, pos: ++this.position, publisher, id, at: this.clock, payload, bytes, removed: false, backIssue: true };
    pub.ids.set(id, [p.pos, subject, p.seq]);
    if (pub.ids.size > this.limits.maxIdsPerPublisher) pub.ids.delete(pub.ids.keys().next().value!);
    s.posts.push(p);
    s.bytes += bytes;
    this.log.push(p);
    this.totalBytes += bytes;
    this.kept++;
    this.prune(s);
    return { posting: p, result: { pos: p.pos, subject, seq: p.seq, publisher, id, duplicate: false } };
  }

  private publisher(id: string): PublisherState {
    let e = this.publishers.get(id);
    if (e) {
      this.publishers.delete(id);
      this.publishers.set(id, e);
    } else {
      this.publishers.set(id, (e = { acked: 0, ids: new Map() }));
      if (this.publishers.size > this.limits.maxPublishers) this.publishers.delete(this.publishers.keys().next().value!);
    }
    return e;
  }

  /** Drop back issues past the count, byte and age limits (deterministic: the same on every replica). */
  private prune(s: SubjectState): void {
    const L = this.limits;
    while (s.posts.length - s.head > L.backIssues || (s.bytes > L.maxSubjectBytes && s.posts.length - s.head > 0)) this.removeOldest(s);
    // The posting that just left the stream window goes unless it is still a back issue.
    const leaving = this.log[this.firstAfter(this.position - L.streamWindow - 1)];
    if (leaving && leaving.pos === this.position - L.streamWindow && !leaving.backIssue && !leaving.removed) this.drop(leaving);
    const tooOld = L.backIssueMs > 0 ? this.clock - L.backIssueMs : -Infinity;
    while (this.logHead < this.log.length) {
      const p = this.log[this.logHead]!;
      if (p.removed) {
        this.logHead++;
        this.removedInLog--;
        continue;
      }
      if (this.totalBytes <= L.maxTotalBytes && p.at >= tooOld) break;
      // The oldest posting of all: if a back issue, it is its subject's oldest.
      if (p.backIssue) this.removeOldest(this.subjects.get(p.subject)!);
      if (!p.removed) this.drop(p);
    }
    // Subject records go too when the postings alone do not bring the total under the cap.
    if (this.totalBytes > L.maxTotalBytes)
      for (const [name, rec] of this.subjects) {
        if (this.totalBytes <= L.maxTotalBytes) break;
        if (rec.posts.length - rec.head > 0) continue;
        this.subjects.delete(name);
        this.totalBytes -= name.length + SUBJECT_OVERHEAD;
      }
    if (this.removedInLog > 1024 && this.removedInLog > this.log.length - this.logHead - this.removedInLog) this.compact();
  }

  /** The subject's oldest back issue stops being one; it stays for the streams while in the window. */
  private removeOldest(s: SubjectState): void {
    const p = s.posts[s.head]!;
    s.posts[s.head++] = undefined as unknown as StoredPosting;
    if (s.head > 64 && s.head * 2 > s.posts.length) {
      s.posts = s.posts.slice(s.head);
      s.head = 0;
    }
    s.bytes -= p.bytes;
    this.kept--;
    p.backIssue = false;
    if (p.pos <= this.position - this.limits.streamWindow) this.drop(p);
  }

  /** `p` (no back issue any more) leaves the log. */
  private drop(p: StoredPosting): void {
    this.totalBytes -= p.bytes;
    p.removed = true;
    this.removedInLog++;
  }

  private compact(): void {
    this.log = this.log.slice(this.logHead).filter((p) => !p.removed);
    this.logHead = 0;
    this.removedInLog = 0;
  }

  /** Index in the log of the first posting after position `after`. */
  private firstAfter(after: number): number {
    let lo = this.logHead;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid]!.pos <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Kept postings after position `after` that `pattern` matches, oldest first, up to `maxBytes`
   * (at least one), and the position the reader has now seen everything up to (`next`): the last
   * posting returned when the bytes ran out, else the head.
   */
  after(after: number, pattern: SubjectPattern, maxBytes: number): { postings: Posting[]; next: number } {
    const out: Posting[] = [];
    let bytes = 0;
    for (let i = this.firstAfter(after); i < this.log.length; i++) {
      const p = this.log[i]!;
      if (p.removed || !pattern.matches(p.subject)) continue;
      if (out.length > 0 && bytes + p.bytes > maxBytes) return { postings: out, next: out[out.length - 1]!.pos };
      out.push(p);
      bytes += p.bytes;
    }
    return { postings: out, next: Math.max(after, this.position) };
  }

  /** The newest `n` kept back issues of each subject `pattern` matches, at most `maxAgeMs` old by `now` (0: any age), in order of position. */
  backIssues(pattern: SubjectPattern, n: number, now = 0, maxAgeMs = 0): Posting[] {
    const out: Posting[] = [];
    if (n <= 0) return out;
    const since = maxAgeMs > 0 ? now - maxAgeMs : -Infinity;
    for (const [name, s] of this.subjects) {
      if (!pattern.matches(name)) continue;
      for (let i = Math.max(s.head, s.posts.length - n); i < s.posts.length; i++) if (s.posts[i]!.at >= since) out.push(s.posts[i]!);
    }
    return out.sort((a, b) => a.pos - b.pos);
  }

  /** Sequence of the last posting of `subject` (0: none yet). */
  seqOf(subject: string): number {
    return this.subjects.get(subject)?.seq ?? 0;
  }

  snapshot(): unknown {
    const live = this.log.slice(this.logHead).filter((p) => !p.removed);
    return {
      v: 1,
      pos: this.position,
      clock: this.clock,
      subjects: [...this.subjects].map(([name, s]) => [name, s.seq]),
      posts: live.map((p) => [p.pos, p.subject, p.seq, p.publisher, p.id, p.at, p.bytes, p.payload, p.backIssue]),
      pubs: [...this.publishers].map(([id, e]) => [id, e.acked, [...e.ids].map(([k, [pos, subj, seq]]) => [k, pos, subj, seq])]),
    };
  }

  /** Replaces this state with a snapshot from a member (checked: ERR_STATE_TRANSFER when it is not one). */
  restore(snap: unknown): void {
    const bad = (): never => {
      throw new HorusError('ERR_STATE_TRANSFER', 'not a news snapshot');
    };
    const s = snap as { v?: unknown; pos?: unknown; clock?: unknown; subjects?: unknown; posts?: unknown; pubs?: unknown };
    if (!s || typeof s !== 'object' || s.v !== 1 || !isCount(s.pos) || typeof s.clock !== 'number') bad();
    if (!Array.isArray(s.subjects) || !Array.isArray(s.posts) || !Array.isArray(s.pubs)) bad();
    this.subjects.clear();
    this.publishers.clear();
    this.log = [];
    this.logHead = 0;
    this.removedInLog = 0;
    this.totalBytes = 0;
    this.kept = 0;
    this.position = s.pos as number;
    this.clock = s.clock as number;
    for (const e of s.subjects as unknown[]) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || !isCount(e[1])) bad();
      const [name, seq] = e as [string, number];
      this.subjects.set(name, { seq, posts: [], head: 0, bytes: 0 });
      this.totalBytes += name.length + SUBJECT_OVERHEAD;
    }
    for (const e of s.posts as unknown[]) {
      if (!Array.isArray(e) || e.length !== 9) bad();
      const [pos, subject, seq, publisher, id, at, bytes, payload, backIssue] = e as [number, string, number, string, number, number, number, unknown, boolean];
      const rec = this.subjects.get(subject);
      if (!rec || !isCount(pos) || !isCount(seq) || typeof publisher !== 'string' || !isCount(id) || typeof at !== 'number' || !isCount(bytes)) bad();
      const p: StoredPosting = { pos, subject, seq, publisher, id, at, bytes, payload, removed: false, backIssue: backIssue === true };
      if (p.backIssue) {
        rec!.posts.push(p);
        rec!.bytes += bytes;
        this.kept++;
      }
      this.log.push(p);
      this.totalBytes += bytes;
    }
    for (const e of s.pubs as unknown[]) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || !isCount(e[1]) || !Array.isArray(e[2])) bad();
      const [who, acked, list] = e as [string, number, unknown[]];
      const ids = new Map<number, [number, string, number]>();
      for (const x of list) {
        if (!Array.isArray(x) || !isCount(x[0]) || !isCount(x[1]) || typeof x[2] !== 'string' || !isCount(x[3])) bad();
        const [k, pos, subj, seq] = x as [number, number, string, number];
        ids.set(k, [pos, subj, seq]);
      }
      this.publishers.set(who, { acked, ids });
    }
  }
}
