// What every runner gets from run.ts.

export interface RunContext {
  /** Multiplies counts, rounds and durations (the README test runs --scale 0.05). */
  scale: number;
  /** Extra node flags for every member process (--profile passes --cpu-prof here). */
  execArgv: readonly string[];
  /** How long a member may take to close before it is killed (0: kill at once; a profiled member needs time to write its profile). */
  closeGraceMs: number;
  /** Progress, to stderr. */
  log(msg: string): void;
}

/** `n * scale`, rounded, at least `min`. */
export const scaled = (n: number, scale: number, min = 1): number => Math.max(min, Math.round(n * scale));
