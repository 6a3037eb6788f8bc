/**
 * The monitor (after Meta/Lomita): sensors report values into a group, rules over them are
 * evaluated by the group (every replica of a MonitorTable, in the one total order), and each firing
 * runs its action once per condition episode, by one member, taken over by the next if that member
 * fails before it reports the outcome. Sensors: any member's `report(metric, value)`, clients'
 * reports (`node.client(group).request({ op: 'report', metric, value })`), the view's size
 * (`members`: joins and leaves), and a jobs service's failed jobs (`watchJobs`: `jobs_failed`).
 */
import type { Group, SnapshotStateHandlers } from '../../api/group.js';
import type { HorusNode, JoinOptions } from '../../api/node.js';
import { every, type Timer } from '../../core/env.js';
import { HorusError } from '../../core/errors.js';
import { OrderedOps } from '../../tools/ordered-ops.js';
import { ReplicatedService, type ServiceMachine } from '../../tools/replicated-service.js';
import type { JobsService } from '../jobs/jobs-service.js';
import { registerService, type ServiceStatus } from '../registry.js';
import { MonitorTable, type Firing } from './monitor-table.js';

/** What an action gets: the firing, and a key that is the same for every attempt of it (to make the action idempotent). */
export interface ActionContext {
  rule: string;
  episode: number;
  attempt: number;
  key: string;
  value: number;
  args: string[];
}

/** An action: its value (or what its promise resolves to) as text is the outcome's detail; a throw is a failed outcome. */
export type MonitorAction = (ctx: ActionContext) => unknown;

/** A request of a client outside the group. */
export type MonitorRequest = { op: 'report'; metric: string; value: number } | { op: 'rule'; text: string } | { op: 'history' } | { op: 'rules' };

export interface MonitorServiceLocalOptions {
  /** Rules this member adds when it joins (a rule already there is kept once). */
  rules?: string[];
  /** Actions this member can run, by name (`log` is built in: it calls `onFire`). */
  actions?: Record<string, MonitorAction>;
  /** The oldest member moves the group's clock this often (ms, default 1000), so `for` durations end without samples. */
  tickMs?: number;
  /** Samples older than this leave the aggregates (ms, default 30,000). */
  staleMs?: number;
  /** Wall clock for samples and ticks (default Date.now). */
  wallClock?: () => number;
  /** Hears every firing this member runs an action for (and the `log` action). */
  onFire?: (f: Firing, outcome: { ok: boolean; detail: string }) => void;
}

export type MonitorServiceOptions = Omit<JoinOptions, 'state'> & MonitorServiceLocalOptions;

const TAG = 'horus.monitor';
const RETRY_MS = 500;

export class MonitorService {
  readonly table: MonitorTable;
  private readonly service: ReplicatedService;
  private ops: OrderedOps | null = null;
  private readonly actions = new Map<string, MonitorAction>();
  private readonly running = new Set<string>();
  private readonly clock: () => number;
  private ticker: Timer | null = null;
  private unregister: () => void = () => {};

  static async join(node: HorusNode, name: string, opts: MonitorServiceOptions = {}): Promise<MonitorService> {
    const { rules, actions, tickMs, staleMs, wallClock, onFire, ...joinOpts } = opts;
    const local: MonitorServiceLocalOptions = {
      ...(rules ? { rules } : {}),
      ...(actions ? { actions } : {}),
      ...(tickMs !== undefined ? { tickMs } : {}),
      ...(staleMs !== undefined ? { staleMs } : {}),
      ...(wallClock ? { wallClock } : {}),
      ...(onFire ? { onFire } : {}),
    };
    const s = new MonitorService(local);
    return s.attach(node, await node.join(name, { ...joinOpts, state: s.state }));
  }

  /** `table`: the replica to keep (default a fresh MonitorTable with `staleMs`; the simulator passes purpose-broken ones). */
  constructor(
    private readonly opts: MonitorServiceLocalOptions = {},
    table?: MonitorTable,
  ) {
    this.table = table ?? new MonitorTable(opts.staleMs !== undefined ? { staleMs: opts.staleMs } : {});
    this.clock = opts.wallClock ?? (() => Date.now());
    for (const [n, a] of Object.entries(opts.actions ?? {})) this.actions.set(n, a);
    if (!this.actions.has('log')) this.actions.set('log', (c) => `logged ${c.key}`);
    this.service = new ReplicatedService(this.machine);
  }

  get state(): SnapshotStateHandlers {
    return this.service.state;
  }

  private readonly machine: ServiceMachine = {
    apply: (request: unknown, client: string) => {
      const r = request as Partial<Record<string, unknown>> | null;
      switch (r?.op) {
        case 'report':
          this.table.sample(client, r.metric, r.value, this.table.time);
          return null;
        case 'rule':
          return this.table.addRule(r.text);
        case 'history':
          return this.table.history();
        case 'rules':
          return this.table.ruleStates();
        default:
          throw new HorusError('ERR_INVALID_ARGUMENT', 'a monitor request is { op: report | rule | history | rules, ... }');
      }
    },
    snapshot: () => this.table.snapshot(),
    restore: (s) => this.table.restore(s),
  };

