// The benchmark's side of a member process (member.ts): fork it, send it commands, collect its events.
// Children are killed by close(), and also if this process exits or is interrupted without calling it.
import { fileURLToPath } from 'node:url';
import { forkWorker, IpcWorker } from './ipc.js';
import type { ChildEvent, Command, CommandResults, LogLevel, StatsEvent, ViewEvent } from './protocol.js';

const MEMBER_SCRIPT = fileURLToPath(new URL('./member.ts', import.meta.url));

export interface ListenOptions {
  /** Address and port to listen on (default: a free loopback port). */
  host?: string;
  port?: number;
  logLevel?: LogLevel;
  statsIntervalMs?: number;
  seeds?: string[];
}

/** One member process and its request/reply channel. */
export class MemberHandle extends IpcWorker<Command, CommandResults, Exclude<ChildEvent, { ev: 'fatal' }>> {
  /** Its id in the group (deliveries name senders by it). */
  memberId = '';
  pid = 0;
  readonly stats: StatsEvent[] = [];
  /** Views it installed in a dynamic group, as it reported them (wall-clock `t`). */
  readonly views: ViewEvent[] = [];

  protected onEvent(ev: StatsEvent | ViewEvent): void {
    if (ev.ev === 'stats') this.stats.push(ev);
    else this.views.push(ev);
  }

  /** Binds a free loopback port and starts the node. */
  async listen(opts: ListenOptions = {}): Promise<void> {
    const l = await this.request<'listen'>({
      cmd: 'listen',
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      logLevel: opts.logLevel ?? memberLogLevel(),
      statsIntervalMs: opts.statsIntervalMs ?? 250,
      ...(opts.seeds !== undefined ? { seeds: opts.seeds } : {}),
    });
    this.endpoint = l.endpoint;
    this.pid = l.pid;
  }
}

/**
 * Forks one member process (not listening yet: see MemberHandle.listen). Killed if this process exits.
 * `prefix`: a command it runs under (e.g. `ip netns exec NS`, see NetLab.exec).
 */
export function forkMember(index: number, execArgv: readonly string[] = [], prefix?: readonly string[]): MemberHandle {
  // HORUS_BENCH_MEMBER_ARGS: extra Node flags for the member processes only (e.g. `--trace-gc`, which
  // NODE_OPTIONS refuses), to look inside a case without changing it.
  const extra = process.env.HORUS_BENCH_MEMBER_ARGS?.split(' ').filter((a) => a !== '') ?? [];
  return new MemberHandle(index, forkWorker(MEMBER_SCRIPT, { execArgv: [...execArgv, ...extra], ...(prefix !== undefined ? { prefix } : {}) }));
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** HORUS_BENCH_LOG_LEVEL: the members' log level (JSON lines on stderr) when a runner sets none; default error. */
function memberLogLevel(): LogLevel {
  const v = process.env.HORUS_BENCH_LOG_LEVEL;
  if (v === undefined || v === '') return 'error';
  if (!(LOG_LEVELS as readonly string[]).includes(v)) throw new Error(`HORUS_BENCH_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${v}`);
  return v as LogLevel;
}
