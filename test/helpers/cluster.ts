// Spawns K member processes (member-process.ts) on free loopback ports and drives them over IPC.
// Children are killed by close(), and also if this process exits without calling it.
import { fileURLToPath } from 'node:url';
import { forkWorker, IpcWorker } from '../../bench/lib/ipc.js';
import type { LogLevel } from '../../src/core/logger.js';
import type { ChildEvent, Command, CommandResults, StatsEvent, Summary, ViewEvent } from './member-process.js';

import { withTimeout } from '../../bench/lib/wait.js';

export { waitUntil, withTimeout } from '../../bench/lib/wait.js';
export { median, percentile } from '../../bench/lib/stats.js';

const MEMBER_SCRIPT = fileURLToPath(new URL('./member-process.ts', import.meta.url));

export interface ClusterOptions {
  size: number;
  group?: string;
  stack?: string;
  host?: string;
  logLevel?: LogLevel;
  /** Hash every payload byte (integrity check); off for benchmarks. */
  verify?: boolean;
  /** Receivers record the latency of every message whose id is a multiple of this. */
  sampleEvery?: number;
  statsIntervalMs?: number;
  /** Extra node flags for the children, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  execArgv?: string[];
  readyTimeoutMs?: number;
}

type CommandOf<K extends Command['cmd']> = Extract<Command, { cmd: K }>;

/** One child process and its request/reply channel. */
export class Member extends IpcWorker<Command, CommandResults, Exclude<ChildEvent, { ev: 'fatal' }>> {
  /** Its id in the group (deliveries name senders by it). */
  memberId = '';
  pid = 0;
  readonly stats: StatsEvent[] = [];
  /** Views it installed in a dynamic group, as it reported them (wall-clock `t`). */
  readonly views: ViewEvent[] = [];
  /** When it learnt it was excluded (wall clock, ms), and under which member id. */
  readonly exclusions: { t: number; memberId: string }[] = [];

  protected onEvent(ev: Exclude<ChildEvent, { ev: 'fatal' }>): void {
    switch (ev.ev) {
      case 'stats':
        this.stats.push(ev);
        break;
      case 'view':
        this.views.push(ev);
        break;
      case 'excluded':
        this.exclusions.push({ t: ev.t, memberId: ev.memberId });
        break;
    }
  }

  summary(): Promise<Summary> {
    return this.request<'summary'>({ cmd: 'summary' });
  }

  /** Binds a port (0: any free one) and starts the node. */
  async listen(
    opts: { host?: string; port?: number; logLevel?: LogLevel; statsIntervalMs?: number; seeds?: string[]; historyFile?: string } = {},
  ): Promise<void> {
    const l = await this.request<'listen'>({
      cmd: 'listen',
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      logLevel: opts.logLevel ?? 'warn',
      statsIntervalMs: opts.statsIntervalMs ?? 250,
      ...(opts.seeds !== undefined ? { seeds: opts.seeds } : {}),
      ...(opts.historyFile !== undefined ? { historyFile: opts.historyFile } : {}),
    });
    this.endpoint = l.endpoint;
    this.pid = l.pid;
  }
}

/** Forks one member process (not listening yet: see Member.listen). Killed if this process exits. */
export function forkMember(index: number, execArgv: readonly string[] = []): Member {
  return new Member(index, forkWorker(MEMBER_SCRIPT, { execArgv }));
}

/**
 * Forks one member process inside a network namespace (`ip netns exec NS node ...`, root only: see
 * netns.ts), keeping the IPC channel (the fd survives the exec). `prefix` is the command that enters
 * the namespace (NetLab.exec(i)); `logFd`, if given, takes the child's stdout and stderr.
 */
export function forkMemberIn(index: number, prefix: readonly string[], opts: { execArgv?: readonly string[]; logFd?: number } = {}): Member {
  return new Member(
    index,
    forkWorker(MEMBER_SCRIPT, { prefix, ...(opts.execArgv ? { execArgv: opts.execArgv } : {}), ...(opts.logFd !== undefined ? { outFd: opts.logFd } : {}) }),
  );
}

/** K members of one fixed-membership group, each in its own process. */
export class Cluster {
  private closed = false;
  private constructor(
    readonly members: Member[],
    readonly endpoints: string[],
    readonly group: string,
    readonly memberIds: string[] = [],
  ) {}

  /** Forks the members, lets each bind a free port, then has all join once all are listening. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const host = opts.host ?? '127.0.0.1';
    const groupName = opts.group ?? 'g';
    const members: Member[] = [];
    for (let i = 0; i < opts.size; i++) members.push(forkMember(i, opts.execArgv));
    const cluster = new Cluster(members, [], groupName);
    try {
      const ready = (async () => {
        const listening = await Promise.all(
          members.map((m) =>
            m.request<'listen'>({ cmd: 'listen', host, port: 0, logLevel: opts.logLevel ?? 'warn', statsIntervalMs: opts.statsIntervalMs ?? 250 }),
          ),
        );
        listening.forEach((l, i) => {
          members[i]!.endpoint = l.endpoint;
          members[i]!.pid = l.pid;
        });
        cluster.endpoints.push(...listening.map((l) => l.endpoint));
        const joined = await Promise.all(
          members.map((m) =>
            m.request<'join'>({
              cmd: 'join',
              group: groupName,
              members: cluster.endpoints,
              ...(opts.stack !== undefined ? { stack: opts.stack } : {}),
              sampleEvery: opts.sampleEvery ?? 100,
              verify: opts.verify ?? false,
            }),
          ),
        );
        joined.forEach((j, i) => (members[i]!.memberId = j.memberId));
        cluster.memberIds.push(...joined.map((j) => j.memberId));
      })();
      await withTimeout(ready, opts.readyTimeoutMs ?? 30_000, 'cluster start');
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /** The same command to every member, in parallel. */
  all<K extends Command['cmd']>(c: CommandOf<K>): Promise<CommandResults[K][]> {
    return Promise.all(this.members.map((m) => m.request<K>(c)));
  }

  summaries(): Promise<Summary[]> {
    return Promise.all(this.members.map((m) => m.summary()));
  }

  /**
   * One data phase: every member sends `count` messages of `size` bytes and waits until it has
   * delivered all members' messages. Resolves with per-member results.
   */
  async phase(p: {
    count: number;
    size: number;
    timeoutMs: number;
    burst?: number;
    intervalMs?: number;
    order?: 'fifo' | 'causal' | 'total';
    safe?: boolean;
  }): Promise<{
    sends: CommandResults['send'][];
    reached: CommandResults['expect'][];
    wallMs: number;
  }> {
    await this.all<'phase'>({ cmd: 'phase' });
    const t0 = performance.now();
    // Ask for the target before anyone sends, so no delivery can be missed.
    const reached = this.all<'expect'>({ cmd: 'expect', total: p.count * this.members.length, timeoutMs: p.timeoutMs });
    const sends = this.all<'send'>({
      cmd: 'send',
      count: p.count,
      size: p.size,
      ...(p.burst !== undefined ? { burst: p.burst, intervalMs: p.intervalMs ?? 1 } : {}),
      ...(p.order !== undefined ? { order: p.order } : {}),
      ...(p.safe ? { safe: true } : {}),
    });
    const [s, r] = await Promise.all([sends, reached]);
    return { sends: s, reached: r, wallMs: performance.now() - t0 };
  }

  /** Graceful close (so --cpu-prof can write its profile), then SIGKILL whatever is left. */
  async close(graceMs = 3000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.members.map((m) => m.close(graceMs)));
  }
}
