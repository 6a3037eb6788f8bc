// The benchmark's side of a member process (member.ts): fork it, send it commands, collect its events.
// Children are killed by close(), and also if this process exits or is interrupted without calling it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, Command, CommandResults, LogLevel, Reply, StatsEvent, ViewEvent } from './protocol.js';
import { withTimeout } from './wait.js';

const MEMBER_SCRIPT = fileURLToPath(new URL('./member.ts', import.meta.url));
// Absolute, so the children find tsx whatever the working directory.
const TSX = import.meta.resolve('tsx');

type CommandOf<K extends Command['cmd']> = Extract<Command, { cmd: K }>;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.kill('SIGKILL');
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}

export interface ListenOptions {
  logLevel?: LogLevel;
  statsIntervalMs?: number;
  seeds?: string[];
}

/** One member process and its request/reply channel. */
export class MemberHandle {
  endpoint = '';
  /** Its id in the group (deliveries name senders by it). */
  memberId = '';
  pid = 0;
  readonly stats: StatsEvent[] = [];
  readonly fatal: string[] = [];
  /** Views it installed in a dynamic group, as it reported them (wall-clock `t`). */
  readonly views: ViewEvent[] = [];
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
      if (m.ev === 'stats') this.stats.push(m);
      else if (m.ev === 'view') this.views.push(m);
      else this.fatal.push(m.error);
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

  /** Binds a free loopback port and starts the node. */
  async listen(opts: ListenOptions = {}): Promise<void> {
    const l = await this.request<'listen'>({
      cmd: 'listen',
      host: '127.0.0.1',
      port: 0,
      logLevel: opts.logLevel ?? 'error',
      statsIntervalMs: opts.statsIntervalMs ?? 250,
      ...(opts.seeds !== undefined ? { seeds: opts.seeds } : {}),
    });
    this.endpoint = l.endpoint;
    this.pid = l.pid;
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  /** Graceful close (so --cpu-prof can write its profile), then SIGKILL whatever is left. */
  async close(graceMs = 3000): Promise<void> {
    if (this.alive && graceMs > 0) {
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

/** Forks one member process (not listening yet: see MemberHandle.listen). Killed if this process exits. */
export function forkMember(index: number, execArgv: readonly string[] = []): MemberHandle {
  installExitHook();
  const child = fork(MEMBER_SCRIPT, [], {
    execArgv: ['--import', TSX, ...execArgv],
    // Children's output goes to our stderr: the bench prints its JSON on stdout.
    stdio: ['ignore', 2, 2, 'ipc'],
  });
  return new MemberHandle(index, child);
}