  attach(node: HorusNode, group: Group): this {
    if (this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'this monitor is attached to a group already');
    this.service.attach(group);
    const ops = new OrderedOps(
      group,
      TAG,
      {
        apply: (raw, sender) => {
          if (!Array.isArray(raw)) throw new HorusError('ERR_MALFORMED', 'unknown monitor operation');
          switch (raw[0]) {
            case 'sample':
              return this.table.sample(sender, raw[1], raw[2], raw[3]);
            case 'tick':
              return this.table.tick(raw[1]);
            case 'rule':
              return this.table.addRule(raw[1], raw[2]);
            case 'unrule':
              return this.table.removeRule(raw[1]);
            case 'done':
              return this.table.done(sender, raw[1], raw[2], raw[3], raw[4], raw[5], raw[6]);
            default:
              throw new HorusError('ERR_MALFORMED', 'unknown monitor operation');
          }
        },
        viewChanged: (v) => this.table.viewChanged(v.members),
      },
      undefined,
      true,
    );
    this.ops = ops;
    this.table.onChange((toRun) => {
      for (const f of toRun) this.maybeRun(f);
    });
    if (group.view.members.length > 0) this.table.viewChanged(group.view.members);
    this.ticker = every(node.env, this.opts.tickMs ?? 1000, () => {
      const g = this.ops?.group;
      if (!g || g.isClosed || g.blocked || g.view.members[0] !== g.localId) return;
      this.ops?.submit(['tick', this.clock()], { safe: false }).catch(() => {});
    });
    for (const text of this.opts.rules ?? []) void this.addRule(text).catch(() => {});
    // Firings left open by an executor that is this member (none at a join) or taken over at a view.
    group.on('unblocked', () => {
      for (const f of this.table.open()) this.maybeRun(f);
    });
    this.unregister = registerService(node, { kind: 'monitor', group: group.name, status: () => this.status() });
    return this;
  }

  get group(): Group {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'the monitor is not attached to a group');
    return this.ops.group;
  }

  /** Report a sensor value (a metric of this member). */
  async report(metric: string, value: number): Promise<void> {
    await this.engine().submit(['sample', metric, value, this.clock()], { safe: false });
  }

  /** Add a rule (resolves with its normalised text); ERR_INVALID_ARGUMENT if it does not parse. */
  async addRule(text: string): Promise<string> {
    return (await this.engine().submit(['rule', text, this.clock()])) as string;
  }

  async removeRule(text: string): Promise<boolean> {
    return (await this.engine().submit(['unrule', text])) as boolean;
  }

  /** Report `jobs_failed` (the jobs this member's replica shows failed) whenever it changes. */
  watchJobs(jobs: JobsService): void {
    let last = -1;
    jobs.table.onChange(() => {
      const n = jobs.table.list().filter((j) => j.state === 'failed').length;
      if (n === last) return;
      last = n;
      this.report('jobs_failed', n).catch(() => {
        last = -1;
      });
    });
  }

  history(): Firing[] {
    return this.table.history();
  }

  status(): ServiceStatus {
    return { member: this.ops?.group.localId ?? null, time: this.table.time, rules: this.table.ruleStates(), firings: this.table.history().slice(-50) };
  }

  async close(): Promise<void> {
    this.unregister();
    this.ticker?.cancel();
    if (this.ops && !this.ops.group.isClosed) await this.ops.group.leave();
  }

  private engine(): OrderedOps {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'the monitor is not attached to a group');
    return this.ops;
  }

  /** Run `f`'s action if this member is its executor and does not run it already. */
  private maybeRun(live: Firing): void {
    const g = this.ops?.group;
    if (!g || live.outcome !== null || live.executor !== g.localId) return;
    const f = { ...live };
    const id = `${f.rule}\u0000${f.episode}\u0000${f.attempt}`;
    if (this.running.has(id)) return;
    this.running.add(id);
    const words = f.rule.split(' then ')[1]?.split(' ') ?? [];
    const [name, ...args] = words;
    const action = name !== undefined ? this.actions.get(name) : undefined;
    const ctx: ActionContext = { rule: f.rule, episode: f.episode, attempt: f.attempt, key: `${f.rule}#${f.episode}`, value: f.value, args };
    void (async () => {
      if (!action) throw new Error(`no action ${name ?? ''} on ${g.localId}`);
      const v = (await action(ctx)) as unknown;
      return v === undefined ? 'ok' : typeof v === 'string' ? v : JSON.stringify(v);
    })().then(
      (detail) => this.finish(f, id, true, detail),
      (err: unknown) => this.finish(f, id, false, err instanceof Error ? err.message : String(err)),
    );
  }

  private finish(f: Firing, id: string, ok: boolean, detail: string): void {
    this.opts.onFire?.(f, { ok, detail });
    const send = (): void => {
      const open = this.table.open().find((x) => x.rule === f.rule && x.episode === f.episode);
      if (!open || open.attempt !== f.attempt || !this.ops || open.executor !== this.ops.group.localId) {
        this.running.delete(id);
        return;
      }
      this.ops.submit(['done', f.rule, f.episode, f.attempt, ok, detail.slice(0, 512), this.clock()]).then(
        () => this.running.delete(id),
        () => this.ops?.group.timers.setTimer(RETRY_MS, send),
      );
    };
    send();
  }
}
