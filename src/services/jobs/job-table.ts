/**
 * The manager's replicated table: the nodes that offer resources, the jobs, and where each runs.
 * Every replica applies the same operations (submit, cancel, advertise, exit) and the same views in
 * the one total order, and takes every decision (placement, restart, give-up) from the table alone,
 * so all replicas agree on each job's node and fencing token without further messages.
 *
 * Fencing: each placement carries a token `{ viewId, placement }` whose `placement` numbers every
 * placement of the service and only grows. An exit report counts only if it names the job's current
 * placement and comes from its node: a stale copy (a node that was paused or cut off) cannot end,
 * restart or fail the job that now runs elsewhere.
 */
import { HorusError } from '../../core/errors.js';
import { recordFailure } from './give-up.js';
import { parseJobSpec, parseResources, type JobSpec, type NodeResources } from './job-spec.js';
import { chooseNode, matches, type Candidate, type NodeLoad } from './placement.js';

export type JobState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

/** Proof of one placement: the view it was made in and the service-wide placement number (only grows). */
export interface JobToken {
  viewId: number;
  placement: number;
}

export interface JobRecord {
  id: string;
  spec: JobSpec;
  state: JobState;
  /** The member it is placed on (state running), else null. */
  node: string | null;
  token: JobToken | null;
  /** Times it was placed again after its first placement (after a failure or the loss of its node). */
  restarts: number;
  /** Times (the reporting node's wall clock, ms) of its recent failures, oldest first. */
  failures: number[];
  /** Exit code of its last end (null: none yet, or ended by a signal). */
  lastExit: number | null;
  /** Why it is pending, failed or cancelled. */
  reason: string | null;
  /** Who submitted it (a client's or member's node id). */
  submittedBy: string;
}

export interface JobTableOptions {
  /** Jobs not finished (pending or running), at most: more submissions fail with ERR_BACKPRESSURE (default 10,000). */
  maxActiveJobs?: number;
  /** Finished jobs kept for `list` (the oldest go first; default 1000). */
  maxFinishedJobs?: number;
}

/** Whether the table moved on, or the report was about a placement that is no longer current. */
export type ExitOutcome = 'applied' | 'stale';

interface Snapshot {
  v: 1;
  nodes: [string, NodeResources][];
  jobs: JobRecord[];
  nextJob: number;
  placements: number;
  viewId: number;
}

const finished = (s: JobState): boolean => s === 'done' || s === 'failed' || s === 'cancelled';

export class JobTable {
  private readonly nodes = new Map<string, NodeResources>();
  private readonly jobs = new Map<string, JobRecord>();
  private nextJob = 1;
  private placements = 0;
  private viewId = 0;
  private readonly maxActive: number;
  private readonly maxFinished: number;
  private readonly listeners: (() => void)[] = [];

  constructor(opts: JobTableOptions = {}) {
    this.maxActive = opts.maxActiveJobs ?? 10_000;
    this.maxFinished = opts.maxFinishedJobs ?? 1000;
  }

  /** Hear of every change (after it is applied). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  get(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }

  /** Every job, in submission order. */
  list(): JobRecord[] {
    return [...this.jobs.values()];
  }

  /** Members that offer resources, with what they offer. */
  offers(): [string, NodeResources][] {
    return [...this.nodes];
  }

  /** The view the table last saw. */
  get view(): number {
    return this.viewId;
  }

  /** Placements made so far (the highest token's `placement`). */
  get placementCount(): number {
    return this.placements;
  }

  submit(raw: unknown, by: string): JobRecord {
    const spec = parseJobSpec(raw);
    let active = 0;
    for (const j of this.jobs.values()) if (!finished(j.state)) active++;
    if (active >= this.maxActive) throw new HorusError('ERR_BACKPRESSURE', `${active} jobs are pending or running already`);
    const job: JobRecord = {
      id: `j${this.nextJob++}`,
      spec,
      state: 'pending',
      node: null,
      token: null,
      restarts: 0,
      failures: [],
      lastExit: null,
      reason: null,
      submittedBy: by,
    };
    this.jobs.set(job.id, job);
    this.placePending();
    this.changed();
    return job;
  }

  cancel(id: unknown): JobRecord {
    const job = typeof id === 'string' ? this.jobs.get(id) : undefined;
    if (!job) throw new HorusError('ERR_INVALID_ARGUMENT', `no job ${typeof id === 'string' ? id.slice(0, 64) : String(id)}`);
    if (finished(job.state)) return job;
    this.finish(job, 'cancelled', 'cancelled');
    this.placePending();
    this.changed();
    return job;
  }

  /** `member` offers `raw` (a new advertisement replaces its old one). */
  advertise(member: string, raw: unknown): void {
    this.nodes.set(member, parseResources(raw));
    this.placePending();
    this.changed();
  }

