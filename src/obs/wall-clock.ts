import { performance } from 'node:perf_hooks';

/**
 * This process's monotonic clock (`performance.now()`) plus `wallOffset()` is wall-clock time in ms since
 * the epoch, with sub-ms precision, comparable across the processes of one machine. Measured here rather
 * than taken from `performance.timeOrigin`: Node reads the wall clock and the monotonic clock's zero
 * apart at start, and a process descheduled between the two reads keeps the gap for its life. On a
 * loaded CI machine one member's stamps ran 12 ms ahead of its peers' (its messages arrived "before"
 * they were sent), enough for the two-primaries checker to see a member live after it had frozen.
 *
 * At the instant Date.now() ticks, the wall clock is exactly the new millisecond; a monotonic read taken
 * just after the tick is read gives a lower bound of the offset (a preemption between the reads only
 * lowers it), so the largest of a few samples is the offset to within the loop's step (well under 1 µs).
 * Costs up to a few ms of spinning once, at the first call.
 */
let offset: number | null = null;

const SAMPLES = 5;

function measure(): number {
  let best = -Infinity;
  for (let i = 0; i < SAMPLES; i++) {
    const before = Date.now();
    let wall: number;
    let mono: number;
    do {
      wall = Date.now();
      mono = performance.now();
    } while (wall === before);
    best = Math.max(best, wall - mono);
  }
  return best;
}

/** Wall-clock ms minus `performance.now()` in this process (measured once). */
export function wallOffset(): number {
  offset ??= measure();
  return offset;
}

/** Wall-clock milliseconds since the epoch with sub-ms precision: comparable across processes on one machine. */
export function wallNow(): number {
  return wallOffset() + performance.now();
}
