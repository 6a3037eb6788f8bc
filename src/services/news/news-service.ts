/**
 * The News service, a member's side: a group (`news` by default) whose members each keep the
 * postings, ordered by abcast with safe delivery (a posting is delivered, and its publisher's
 * promise resolves, only once every member holds it: losing any minority of members loses no
 * posting that was acknowledged). Members publish and subscribe directly; clients outside the
 * group publish and poll through any member (`NewsClient`), failing over between members. Back
 * issues, each subject's sequence and the publishers' recent posting ids are replicated state,
 * handed to joiners by state transfer.
 */
import type { ClientRequest } from '../../api/client.js';
import type { Group, SendOptions, SnapshotStateHandlers } from '../../api/group.js';
import type { HorusNode, JoinOptions } from '../../api/node.js';
import type { Timer } from '../../core/env.js';
import { ClosedError, HorusError } from '../../core/errors.js';
import { OrderedOps } from '../../tools/ordered-ops.js';
import { registerService } from '../registry.js';
import { DEFAULT_NEWS_LIMITS, newsLimits, type NewsLimits } from './news-options.js';
import { parseRequest, type PollReply, type PubReply } from './news-protocol.js';
import { CLIENT_PUBLISHER, NewsStore, parsePubOp, type Published } from './news-store.js';
import { toTuple, type Posting } from './posting.js';
import { checkSubject, SubjectPattern } from './subject.js';

/** The default name of the News group. */
export const NEWS_GROUP = 'news';

const TAG = 'horus.news';

export interface NewsServiceOptions extends Partial<NewsLimits> {
  /** The group's name (default `news`). */
  group?: string;
  /**
   * Stamps postings and ages back issues (ms; default the wall clock, whose origin every member
   * shares; the simulator passes its virtual clock).
   */
  clock?: () => number;
}

export interface SubscribeOptions {
  /** Back issues to receive first: the newest `back` of each matching subject (default 0). */
  back?: number;
  /** Resume: receive every kept posting after this position first (instead of back issues). */
  after?: number;
}

/** A member's subscription: `close()` stops it. */
export interface NewsSubscription {
  readonly pattern: string;
  /** Position of the last posting this subscription has been given (or looked past). */
  readonly position: number;
  close(): void;
}

interface LocalSub {
  pattern: SubjectPattern;
  handler: (p: Posting) => void;
  position: number;
  closed: boolean;
}

interface WaitingPoll {
  pattern: SubjectPattern;
  after: number;
  resolve: (r: PollReply) => void;
  reject: (e: Error) => void;
  timer: Timer | null;
}

export class NewsService {
  readonly limits: NewsLimits;
  private readonly store: NewsStore;
  private ops: OrderedOps | null = null;
  private readonly subs = new Set<LocalSub>();
  private readonly waiting = new Set<WaitingPoll>();
  private nextId = 1;
  private readonly myPending = new Set<number>();
  private unregister: (() => void) | null = null;
  private readonly now: () => number;
  /** Postings applied on this replica; client publishes that were retries. */
  applied = 0;
  duplicates = 0;

  /** Join the News group on `node` (created when no member is found) and serve it. */
  static async join(node: HorusNode, opts: NewsServiceOptions & Omit<JoinOptions, 'state'> = {}): Promise<NewsService> {
    const { group, clock, ...rest } = opts;
    // The service's limits go to the service, the rest to the join.
    const limits: Record<string, unknown> = {};
    const joinOpts: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (k in DEFAULT_NEWS_LIMITS ? limits : joinOpts)[k] = v;
    const s = new NewsService(limits as Partial<NewsLimits>, clock ?? (() => Date.now()));
    s.attach(await node.join(group ?? NEWS_GROUP, { ...(joinOpts as Omit<JoinOptions, 'state'>), state: s.state }), node);
    return s;
  }

  /** A service to attach to a group joined with its `state` (ERR_CONFIG for bad limits). */
  constructor(limits: Partial<NewsLimits> = {}, now: () => number = () => 0) {
    this.limits = newsLimits(limits);
    this.store = new NewsStore(this.limits);
    this.now = now;
  }

