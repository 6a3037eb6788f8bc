/**
 * The member's side of the manager: runs the jobs the table places on this member and stops every
 * copy it no longer holds. It reconciles after every change of the table and of the group:
 * - start each job placed here (command or handler) that does not run here yet;
 * - stop each local copy whose placement is no longer this member's current one (cancelled, placed
 *   elsewhere after this member was presumed lost): SIGTERM, then SIGKILL after a grace period;
 * - when the group blocks this member as a minority (or it is excluded, or leaves), kill every
 *   copy at once, before the majority may place the jobs elsewhere (the lease rule blocks a cut-off
 *   member before the others may suspect it), and start nothing until it is unblocked;
 * - report each job that ends by itself (its exit code), fenced by its placement number, so a stale
 *   report changes nothing.
 * Command jobs also hold a lease from this runner (see process-job.ts), so they die with it.
 */
import type { Group } from '../../api/group.js';
import { every, type Env, type Timer } from '../../core/env.js';
import { HorusError } from '../../core/errors.js';
import type { JobRecord, JobTable, JobToken } from './job-table.js';
import { startProcessJob, type RunningProcess } from './process-job.js';

/**
 * What a handler job gets: its id, its fencing token (hand it to what it writes), its args, and a
 * signal that aborts when it must stop (cancelled, placed elsewhere, this member blocked as a
 * minority, excluded, leaving or closing; `signal.reason` is a HorusError ERR_NOT_HOLDER saying
 * which). A handler stops by returning or throwing: until then it still counts as running here
 * (for at most `graceMs` after the abort; one that ignores its signal longer is let go).
 */
export interface JobContext {
  id: string;
  token: JobToken;
  args: unknown;
  signal: AbortSignal;
}

/** A job run inside the member program: its value (a number is the exit code, anything else 0) or a throw (1) ends the job. */
export type JobHandler = (ctx: JobContext) => unknown;

export interface JobRunnerOptions {
  env: Env;
  handlers: ReadonlyMap<string, JobHandler>;
  /** A command job dies this long after the runner's last renewal (ms). */
  leaseMs: number;
  /** A job asked to stop (SIGTERM) is killed after this long (ms). */
  graceMs: number;
  output: 'inherit' | 'ignore';
  /** Wall clock for exit reports (ms). */
  wallClock: () => number;
  /** Send an exit report through the total order. */
  report(id: string, placement: number, code: number | null, at: number): Promise<unknown>;
  /** Hear of starts and stops on this member (logs, tests). */
  onEvent?(ev: RunnerEvent): void;
}

export type RunnerEvent =
  | { type: 'started'; id: string; token: JobToken }
  | { type: 'exited'; id: string; token: JobToken; code: number | null }
  | { type: 'stopping'; id: string; token: JobToken; why: string }
  /** A handler that did not return within `graceMs` of its abort: it no longer counts as running. */
  | { type: 'abandoned'; id: string; token: JobToken };

/** An exit report that could not be sent is sent again after this long. */
const REPORT_RETRY_MS = 200;

interface Instance {
  id: string;
  token: JobToken;
  stopping: boolean;
  /** The SIGKILL after the grace period. */
  kill: Timer | null;
  /** Ask it to stop (`why`); `now`: kill at once. */
  stop(now: boolean, why: string): void;
  renew(): void;
}

interface Ended {
  placement: number;
  code: number | null;
  at: number;
  sending: boolean;
}

export class JobRunner {
  private readonly instances = new Map<string, Instance>();
  private readonly ended = new Map<string, Ended>();
  /** Excluded or merged away: the table is not ours to act on until a fresh one comes. */
  private stale = false;
  private staleId: string | null = null;
  private closed = false;
  private readonly renewTimer: Timer;
  private idle: (() => void)[] = [];

  constructor(
    private readonly table: JobTable,
    private readonly group: Group,
    private readonly o: JobRunnerOptions,
  ) {
    table.onChange(() => this.reconcile());
    group.on('blocked', () => this.reconcile());
    group.on('unblocked', () => this.reconcile());
    group.on('view', () => {
      if (this.stale && group.localId !== this.staleId) this.stale = false;
      this.reconcile();
    });
    const goStale = (): void => {
      this.stale = true;
      this.staleId = this.group.localId;
      this.reconcile();
    };
    group.on('excluded', goStale);
    group.on('merged', goStale);
    group.on('left', () => void this.close(true));
    this.renewTimer = every(o.env, Math.max(10, Math.floor(o.leaseMs / 4)), () => {
      if (this.fenced()) return;
      for (const i of this.instances.values()) if (!i.stopping) i.renew();
    });
  }

  /** Jobs running on this member now (stopping ones included). */
  running(): { id: string; token: JobToken; stopping: boolean }[] {
    return [...this.instances.values()].map((i) => ({ id: i.id, token: i.token, stopping: i.stopping }));
  }

