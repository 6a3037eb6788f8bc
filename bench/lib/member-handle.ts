// The benchmark's side of a member process (member.ts): fork it, send it commands, collect its events.
// Children are killed by close(), and also if this process exits or is interrupted without calling it.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { forkWorker, IpcWorker } from './ipc.js';
import type { ChildEvent, Command, CommandResults, LogLevel, StatsEvent, ViewEvent } from './protocol.js';

const MEMBER_SCRIPT = fileURLToPath(new URL('./member.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where builtMemberScript() compiles member.ts and what it imports (untracked, and neither linted nor packed). */
const BUILD_DIR = join(ROOT, 'test-results', 'bench-member');

let built: Promise<string> | null = null;

/**
 * member.ts and the package sources it imports compiled to JavaScript by tsc (as `npm run build`
 * compiles the package), once per bench process; returns the compiled member script. A process
 * started from it runs plain JavaScript as users of the package do: no tsx loader compiling
 * TypeScript at start (about 1 s of CPU each, which 64 processes starting on 2 cores pay at once).
 */
export function builtMemberScript(): Promise<string> {
  built ??= (async () => {
    mkdirSync(BUILD_DIR, { recursive: true });
    const config = {
      extends: join(ROOT, 'tsconfig.json'),
      include: [MEMBER_SCRIPT],
      compilerOptions: { noEmit: false, rootDir: ROOT, outDir: BUILD_DIR, sourceMap: false, declaration: false, incremental: false },
    };
    writeFileSync(join(BUILD_DIR, 'tsconfig.json'), JSON.stringify(config));
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', join(BUILD_DIR, 'tsconfig.json')], { maxBuffer: 16 * 1024 * 1024 });
    return join(BUILD_DIR, 'bench', 'lib', 'member.js');
  })();
  return built;
}

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
 * `prefix`: a command it runs under (e.g. `ip netns exec NS`, see NetLab.exec). `script`: the
 * compiled member (builtMemberScript()) instead of member.ts under tsx.
 */
export function forkMember(index: number, execArgv: readonly string[] = [], prefix?: readonly string[], script?: string): MemberHandle {
  // HORUS_BENCH_MEMBER_ARGS: extra Node flags for the member processes only (e.g. `--trace-gc`, which
  // NODE_OPTIONS refuses), to look inside a case without changing it.
  const extra = process.env.HORUS_BENCH_MEMBER_ARGS?.split(' ').filter((a) => a !== '') ?? [];
  const opts = { execArgv: [...execArgv, ...extra], ...(prefix !== undefined ? { prefix } : {}), ...(script !== undefined ? { compiled: true } : {}) };
  return new MemberHandle(index, forkWorker(script ?? MEMBER_SCRIPT, opts));
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** HORUS_BENCH_LOG_LEVEL: the members' log level (JSON lines on stderr) when a runner sets none; default error. */
function memberLogLevel(): LogLevel {
  const v = process.env.HORUS_BENCH_LOG_LEVEL;
  if (v === undefined || v === '') return 'error';
  if (!(LOG_LEVELS as readonly string[]).includes(v)) throw new Error(`HORUS_BENCH_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${v}`);
  return v as LogLevel;
}