  /** Give these to `node.join(name, { state })`: joiners get the back issues, sequences and posting ids. */
  readonly state: SnapshotStateHandlers = {
    get: () => this.store.snapshot(),
    set: (snap: unknown) => {
      this.store.restore(snap);
      // A member that rejoins gets the postings applied while it was away in the snapshot: its
      // subscriptions are given them now, from where each stopped.
      for (const sub of [...this.subs]) {
        for (const p of this.store.after(sub.position, sub.pattern, Number.POSITIVE_INFINITY).postings) this.give(sub, p);
        sub.position = Math.max(sub.position, this.store.head);
      }
      for (const w of [...this.waiting]) this.wake(w);
    },
  };

  /** Bind to the group joined with `state` (right after the join); with `node`, the service is listed at GET /api/services. */
  attach(group: Group, node?: HorusNode): this {
    if (this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'this news service is attached to a group already');
    this.ops = new OrderedOps(group, TAG, { apply: (op, sender, d) => this.apply(op, sender, d.raw.length) }, undefined, true);
    group.onRequest((req) => this.serve(req));
    const gone = (err: HorusError): void => {
      for (const w of [...this.waiting]) this.settle(w, err);
    };
    group.on('excluded', () => gone(new HorusError('ERR_NOT_MEMBER', `excluded from ${group.name}`)));
    group.on('left', () => gone(new ClosedError(`group ${group.name} was left`)));
    if (node) this.unregister = registerService(node, { kind: 'news', group: group.name, status: () => this.status() });
    return this;
  }

