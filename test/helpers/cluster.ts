// Spawns K member processes (member-process.ts) on free loopback ports and drives them over IPC.
// Children are killed by close(), and also if this process exits without calling it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LogLevel } from '../../src/core/logger.js';
import type { ChildMessage, Command, CommandResults, Reply, StatsEvent, Summary, ViewEvent } from './member-process.js';

const MEMBER_SCRIPT = fileURLToPath(new URL('./member-process.ts', import.meta.url));
// Absolute, so the children find tsx whatever the working directory.
const TSX = import.meta.resolve('tsx');

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

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test throws past its cleanup or the runner exits: never leave members behind.
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
  // Interrupted: 'exit' does not run on a signal, and a SIGSTOPped child would not see the IPC close.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.kill('SIGKILL');
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}

/** One child process and its request/reply channel. */
export class Member {
  endpoint = '';
  /** Its id in the group (deliveries name senders by it). */
  memberId = '';
  pid = 0;
  readonly stats: StatsEvent[] = [];
  readonly fatal: string[] = [];
  /** Views it installed in a dynamic group, as it reported them (wall-clock `t`). */
  readonly views: ViewEvent[] = [];
  /** When it learnt it was excluded (wall clock, ms), and under which member id. */
  readonly exclusions: { t: number; memberId: string }[] = [];
  /** Sent SIGSTOP and not SIGCONT since. */
  stopped = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private nextRid = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    child.on('message', (m: ChildMessage) => this.onMessage(m));
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exitCode = code;
        this.exitSignal = signal;
        for (const w of this.waiting.values()) w.reject(new Error(`member ${index} exited (code ${code}, signal ${signal}) ${this.fatal.join('; ')}`));
        this.waiting.clear();
        resolve();
      });
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private onMessage(m: ChildMessage): void {
    if ('ev' in m) {
      switch (m.ev) {
        case 'stats':
          this.stats.push(m);
          break;
        case 'view':
          this.views.push(m);
          break;
        case 'excluded':
          this.exclusions.push({ t: m.t, memberId: m.memberId });
          break;
        case 'fatal':
          this.fatal.push(m.error);
          break;
      }
      return;
    }
    const w = this.waiting.get(m.rid);
    if (w === undefined) return;
    this.waiting.delete(m.rid);
    w.resolve(m);
  }

  async request<K extends Command['cmd']>(c: CommandOf<K>): Promise<CommandResults[K]> {
    if (!this.alive) throw new Error(`member ${this.index} is not running`);
    const rid = this.nextRid++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.waiting.set(rid, { resolve, reject });
      this.child.send({ ...c, rid });
    });
    if (!reply.ok) throw new Error(`member ${this.index} (${this.endpoint}) ${c.cmd}: ${reply.error}`);
    // The child answers each command with that command's result type.
    return reply.result as CommandResults[K];
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

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  /** SIGSTOP / SIGCONT (a paused process, as a long GC or a stopped VM would look). */
  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    if (!this.alive) return;
    this.child.kill(sig);
    this.stopped = sig === 'SIGSTOP';
  }

  /** Graceful close (so --cpu-prof can write its profile), then SIGKILL whatever is left. */
  async close(graceMs = 3000): Promise<void> {
    if (this.alive && !this.stopped && graceMs > 0) {
      try {
        await withTimeout(this.request<'close'>({ cmd: 'close' }), graceMs, 'close');
        await withTimeout(this.exited, graceMs, 'exit');
      } catch {
        // Fall through to the kill.
      }
    }
    this.kill();
    await this.exited;
  }
}

/** Forks one member process (not listening yet: see Member.listen). Killed if this process exits. */
export function forkMember(index: number, execArgv: readonly string[] = []): Member {
  installExitHook();
  const child = fork(MEMBER_SCRIPT, [], {
    execArgv: ['--import', TSX, ...execArgv],
    // Children's stdout goes to our stderr: a bench prints its JSON on stdout, the test runner its report.
    stdio: ['ignore', 2, 2, 'ipc'],
  });
  return new Member(index, child);
}

/**
 * Forks one member process inside a network namespace (`ip netns exec NS node ...`, root only: see
 * netns.ts), keeping the IPC channel (the fd survives the exec). `prefix` is the command that enters
 * the namespace (NetLab.exec(i)); `logFd`, if given, takes the child's stdout and stderr.
 */
export function forkMemberIn(index: number, prefix: readonly string[], opts: { execArgv?: readonly string[]; logFd?: number } = {}): Member {
  installExitHook();
  const [cmd, ...args] = prefix;
  const out = opts.logFd ?? 2;
  const child = fork(MEMBER_SCRIPT, [], {
    execPath: cmd!,
    execArgv: [...args, process.execPath, '--import', TSX, ...(opts.execArgv ?? [])],
    stdio: ['ignore', out, out, 'ipc'],
  });
  return new Member(index, child);
}

/** Polls `cond` every `pollMs` until it holds; rejects after `timeoutMs` with `what` (and `detail()`). */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  opts: { timeoutMs: number; what: string; pollMs?: number; detail?: () => string | Promise<string> },
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > opts.timeoutMs) {
      const detail = opts.detail ? `: ${await opts.detail()}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 50));
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
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
    installExitHook();
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

/** Percentile of an unsorted sample (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
