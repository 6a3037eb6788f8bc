// Waiting on child processes: polls and deadlines, in wall-clock time (the bench is not the simulator).

/** Polls `cond` every `pollMs` until it holds; rejects after `timeoutMs` naming `what` (and `detail()`). Resolves with the time it took. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  opts: { timeoutMs: number; what: string; pollMs?: number; detail?: () => string | Promise<string> },
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > opts.timeoutMs) {
      const detail = opts.detail ? `: ${await opts.detail()}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 50));
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wall clock in ms since the epoch, sub-millisecond: comparable with the members' `t` stamps. */
export { wallNow } from '../../src/obs/wall-clock.js';