  get group(): Group {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'attach the news service to a group first');
    return this.ops.group;
  }

  /** Position of the last posting applied here. */
  get head(): number {
    return this.store.head;
  }

  /** What the admin endpoint shows. */
  status(): Record<string, unknown> {
    const g = this.ops?.group;
    return {
      view: g ? g.view.id : 0,
      members: g ? g.view.members.length : 0,
      head: this.store.head,
      subjects: this.store.subjectCount,
      backIssues: this.store.backIssueCount,
      bytes: this.store.bytes,
      subscriptions: this.subs.size,
      waitingPolls: this.waiting.size,
      duplicates: this.duplicates,
    };
  }

  /**
   * Post `payload` to `subject`; resolves once every member holds it and it is applied here, with
   * its place (subject sequence and position). `{ safe: false }` resolves sooner, but a posting
   * may then be lost with a minority that held it alone.
   */
  publish(subject: string, payload: unknown, opts: Pick<SendOptions, 'safe'> = {}): Promise<Published> {
    try {
      checkSubject(subject);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const id = this.nextId++;
    let acked = id - 1;
    for (const p of this.myPending) if (p <= acked) acked = p - 1;
    this.myPending.add(id);
    const group = this.group;
    return this.engine()
      .submit(['pub', group.localId, id, acked, subject, this.now(), payload], opts)
      .finally(() => this.myPending.delete(id)) as Promise<Published>;
  }

  /**
   * Receive the postings of `pattern` (wildcards `*` and `>`): first the back issues asked for
   * (synchronously, before this returns), then every posting as this member applies it, each once,
   * in the total order.
   */
  subscribe(pattern: string, handler: (p: Posting) => void, opts: SubscribeOptions = {}): NewsSubscription {
    const sub: LocalSub = { pattern: new SubjectPattern(pattern), handler, position: this.store.head, closed: false };
    const first =
      opts.after !== undefined
        ? this.store.after(opts.after, sub.pattern, Number.POSITIVE_INFINITY).postings
        : this.store.backIssues(sub.pattern, opts.back ?? 0, this.now(), this.limits.backIssueMs);
    for (const p of first) this.give(sub, p);
    sub.position = this.store.head;
    this.subs.add(sub);
    return {
      pattern,
      get position() {
        return sub.position;
      },
      close: () => {
        sub.closed = true;
        this.subs.delete(sub);
      },
    };
  }

  /** Leave the group and stop serving: held polls fail with ERR_CLOSED (their clients go to another member). */
  async close(): Promise<void> {
    this.unregister?.();
    this.unregister = null;
    for (const w of [...this.waiting]) this.settle(w, new ClosedError('news service closed'));
    for (const s of this.subs) s.closed = true;
    this.subs.clear();
    if (this.ops && !this.ops.group.isClosed) await this.ops.group.leave();
  }

  private engine(): OrderedOps {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'attach the news service to a group first');
    return this.ops;
  }

  private apply(raw: unknown, sender: string, bytes: number): Published {
    const op = parsePubOp(raw, sender);
    const { posting, result } = this.store.apply(op, bytes);
    if (!posting) {
      this.duplicates++;
      return result;
    }
    this.applied++;
    for (const s of this.subs) if (s.pattern.matches(posting.subject)) this.give(s, posting);
    for (const s of this.subs) s.position = posting.pos;
    for (const w of [...this.waiting]) if (w.pattern.matches(posting.subject)) this.wake(w);
    return result;
  }

  private give(s: LocalSub, p: Posting): void {
    if (s.closed) return;
    try {
      s.handler(p);
    } catch (err) {
      this.ops?.group.reportError(
        new HorusError('ERR_INVALID_ARGUMENT', `news subscriber of ${s.pattern.pattern} threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }),
      );
    }
  }

  /** A client's request (publish or poll), from any client of the group. */
  private serve(req: ClientRequest): Promise<unknown> | unknown {
    const r = parseRequest(req.payload);
    if ('pub' in r) {
      const [, subject, payload] = r.pub;
      const publisher = `${CLIENT_PUBLISHER}${req.client}`;
      return this.engine()
        .submit(['pub', publisher, req.id, req.acked, subject, this.now(), payload])
        .then((p) => {
          const x = p as Published;
          const reply: PubReply = [x.subject, x.seq, x.pos, x.duplicate, x.publisher, x.id];
          return reply;
        });
    }
    const [, , after, back, waitMs] = r.poll;
    if (after < 0) {
      // A new subscription: back issues, then the stream from here (the seam: nothing between them).
      const issues = this.store.backIssues(r.pattern, back, this.now(), this.limits.backIssueMs);
      const out = [];
      let bytes = 0;
      for (const p of issues) {
        const b = (p as { bytes?: number }).bytes ?? 0;
        if (out.length > 0 && bytes + b > this.limits.maxReplyBytes) return [out[out.length - 1]![2], out] satisfies PollReply;
        out.push(toTuple(p));
        bytes += b;
      }
      return [this.store.head, out] satisfies PollReply;
    }
    const now = this.store.after(after, r.pattern, this.limits.maxReplyBytes);
    const wait = Math.min(waitMs, this.limits.maxPollWaitMs);
    if (now.postings.length > 0 || wait === 0) return [now.next, now.postings.map(toTuple)] satisfies PollReply;
    if (this.waiting.size >= this.limits.maxWaitingPolls)
      throw new HorusError('ERR_BACKPRESSURE', `${this.waiting.size} polls are held on this member (maxWaitingPolls)`);
    return new Promise<PollReply>((resolve, reject) => {
      const w: WaitingPoll = { pattern: r.pattern, after, resolve, reject, timer: null };
      this.waiting.add(w);
      w.timer = this.group.timers.setTimer(wait, () => this.wake(w, true));
    });
  }

  /** A held poll looks again: it answers when it has postings (or its wait is over). */
  private wake(w: WaitingPoll, timedOut = false): void {
    const now = this.store.after(w.after, w.pattern, this.limits.maxReplyBytes);
    if (now.postings.length === 0 && !timedOut) return;
    this.waiting.delete(w);
    w.timer?.cancel();
    w.resolve([now.next, now.postings.map(toTuple)]);
  }

  private settle(w: WaitingPoll, err: Error): void {
    this.waiting.delete(w);
    w.timer?.cancel();
    w.reject(err);
  }
}
