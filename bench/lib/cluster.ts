// K member processes in one fixed-membership group on loopback, driven as one.
import { forkMember, type MemberHandle } from './member-handle.js';
import type { Command, CommandResults, LogLevel, SendOrder, Summary } from './protocol.js';
import { withTimeout } from './wait.js';

type CommandOf<K extends Command['cmd']> = Extract<Command, { cmd: K }>;

export interface ClusterOptions {
  size: number;
  group?: string;
  stack?: string;
  logLevel?: LogLevel;
  statsIntervalMs?: number;
  /** Extra node flags for the children, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR']. */
  execArgv?: readonly string[];
  readyTimeoutMs?: number;
}

export interface PhaseOptions {
  /** Messages per member. */
  count: number;
  size: number;
  order: SendOrder;
  safe: boolean;
  timeoutMs: number;
  /** Receivers sample the latency of every `sampleEvery`-th message of each sender. */
  sampleEvery: number;
  /** Open loop: each member sends at this rate (messages/s). Closed loop when absent. */
  ratePerSec?: number;
  /** Closed loop in lists of this many (group.castMany). */
  batch?: number;
}

export interface PhaseResult {
  sends: CommandResults['send'][];
  reached: CommandResults['expect'][];
  wallMs: number;
}

export class Cluster {
  private closed = false;
  private constructor(
    readonly members: MemberHandle[],
    readonly group: string,
  ) {}

  /** Forks the members, lets each bind a free port, then has all join once all are listening. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const members = Array.from({ length: opts.size }, (_, i) => forkMember(i, opts.execArgv));
    const cluster = new Cluster(members, opts.group ?? 'bench');
    try {
      const ready = (async () => {
        await Promise.all(members.map((m) => m.listen({ logLevel: opts.logLevel ?? 'error', statsIntervalMs: opts.statsIntervalMs ?? 250 })));
        const endpoints = members.map((m) => m.endpoint);
        const joined = await cluster.all<'join'>({
          cmd: 'join',
          group: cluster.group,
          members: endpoints,
          ...(opts.stack !== undefined ? { stack: opts.stack } : {}),
        });
        joined.forEach((j, i) => (members[i]!.memberId = j.memberId));
      })();
      // Starting a process compiles TypeScript (tsx): many at once on a busy machine take a while.
      await withTimeout(ready, opts.readyTimeoutMs ?? 30_000 + 10_000 * opts.size, `start of ${opts.size} members`);
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
    return this.all<'summary'>({ cmd: 'summary' });
  }

  /** One data phase: every member sends `count` messages and waits until it has delivered everyone's. */
  async phase(p: PhaseOptions): Promise<PhaseResult> {
    // Open loop measures latency: the members also watch their own stalls (a 1 ms timer each, so not otherwise).
    await this.all<'phase'>({ cmd: 'phase', sampleEvery: p.sampleEvery, ...(p.ratePerSec !== undefined ? { watchStalls: true } : {}) });
    const t0 = performance.now();
    // Ask for the target before anyone sends, so no delivery can be missed.
    const reached = this.all<'expect'>({ cmd: 'expect', total: p.count * this.members.length, timeoutMs: p.timeoutMs });
    const sends = this.all<'send'>({
      cmd: 'send',
      count: p.count,
      size: p.size,
      order: p.order,
      safe: p.safe,
      ...(p.ratePerSec !== undefined ? { ratePerSec: p.ratePerSec } : {}),
      ...(p.batch !== undefined ? { batch: p.batch } : {}),
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
