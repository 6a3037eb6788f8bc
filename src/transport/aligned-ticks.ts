import type { Timer } from '../core/env.js';

/**
 * Periodic timers of a real process, lined up: every callback of one period runs in the same
 * wake-up of one Node interval. An idle member of a large group wakes for its FD tick, its GMS
 * retry tick and its transport's liveness check (100 ms each by default); set apart they were
 * three wake-ups where one does, and on a loaded 2-core machine with 64 processes each wake-up of
 * an idle process cost ~0.5 ms of CPU (cold caches), so the wake-ups, not the work, were most of an
 * idle member's CPU. Only the phase changes: each callback still runs once a period (the first time
 * at the group's next tick, up to a period after it is added). The simulator keeps its own timers
 * (src/core/env.ts `every`), so a seed replays as before.
 */
interface Ticks {
  readonly interval: NodeJS.Timeout;
  readonly entries: Set<Entry>;
  /** Entries that keep the process alive (a Node timer's `ref`). */
  refs: number;
}

interface Entry {
  readonly fn: () => void;
  readonly ref: boolean;
}

const byPeriod = new Map<number, Ticks>();

function fire(ticks: Ticks): void {
  // A snapshot: an entry added by a callback waits for the next tick, one removed is skipped.
  for (const e of [...ticks.entries]) {
    if (!ticks.entries.has(e)) continue;
    try {
      e.fn();
    } catch (err) {
      // As a Node timer would: uncaught, but after the others of this tick ran.
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

/** Run `fn` every `ms` ms, in the same wake-up as every other aligned callback of that period. `ref: false`: does not keep the process alive. */
export function alignedEvery(ms: number, fn: () => void, opts: { ref?: boolean } = {}): Timer {
  const period = Math.max(1, Math.round(ms));
  let ticks = byPeriod.get(period);
  if (ticks === undefined) {
    const interval = setInterval(() => fire(ticks!), period);
    interval.unref();
    ticks = { interval, entries: new Set(), refs: 0 };
    byPeriod.set(period, ticks);
  }
  const t = ticks;
  const entry: Entry = { fn, ref: opts.ref !== false };
  t.entries.add(entry);
  if (entry.ref && t.refs++ === 0) t.interval.ref();
  return {
    cancel(): void {
      if (!t.entries.delete(entry)) return;
      if (entry.ref && --t.refs === 0) t.interval.unref();
      if (t.entries.size === 0) {
        clearInterval(t.interval);
        byPeriod.delete(period);
      }
    },
  };
}
