/** A News posting as subscribers receive it. */
export interface Posting {
  /** The subject it was posted to. */
  readonly subject: string;
  /** Its number in its subject: 1, 2, 3 ... in the one order every subscriber of the subject sees. */
  readonly seq: number;
  /** Its position in the service's total order (all subjects): a subscriber resumes after the last one it saw. */
  readonly pos: number;
  /** Who posted it: a member id, or `client:` and the client node's id. */
  readonly publisher: string;
  /** The publisher's number for it: (publisher, id) names a posting, and a retried publish with the same id is posted once. */
  readonly id: number;
  /** When it was posted (ms, the clock of the member that ordered it; never less than an earlier posting's). */
  readonly at: number;
  readonly payload: unknown;
}

/** A posting as the store keeps it: with its size, counted against the byte caps. */
export interface StoredPosting extends Posting {
  readonly bytes: number;
  /** One of its subject's back issues now. */
  backIssue: boolean;
  /** Gone from the store (the log keeps a tombstone until it is compacted). */
  removed: boolean;
}

/** A posting as it travels in a poll reply: [subject, seq, pos, publisher, id, at, payload]. */
export type PostingTuple = [string, number, number, string, number, number, unknown];

export const toTuple = (p: Posting): PostingTuple => [p.subject, p.seq, p.pos, p.publisher, p.id, p.at, p.payload];

export const fromTuple = (t: PostingTuple): Posting => ({ subject: t[0], seq: t[1], pos: t[2], publisher: t[3], id: t[4], at: t[5], payload: t[6] });
