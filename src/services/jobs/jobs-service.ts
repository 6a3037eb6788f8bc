/**
 * The resource and recovery manager (after Isis' Network Resource Manager): a group whose members
 * offer resources and run jobs. Decisions live in a replicated JobTable that every member updates
 * in the one total order (abcast with safe delivery): submissions and cancellations from clients
 * outside the group come through a ReplicatedService (each applied once, however often retried);
 * members advertise themselves and report the ends of their jobs as ordered operations of their
 * own. Each member's JobRunner runs what the table places on it, and stops what it no longer holds.
 * Joiners get the table (placements, failures, tokens) by state transfer.
 */
import type { Group, SnapshotStateHandlers } from '../../api/group.js';
import type { HorusNode, JoinOptions } from '../../api/node.js';
import { HorusError } from '../../core/errors.js';
import { OrderedOps } from '../../tools/ordered-ops.js';
import { ReplicatedService, type ServiceMachine } from '../../tools/replicated-service.js';
import { registerService, type ServiceStatus } from '../registry.js';
import { jobInfo, type JobInfo } from './job-info.js';
import { JobRunner, type JobHandler, type JobRunnerOptions, type RunnerEvent } from './job-runner.js';
import { parseResources, type JobSubmission, type NodeResources } from './job-spec.js';
import { JobTable } from './job-table.js';

/** A request of a client outside the group (`node.client(group).request(...)`). */
export type JobsRequest = { op: 'submit'; job: JobSubmission } | { op: 'cancel'; id: string } | { op: 'list' };

export type JobsServiceOptions = Omit<JoinOptions, 'state'> & JobsServiceLocalOptions;

export interface JobsServiceLocalOptions {
  /** What this member offers; none (the default): it helps decide but runs no job. Handlers are added from `handlers`. */
  resources?: Partial<Omit<NodeResources, 'handlers'>>;
  /** Jobs this member program can run in-process, by name (advertised with the resources). */
  handlers?: Record<string, JobHandler>;
  /**
   * A command job dies this long after its member last renewed its lease (ms; default 700):
   * keep it below the group's failure-detection lease (FD leaseMs, by default suspectTimeoutMs − 300).
   */
  leaseMs?: number;
  /** A job asked to stop (SIGTERM) is killed after this long (ms; default 5000). */
  graceMs?: number;
  /** Where command jobs' output goes (default: this process's stdout and stderr). */
  output?: 'inherit' | 'ignore';
  /** Wall clock for failure times (default Date.now). */
  wallClock?: () => number;
  /** Hear of starts and stops on this member. */
  onEvent?: (ev: RunnerEvent) => void;
}

const TAG = 'horus.jobs';

type MemberOp = ['adv', unknown] | ['exit', unknown, unknown, unknown, unknown] | ['submit', unknown] | ['cancel', unknown];

function parseMemberOp(raw: unknown): MemberOp {
  if (Array.isArray(raw)) {
    if ((raw[0] === 'adv' || raw[0] === 'submit' || raw[0] === 'cancel') && raw.length === 2) return raw as MemberOp;
    if (raw[0] === 'exit' && raw.length === 5) return raw as MemberOp;
  }
  throw new HorusError('ERR_MALFORMED', 'unknown jobs operation');
}

export class JobsService {
  readonly table: JobTable;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly resources: NodeResources | null;
  private ops: OrderedOps | null = null;
  private runner: JobRunner | null = null;
  private unregister: () => void = () => {};
  private advertising = false;
  private readonly runnerOpts: Omit<JobRunnerOptions, 'env' | 'handlers' | 'report'>;
  private readonly service: ReplicatedService;

  /** Join (or found) the jobs group `name` on `node`. */
  static async join(node: HorusNode, name: string, opts: JobsServiceOptions = {}): Promise<JobsService> {
    const { resources, handlers, leaseMs, graceMs, output, wallClock, onEvent, ...joinOpts } = opts;
    const s = new JobsService({
      ...(resources ? { resources } : {}),
      ...(handlers ? { handlers } : {}),
      ...(leaseMs !== undefined ? { leaseMs } : {}),
      ...(graceMs !== undefined ? { graceMs } : {}),
      ...(output ? { output } : {}),
      ...(wallClock ? { wallClock } : {}),
      ...(onEvent ? { onEvent } : {}),
    });
    return s.attach(node, await node.join(name, { ...joinOpts, state: s.state }));
  }

  /** A service to attach to a group joined with `state` as its state handlers (JobsService.join does both). */
  constructor(opts: JobsServiceLocalOptions = {}) {
    this.table = new JobTable();
    for (const [n, h] of Object.entries(opts.handlers ?? {})) this.handlers.set(n, h);
    this.resources = opts.resources ? parseResources({ ...opts.resources, handlers: [...this.handlers.keys()] }) : null;
    const leaseMs = opts.leaseMs ?? 700;
    if (!(leaseMs >= 20)) throw new HorusError('ERR_INVALID_ARGUMENT', 'leaseMs: at least 20');
    this.runnerOpts = {
      leaseMs,
      graceMs: opts.graceMs ?? 5000,
      output: opts.output ?? 'inherit',
      wallClock: opts.wallClock ?? (() => Date.now()),
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    };
    this.service = new ReplicatedService(this.machine);
  }

