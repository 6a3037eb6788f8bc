// CPU time from Linux's /proc, for the bench's processes and the probes: one reader, not one per runner.
import { readFileSync } from 'node:fs';

/** User and system CPU seconds of process `pid` so far (utime, stime in clock ticks, USER_HZ 100); null where /proc has none. */
export function cpuTimesOf(pid: number | undefined): { user: number; system: number } | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name, which may hold spaces and parentheses: the fields from state on.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) of process `pid` so far; null where /proc has none. */
export function cpuSecondsOf(pid: number | undefined): number | null {
  const t = cpuTimesOf(pid);
  return t === null ? null : t.user + t.system;
}

/**
 * One field of a schedstat file in ms (0: time run on a core, 1: time runnable but waiting for one),
 * or null where the kernel does not keep it. `/proc/thread-self/schedstat` is the calling thread,
 * `/proc/self/schedstat` the process's main thread.
 */
export function schedstatMs(field: 0 | 1, file = '/proc/thread-self/schedstat'): number | null {
  try {
    const ns = Number(readFileSync(file, 'utf8').split(' ')[field]);
    return Number.isFinite(ns) ? ns / 1e6 : null;
  } catch {
    return null;
  }
}
