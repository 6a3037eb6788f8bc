import { performance } from 'node:perf_hooks';

/**
 * This process's monotonic clock (`performance.now()`) plus `wallOffset()` is wall-clock time in ms since
 * the epoch, with sub-ms precision, comparable across the processes of one machine. Measured here rather
 * than taken from `performance.timeOrigin`: Node reads the wall clock and the monotonic clock's zero
 * apart at start, and a process descheduled between the two reads keeps the gap for its life. On a
 * loaded CI machine one member's stamps ran 12 ms ahead of its peers' (its messages arrived "before"
 * they were sent), enough for the two-primaries checker to see a member live after it had frozen.
 *
 * At the instant Date.now() ticks, the wall clock is exactly the new millisecond. The tick happened
 * after the last read that still saw the old millisecond and before the first that saw the new one, so
 * monotonic reads taken just before the one and just after the other bracket it: the offset lies in
 * [new ms - read after, new ms - read before]. Each of a few ticks narrows the interval; the offset is
 * its middle, and half its width is how far off it can be (`wallOffsetError()`). Taking only the lower
 * end (as this once did) erred low by the cost of the reads, and on a loaded CI machine, where a cold
 * process's reads cost microseconds, two processes disagreed by 7 µs. Costs up to a few ms of spinning
 * once, at the first call.
 */
interface Measured {
  offset: number;
  error: number;
}

let measured: Measured | null = null;

const SAMPLES = 5;

function measure(): Measured {
  let low = -Infinity;
  let high = Infinity;
  for (let i = 0; i < SAMPLES; i++) {
    // `before` precedes the last read that saw the old millisecond, `after` follows the first that saw the
    // new one: the tick lies between them.
    let before = performance.now();
    const old = Date.now();
    let mono = performance.now();
    let wall = Date.now();
    while (wall === old) {
      before = mono;
      mono = performance.now();
      wall = Date.now();
    }
    const after = performance.now();
    low = Math.max(low, wall - after);
    high = Math.min(high, wall - before);
  }
  return { offset: (low + high) / 2, error: Math.max(0, (high - low) / 2) };
}

/** Wall-clock ms minus `performance.now()` in this process (measured once). */
export function wallOffset(): number {
  measured ??= measure();
  return measured.offset;
}

/** How far `wallOffset()` (and so `wallNow()`) can be from the true wall clock, in ms: half the bracket. */
export function wallOffsetError(): number {
  measured ??= measure();
  return measured.error;
}

/** Wall-clock milliseconds since the epoch with sub-ms precision: comparable across processes on one machine. */
export function wallNow(): number {
  return wallOffset() + performance.now();
}