  /** State handlers for the group's join: the table and the clients' reply cache. */
  get state(): SnapshotStateHandlers {
    return this.service.state;
  }

  /** The table behind a ReplicatedService: clients' submissions, cancellations and lists. */
  private readonly machine: ServiceMachine = {
    apply: (request: unknown, client: string) => {
      const r = request as Partial<Record<string, unknown>> | null;
      if (!r || typeof r !== 'object') throw new HorusError('ERR_INVALID_ARGUMENT', 'a jobs request is { op: submit | cancel | list, ... }');
      switch (r.op) {
        case 'submit':
          return jobInfo(this.table.submit(r.job, client));
        case 'cancel':
          return jobInfo(this.table.cancel(r.id));
        case 'list':
          return this.table.list().map(jobInfo);
        default:
          throw new HorusError('ERR_INVALID_ARGUMENT', 'a jobs request is { op: submit | cancel | list, ... }');
      }
    },
    snapshot: () => this.table.snapshot(),
    restore: (s) => this.table.restore(s),
  };

  attach(node: HorusNode, group: Group): this {
    if (this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'this jobs service is attached to a group already');
    this.service.attach(group);
    const r = this.runnerOpts;
    const ops = new OrderedOps(
      group,
      TAG,
      {
        apply: (raw, sender) => {
          const op = parseMemberOp(raw);
          switch (op[0]) {
            case 'adv':
              return this.table.advertise(sender, op[1]);
            case 'exit':
              return this.table.exited(sender, op[1], op[2], op[3], op[4]);
            case 'submit':
              return jobInfo(this.table.submit(op[1], sender));
            case 'cancel':
              return jobInfo(this.table.cancel(op[1]));
          }
        },
        viewChanged: (v) => this.table.viewChanged(v.id, v.members),
      },
      undefined,
      true,
    );
    this.ops = ops;
    // The view this member joined in, if its event came before this point.
    if (group.view.id !== this.table.view) this.table.viewChanged(group.view.id, group.view.members);
    this.runner = new JobRunner(this.table, group, {
      env: node.env,
      handlers: this.handlers,
      leaseMs: r.leaseMs,
      graceMs: r.graceMs,
      output: r.output,
      wallClock: r.wallClock,
      report: (id, placement, code, at) => ops.submit(['exit', id, placement, code, at]),
      ...(r.onEvent ? { onEvent: r.onEvent } : {}),
    });
    group.on('view', () => this.advertise());
    group.on('unblocked', () => this.advertise());
    this.advertise();
    this.runner.reconcile();
    this.unregister = registerService(node, { kind: 'jobs', group: group.name, status: () => this.status() });
    return this;
  }

  get group(): Group {
    return this.engine().group;
  }

  private engine(): OrderedOps {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'the jobs service is not attached to a group');
    return this.ops;
  }

  /** Offer this member's resources, unless the table has them already (again after a rejoin: a new member id). */
  private advertise(): void {
    const ops = this.ops;
    if (!this.resources || !ops || this.advertising || ops.group.isClosed) return;
    if (this.table.offers().some(([m]) => m === ops.group.localId)) return;
    this.advertising = true;
    ops.submit(['adv', this.resources]).then(
      () => {
        this.advertising = false;
      },
      () => {
        this.advertising = false; // tried again at the next view or unblock
      },
    );
  }

  /** Submit a job from this member; resolves once it is in the table (placed, or pending). */
  async submit(job: JobSubmission): Promise<JobInfo> {
    return (await this.engine().submit(['submit', job])) as JobInfo;
  }

  async cancel(id: string): Promise<JobInfo> {
    return (await this.engine().submit(['cancel', id])) as JobInfo;
  }

  /** Every job as this replica sees it. */
  list(): JobInfo[] {
    return this.table.list().map(jobInfo);
  }

  /** Jobs running on this member now. */
  runningHere(): { id: string; placement: number; stopping: boolean }[] {
    return (this.runner?.running() ?? []).map((r) => ({ id: r.id, placement: r.token.placement, stopping: r.stopping }));
  }

  status(): ServiceStatus {
    const g = this.ops?.group;
    const jobs = this.list();
    const count = (s: string): number => jobs.filter((j) => j.state === s).length;
    return {
      member: g?.localId ?? null,
      view: this.table.view,
      placements: this.table.placementCount,
      summary: { pending: count('pending'), running: count('running'), done: count('done'), failed: count('failed'), cancelled: count('cancelled') },
      nodes: this.table.offers().map(([member, r]) => ({ member, ...r })),
      jobs,
      runningHere: this.runningHere(),
    };
  }

  /** Stop this member's jobs (SIGTERM, then SIGKILL) and leave the group: the others place its jobs elsewhere. */
  async close(): Promise<void> {
    this.unregister();
    await this.runner?.close();
    if (this.ops && !this.ops.group.isClosed) await this.ops.group.leave();
  }
}
