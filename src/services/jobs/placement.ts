/**
 * Where a job goes: among the nodes that offer every label it needs, the handler it runs, and
 * enough CPU and memory beyond what the jobs already placed there take, the one with the most free
 * CPU (then the most free memory, then the earliest in the given order). Pure and deterministic:
 * every replica computes the same choice from the same table.
 */
import type { JobSpec, NodeResources } from './job-spec.js';

/** What the jobs placed on a node take from it. */
export interface NodeLoad {
  cpus: number;
  memoryMb: number;
}

export interface Candidate {
  member: string;
  resources: NodeResources;
  load: NodeLoad;
}

/** True if `r` (with `load` taken already) can run `spec`. */
export function fits(spec: JobSpec, r: NodeResources, load: NodeLoad): boolean {
  if (!spec.needs.labels.every((l) => r.labels.includes(l))) return false;
  if (spec.run.kind === 'handler' && !r.handlers.includes(spec.run.handler)) return false;
  return r.cpus - load.cpus >= spec.needs.cpus && r.memoryMb - load.memoryMb >= spec.needs.memoryMb;
}

/** True if `r` could run `spec` were it idle (the labels and handler match, and it is large enough). */
export function matches(spec: JobSpec, r: NodeResources): boolean {
  return fits(spec, r, { cpus: 0, memoryMb: 0 });
}

/** The member to place `spec` on, or null when none fits now. */
export function chooseNode(spec: JobSpec, candidates: readonly Candidate[]): string | null {
  let best: Candidate | null = null;
  for (const c of candidates) {
    if (!fits(spec, c.resources, c.load)) continue;
    if (best === null) {
      best = c;
      continue;
    }
    const freeCpu = c.resources.cpus - c.load.cpus;
    const bestCpu = best.resources.cpus - best.load.cpus;
    if (freeCpu > bestCpu || (freeCpu === bestCpu && c.resources.memoryMb - c.load.memoryMb > best.resources.memoryMb - best.load.memoryMb)) best = c;
  }
  return best?.member ?? null;
}
