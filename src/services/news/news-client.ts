/**
 * The News service from outside its group: a `node.client(group)` that publishes and subscribes.
 * Requests go to one member and fail over to another when it dies or stops answering. A publish
 * carries the client's request id, which is the posting id: a publish retried after a failover is
 * posted once. A subscription is a chain of long polls ("postings of this pattern after position
 * P"), each answered by whichever member the client talks to now; every member holds the same
 * postings at the same positions (total order plus state transfer), so the stream resumes after
 * the last position seen, with neither gap nor duplicate, on any member.
 */
import type { ClientOptions, GroupClient } from '../../api/client.js';
import type { HorusNode } from '../../api/node.js';
import { HorusError } from '../../core/errors.js';
import type { PollReply, PollRequest, PubReply } from './news-protocol.js';
import type { Published } from './news-store.js';
import { fromTuple, type Posting, type PostingTuple } from './posting.js';
import { checkSubject, SubjectPattern } from './subject.js';
import { NEWS_GROUP } from './news-service.js';

export interface NewsClientOptions extends ClientOptions {
  /** The News group's name (default `news`). */
  group?: string;
  /** How long a member may hold a poll when nothing is new (ms, default half of attemptTimeoutMs). */
  pollWaitMs?: number;
}

export interface ClientSubscribeOptions {
  /** Back issues to receive first: the newest `back` of each matching subject (default 0). */
  back?: number;
  /** Resume after this position (a subscription's `position` from before): no back issues, every kept posting after it. */
  after?: number;
  /** Called once with the position the subscription starts from (back issues are at or before it, the stream after it). */
  onStart?: (position: number) => void;
  /** Hears what stops the subscription (a refused pattern) and the failures it retries through. */
  onError?: (err: Error) => void;
}

/** A subscription from outside the group. */
export interface ClientSubscription {
  readonly pattern: string;
  /** Position of the last posting given (or looked past): pass it as `after` to resume elsewhere. */
  readonly position: number;
  /** Postings given, and repeats dropped (a failover may answer a poll twice). */
  readonly delivered: number;
  readonly duplicatesDropped: number;
  /** Settles when the subscription stops (closed, or refused). */
  readonly done: Promise<void>;
  close(): void;
}

/** After a poll fails (every member tried and the timeout passed), the next waits this long. */
const RETRY_MS = 200;

export class NewsClient {
  private readonly subs = new Set<{ close(): void }>();
  private readonly pollWaitMs: number;

  /** A client of the News group `opts.group` (ERR_UNKNOWN_GROUP when no seed knows it). */
  static async connect(node: HorusNode, opts: NewsClientOptions = {}): Promise<NewsClient> {
    const { group, pollWaitMs, ...clientOpts } = opts;
    const attemptTimeoutMs = clientOpts.attemptTimeoutMs ?? 2000;
    const client = await node.client(group ?? NEWS_GROUP, { ...clientOpts, attemptTimeoutMs });
    return new NewsClient(node, client, pollWaitMs ?? Math.floor(attemptTimeoutMs / 2));
  }

  constructor(
    private readonly node: HorusNode,
    readonly client: GroupClient,
    pollWaitMs: number,
  ) {
    if (!(pollWaitMs >= 0)) throw new HorusError('ERR_INVALID_ARGUMENT', `pollWaitMs must be >= 0, got ${pollWaitMs}`);
    this.pollWaitMs = pollWaitMs;
  }

  /** Post `payload` to `subject`; resolves once every member holds it (safe delivery), with its place. */
  async publish(subject: string, payload: unknown): Promise<Published> {
    checkSubject(subject);
    const r = (await this.client.request(['pub', subject, payload])) as PubReply;
    if (
      !Array.isArray(r) ||
      typeof r[0] !== 'string' ||
      typeof r[1] !== 'number' ||
      typeof r[2] !== 'number' ||
      typeof r[4] !== 'string' ||
      typeof r[5] !== 'number'
    )
      throw new HorusError('ERR_MALFORMED', 'the reply to a publish is not one');
    return { subject: r[0], seq: r[1], pos: r[2], publisher: r[4], id: r[5], duplicate: r[3] === true };
  }

  /**
   * Receive the postings of `pattern`: the back issues asked for, then the live stream, each
   * posting once and in the total order, across member failures (the client fails over).
   */
  subscribe(pattern: string, handler: (p: Posting) => void, opts: ClientSubscribeOptions = {}): ClientSubscription {
    new SubjectPattern(pattern); // ERR_INVALID_ARGUMENT here, not in the loop
    const back = opts.back ?? 0;
    if (!Number.isInteger(back) || back < 0) throw new HorusError('ERR_INVALID_ARGUMENT', `back must be an integer >= 0, got ${back}`);
    let after = opts.after ?? -1;
    let position = Math.max(0, after);
    let delivered = 0;
    let dropped = 0;
    let closed = false;
    let wake: (() => void) | null = null;
    const entry = {
      close: () => {
        closed = true;
        wake?.();
      },
    };
    this.subs.add(entry);
    const pause = (ms: number): Promise<void> =>
      new Promise((resolve) => {
        const t = this.node.env.setTimer(ms, () => {
          wake = null;
          resolve();
        });
        wake = () => {
          t.cancel();
          wake = null;
          resolve();
        };
      });
    const loop = async (): Promise<void> => {
      while (!closed) {
        let reply: PollReply;
        try {
          reply = (await this.client.request(['poll', pattern, after, back, this.pollWaitMs] satisfies PollRequest)) as PollReply;
        } catch (err) {
          if (closed) break;
          opts.onError?.(err as Error);
          if (err instanceof HorusError && (err.code === 'ERR_INVALID_ARGUMENT' || err.code === 'ERR_CLOSED')) break;
          await pause(RETRY_MS);
          continue;
        }
        if (closed) break;
        if (!Array.isArray(reply) || typeof reply[0] !== 'number' || !Array.isArray(reply[1])) {
          opts.onError?.(new HorusError('ERR_MALFORMED', 'a poll reply is not one'));
          await pause(RETRY_MS);
          continue;
        }
        for (const t of reply[1] as PostingTuple[]) {
          if (!Array.isArray(t) || typeof t[2] !== 'number') continue;
          if (t[2] <= position) {
            dropped++;
            continue;
          }
          position = t[2];
          delivered++;
          try {
            handler(fromTuple(t));
          } catch (err) {
            opts.onError?.(err as Error);
          }
          if (closed) break;
        }
        position = Math.max(position, reply[0]);
        if (after < 0) opts.onStart?.(position);
        after = position;
      }
      this.subs.delete(entry);
    };
    const done = loop();
    return {
      pattern,
      get position() {
        return position;
      },
      get delivered() {
        return delivered;
      },
      get duplicatesDropped() {
        return dropped;
      },
      done,
      close: entry.close,
    };
  }

  /** Stop every subscription and the client. */
  close(): void {
    for (const s of [...this.subs]) s.close();
    this.client.close();
  }
}