  /**
   * Stop everything (the member leaves or closes): kill at once if `now`. Resolves once no copy
   * runs here any more, so that the member leaves (and the others place its jobs again) only then.
   */
  close(now = false): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.renewTimer.cancel();
      for (const i of this.instances.values()) this.stopInstance(i, now, 'the service closed');
    }
    if (this.instances.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** May this member run jobs right now? Not while blocked as a minority, rejoining, excluded or closed. */
  private fenced(): boolean {
    if (this.closed || this.stale || this.group.isClosed) return true;
    const why = this.group.blockedReasons;
    return why.includes('minority') || why.includes('joining');
  }

  reconcile(): void {
    const fenced = this.fenced();
    const me = this.group.localId;
    const mine = new Map<string, JobRecord>();
    if (!fenced) for (const j of this.table.list()) if (j.state === 'running' && j.node === me && j.token) mine.set(j.id, j);
    for (const i of this.instances.values()) {
      if (i.stopping) continue;
      const j = mine.get(i.id);
      if (!j || j.token!.placement !== i.token.placement)
        this.stopInstance(i, fenced, fenced ? 'this member may no longer run jobs (blocked, excluded or closed)' : 'no longer its holder');
    }
    for (const [id, e] of [...this.ended]) {
      const j = this.table.get(id);
      if (!j || j.state !== 'running' || j.node !== me || j.token?.placement !== e.placement) this.ended.delete(id);
      else if (!fenced && !e.sending) this.sendReport(id, e);
    }
    if (fenced) return;
    for (const j of mine.values()) if (!this.instances.has(j.id) && !this.ended.has(j.id)) this.start(j);
  }

  private sendReport(id: string, e: Ended): void {
    e.sending = true;
    this.o.report(id, e.placement, e.code, e.at).then(
      () => {
        e.sending = false;
        this.reconcile();
      },
      () => {
        // Blocked, excluded, or the send failed: try again soon (reconcile drops it once the job is placed elsewhere).
        e.sending = false;
        this.o.env.setTimer(REPORT_RETRY_MS, () => {
          if (!this.closed && this.ended.get(id) === e) this.reconcile();
        });
      },
    );
  }

  private start(j: JobRecord): void {
    const token = j.token!;
    const run = j.spec.run;
    let inst: Instance;
    const onEnd = (code: number | null): void => {
      if (this.instances.get(j.id) !== inst) return;
      this.instances.delete(j.id);
      inst.kill?.cancel();
      if (this.instances.size === 0) for (const f of this.idle.splice(0)) f();
      this.o.onEvent?.({ type: 'exited', id: j.id, token, code });
      if (!inst.stopping) {
        this.ended.set(j.id, { placement: token.placement, code, at: this.o.wallClock(), sending: false });
      }
      this.reconcile();
    };
    if (run.kind === 'command') {
      let proc: RunningProcess | null = null;
      inst = {
        id: j.id,
        token,
        stopping: false,
        kill: null,
        stop: (now) => proc?.signal(now ? 'SIGKILL' : 'SIGTERM'),
        renew: () => proc?.renew(),
      };
      this.instances.set(j.id, inst);
      proc = startProcessJob({
        argv: run.argv,
        env: { HORUS_JOB_ID: j.id, HORUS_JOB_TOKEN: `${token.viewId}.${token.placement}`, HORUS_JOB_PLACEMENT: String(token.placement) },
        leaseMs: this.o.leaseMs,
        output: this.o.output,
        onExit: onEnd,
      });
    } else {
      // A handler cannot be killed: told to stop, its signal aborts, and it counts as running here
      // until it returns (so nothing starts it here again meanwhile, and close() waits for it), or
      // until graceMs after the abort, when it is let go.
      const ac = new AbortController();
      let abandon: Timer | null = null;
      inst = {
        id: j.id,
        token,
        stopping: false,
        kill: null,
        stop: (_now, why) => {
          if (!ac.signal.aborted) ac.abort(new HorusError('ERR_NOT_HOLDER', `job ${j.id} (placement ${token.placement}) must stop: ${why}`));
          abandon ??= this.o.env.setTimer(this.o.graceMs, () => {
            if (this.instances.get(j.id) !== inst) return;
            this.o.onEvent?.({ type: 'abandoned', id: j.id, token });
            onEnd(null);
          });
        },
        renew: () => {},
      };
      this.instances.set(j.id, inst);
      const handler = this.o.handlers.get(run.handler);
      void (async () => {
        if (!handler) throw new HorusError('ERR_INVALID_ARGUMENT', `no handler ${run.handler} on this member`);
        return (await handler({ id: j.id, token, args: run.args, signal: ac.signal })) as unknown;
      })()
        .then(
          (v) => onEnd(typeof v === 'number' && Number.isSafeInteger(v) ? v : 0),
          () => onEnd(1),
        )
        .finally(() => abandon?.cancel());
    }
    this.o.onEvent?.({ type: 'started', id: j.id, token });
  }

  private stopInstance(i: Instance, now: boolean, why: string): void {
    if (i.stopping && !now) return;
    i.stopping = true;
    this.o.onEvent?.({ type: 'stopping', id: i.id, token: i.token, why });
    i.stop(now, why);
    i.kill?.cancel();
    i.kill = now ? null : this.o.env.setTimer(this.o.graceMs, () => i.stop(true, why));
  }
}
