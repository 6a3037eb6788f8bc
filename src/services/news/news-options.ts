/**
 * What a News member keeps and serves. Isis' News had fixed limits (128 subjects, 20 subscribers
 * per subject, 20 back issues); here nothing is capped by count but what peers can fill, which is
 * capped in bytes (every buffer a publisher or a subscriber can grow has a configurable cap).
 */
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';

export const newsOptionsSchema = z
  .object({
    /** Back issues kept per subject, the newest (default 100; 0 keeps none). */
    backIssues: z.number().int().min(0).max(1_000_000),
    /** Back issues older than this are dropped (ms; default 0: kept whatever their age). */
    backIssueMs: z.number().int().min(0),
    /** Bytes of one posting's payload, at most (default 256 KiB): a larger one is refused with ERR_TOO_LARGE. */
    maxPostingBytes: z
      .number()
      .int()
      .min(16)
      .max(16 * 1024 * 1024),
    /** Bytes of back issues kept per subject (default 4 MiB; the oldest go first). */
    maxSubjectBytes: z.number().int().min(0),
    /**
     * The last postings kept for subscribers' streams, back issues or not (default 10,000): a client
     * that falls further behind than this (and the back issues) misses postings.
     */
    streamWindow: z.number().int().min(0).max(10_000_000),
    /** Bytes of kept postings and subject records in all (default 64 MiB; the oldest postings go first). */
    maxTotalBytes: z.number().int().min(1024),
    /** Publishers (members and clients) whose recent posting ids are remembered for de-duplication (default 10,000). */
    maxPublishers: z.number().int().min(1),
    /** Posting ids remembered per publisher (default 1024): a retry older than that is not recognised. */
    maxIdsPerPublisher: z.number().int().min(1),
    /** Longest a client's poll is held waiting for postings (ms, default 1000). */
    maxPollWaitMs: z.number().int().min(0).max(60_000),
    /** Polls held at once on this member (default 10,000; more are refused with ERR_BACKPRESSURE, the client tries another member). */
    maxWaitingPolls: z.number().int().min(1),
    /** Bytes of postings in one poll reply (default 512 KiB: under the client frame cap of 1 MiB). */
    maxReplyBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024),
  })
  .strict();

export type NewsLimits = z.infer<typeof newsOptionsSchema>;

export const DEFAULT_NEWS_LIMITS: NewsLimits = {
  backIssues: 100,
  backIssueMs: 0,
  maxPostingBytes: 256 * 1024,
  maxSubjectBytes: 4 * 1024 * 1024,
  streamWindow: 10_000,
  maxTotalBytes: 64 * 1024 * 1024,
  maxPublishers: 10_000,
  maxIdsPerPublisher: 1024,
  maxPollWaitMs: 1000,
  maxWaitingPolls: 10_000,
  maxReplyBytes: 512 * 1024,
};

/** The defaults with `given` over them, checked: ERR_CONFIG names the bad field. */
export function newsLimits(given: Partial<NewsLimits> = {}): NewsLimits {
  const r = newsOptionsSchema.partial().safeParse(given);
  if (!r.success) throw new ConfigError(`news options: ${z.prettifyError(r.error)}`);
  const out = { ...DEFAULT_NEWS_LIMITS };
  for (const [k, v] of Object.entries(r.data)) if (v !== undefined) (out as Record<string, number>)[k] = v;
  return out;
}