  /** `member` reports that the job's placement `placement` ended with `code` (null: a signal) at `at` (its wall clock). */
  exited(member: string, id: unknown, placement: unknown, code: unknown, at: unknown): ExitOutcome {
    if (
      typeof id !== 'string' ||
      !Number.isSafeInteger(placement) ||
      !(code === null || Number.isSafeInteger(code)) ||
      typeof at !== 'number' ||
      !Number.isFinite(at)
    )
      throw new HorusError('ERR_MALFORMED', 'an exit report is [id, placement, code or null, time]');
    const job = this.jobs.get(id);
    if (!job || job.state !== 'running' || job.node !== member || job.token?.placement !== placement) return 'stale';
    const c = code as number | null;
    job.lastExit = c;
    const failed = c !== 0;
    const restart = job.spec.restart === 'always' || (job.spec.restart === 'on-failure' && failed);
    if (!restart) this.finish(job, failed ? 'failed' : 'done', failed ? `exited with ${c === null ? 'a signal' : `code ${c}`}` : null);
    else {
      const policy = job.spec.giveUp;
      const r = recordFailure(job.failures, at, policy);
      job.failures = r.times;
      if (r.giveUp)
        this.finish(
          job,
          'failed',
          `gave up: ${policy.maxFailures} failures within ${policy.windowMs / 1000} s (last: ${c === null ? 'a signal' : `code ${c}`})`,
        );
      else this.unplace(job, `restarting after ${c === null ? 'a signal' : `exit code ${c}`}`);
    }
    this.placePending();
    this.changed();
    return 'applied';
  }

  /** A view was installed: nodes that left it are gone, and their jobs are placed again elsewhere. */
  viewChanged(viewId: number, members: readonly string[]): void {
    this.viewId = viewId;
    const live = new Set(members);
    for (const m of [...this.nodes.keys()]) if (!live.has(m)) this.nodes.delete(m);
    for (const job of this.jobs.values()) {
      if (job.state !== 'running' || live.has(job.node!)) continue;
      if (job.spec.restart === 'never') this.finish(job, 'failed', `its node ${job.node} was lost`);
      else this.unplace(job, `its node ${job.node} was lost`);
    }
    this.placePending();
    this.changed();
  }

  snapshot(): Snapshot {
    return { v: 1, nodes: [...this.nodes], jobs: [...this.jobs.values()], nextJob: this.nextJob, placements: this.placements, viewId: this.viewId };
  }

  restore(raw: unknown): void {
    const s = raw as Partial<Snapshot> | null;
    if (!s || s.v !== 1 || !Array.isArray(s.nodes) || !Array.isArray(s.jobs) || !Number.isSafeInteger(s.nextJob) || !Number.isSafeInteger(s.placements))
      throw new HorusError('ERR_STATE_TRANSFER', 'not a job table snapshot');
    this.nodes.clear();
    this.jobs.clear();
    for (const [m, r] of s.nodes) this.nodes.set(m, parseResources(r));
    for (const j of s.jobs) this.jobs.set(j.id, { ...j, spec: parseJobSpec(j.spec) });
    this.nextJob = s.nextJob!;
    this.placements = s.placements!;
    this.viewId = s.viewId ?? 0;
    this.changed();
  }

  private unplace(job: JobRecord, reason: string): void {
    job.state = 'pending';
    job.node = null;
    job.token = null;
    job.restarts++;
    job.reason = reason;
  }

  private finish(job: JobRecord, state: JobState, reason: string | null): void {
    job.state = state;
    job.node = null;
    job.token = null;
    job.reason = reason;
    // Forget the oldest finished jobs beyond the cap.
    let n = 0;
    for (const j of this.jobs.values()) if (finished(j.state)) n++;
    for (const j of [...this.jobs.values()]) {
      if (n <= this.maxFinished) break;
      if (finished(j.state) && j !== job) {
        this.jobs.delete(j.id);
        n--;
      }
    }
  }

  /** Place every pending job that fits somewhere now, in submission order. */
  private placePending(): void {
    const load = new Map<string, NodeLoad>();
    for (const m of this.nodes.keys()) load.set(m, { cpus: 0, memoryMb: 0 });
    for (const j of this.jobs.values()) {
      const l = j.state === 'running' ? load.get(j.node!) : undefined;
      if (l) {
        l.cpus += j.spec.needs.cpus;
        l.memoryMb += j.spec.needs.memoryMb;
      }
    }
    const candidates: Candidate[] = [...this.nodes].map(([member, resources]) => ({ member, resources, load: load.get(member)! }));
    for (const job of this.jobs.values()) {
      if (job.state !== 'pending') continue;
      const member = chooseNode(job.spec, candidates);
      if (member === null) {
        job.reason = candidates.some((c) => matches(job.spec, c.resources)) ? 'waiting for a matching node to have room' : 'no live node matches its needs';
        continue;
      }
      job.state = 'running';
      job.node = member;
      job.token = { viewId: this.viewId, placement: ++this.placements };
      job.reason = null;
      const l = load.get(member)!;
      l.cpus += job.spec.needs.cpus;
      l.memoryMb += job.spec.needs.memoryMb;
    }
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}
