/**
 * The give-up rule (Isis' resource manager: 5 failures in 30 s): a job whose restarts come too
 * fast is marked failed rather than started again. A failure is an end of the job that its restart
 * policy answers with a restart; the loss of its node is not one (the job did nothing wrong).
 */
export interface GiveUpPolicy {
  /** Failures that make the job fail... */
  maxFailures: number;
  /** ...when they all fall within this many milliseconds. */
  windowMs: number;
}

export const DEFAULT_GIVE_UP: GiveUpPolicy = { maxFailures: 5, windowMs: 30_000 };

/**
 * Records a failure at `at` (ms) in `times` (the job's recent failures, oldest first; kept to the
 * last maxFailures) and says whether the job must now be given up.
 */
export function recordFailure(times: number[], at: number, p: GiveUpPolicy): { times: number[]; giveUp: boolean } {
  const next = [...times, at].slice(-p.maxFailures);
  const giveUp = next.length >= p.maxFailures && at - next[0]! <= p.windowMs;
  return { times: next, giveUp };
}
