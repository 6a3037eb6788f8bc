/**
 * What clients outside the News group ask a member, through `node.client(group)` requests (so they
 * fail over between members like any client): publish a posting, or poll for the postings of a
 * pattern after a position (a long poll: the member holds it until one arrives or the wait ends).
 * The member checks every field; a bad request is ERR_INVALID_ARGUMENT, sent back to the client.
 */
import { HorusError } from '../../core/errors.js';
import { MAX_WIRE_INT } from '../../core/input-guard.js';
import type { PostingTuple } from './posting.js';
import { checkSubject, SubjectPattern } from './subject.js';

/** Publish `payload` to `subject`. The client's request id is the posting id: a retry is posted once. */
export type PubRequest = ['pub', string, unknown];
/**
 * Postings of `pattern` after position `after`; `after` = -1 starts a subscription: the newest
 * `back` back issues of each matching subject, then the stream. `waitMs`: hold the poll this long
 * when there is nothing yet.
 */
export type PollRequest = ['poll', string, number, number, number];
export type NewsRequest = PubRequest | PollRequest;

/** The reply to a publish: [subject, seq, pos, duplicate, publisher, id]. */
export type PubReply = [string, number, number, boolean, string, number];
/** The reply to a poll: [next, postings]; the next poll asks for what comes after `next`. */
export type PollReply = [number, PostingTuple[]];

const isInt = (x: unknown, min: number, max = MAX_WIRE_INT): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;

/** Checks a client's request; the parsed pattern comes with a poll. */
export function parseRequest(raw: unknown): { pub: PubRequest } | { poll: PollRequest; pattern: SubjectPattern } {
  if (Array.isArray(raw) && raw[0] === 'pub' && raw.length === 3) {
    checkSubject(raw[1]);
    return { pub: raw as PubRequest };
  }
  if (Array.isArray(raw) && raw[0] === 'poll' && raw.length === 5) {
    const pattern = new SubjectPattern(raw[1] as string);
    if (!isInt(raw[2], -1) || !isInt(raw[3], 0) || !isInt(raw[4], 0, 600_000))
      throw new HorusError('ERR_INVALID_ARGUMENT', 'a news poll is [poll, pattern, after >= -1, back >= 0, waitMs in 0..600000]');
    return { poll: raw as PollRequest, pattern };
  }
  throw new HorusError('ERR_INVALID_ARGUMENT', 'not a news request (pub or poll)');
}
