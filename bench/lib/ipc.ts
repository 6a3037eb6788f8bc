// A parent and its forked worker processes, talking over the IPC channel: each command goes with a
// request id and gets one reply; the child may also post events. Shared by the benchmark's members
// (member.ts / member-handle.ts) and the tests' (test/helpers/member-process.ts / cluster.ts).
// Children are killed when this process exits or is interrupted, even without close().
import { fork, type ChildProcess } from 'node:child_process';
import { withTimeout } from './wait.js';

/** A child's answer to one request. */
export type IpcReply<R> = { rid: number; ok: true; result: R } | { rid: number; ok: false; error: string };
/** What a child posts: replies, and events of its own (`{ ev: 'fatal' }` included). */
export type IpcMessage<R, E> = IpcReply<R> | E;
/** A child's unhandled error, posted before it exits. */
export interface FatalEvent {
  ev: 'fatal';
  error: string;
}

// Absolute, so the children find tsx whatever the working directory.
const TSX = import.meta.resolve('tsx');

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a caller throws past its cleanup: never leave children behind.
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

/**
 * Forks a TypeScript worker script (or, `compiled`, its JavaScript build) with an IPC channel. With `prefix` (a command that enters a
 * network namespace, e.g. `ip netns exec NS`), the script runs under it and keeps the channel (the
 * fd survives the exec). Its stdout and stderr go to `outFd` (default: our stderr, since a bench
 * prints its JSON on stdout and the test runner its report).
 */
export function forkWorker(
  script: string,
  opts: { execArgv?: readonly string[]; prefix?: readonly string[]; outFd?: number; /** `script` is JavaScript: no tsx loader. */ compiled?: boolean } = {},
): ChildProcess {
  installExitHook();
  const out = opts.outFd ?? 2;
  const stdio: ['ignore', number, number, 'ipc'] = ['ignore', out, out, 'ipc'];
  const execArgv = [...(opts.compiled === true ? [] : ['--import', TSX]), ...(opts.execArgv ?? [])];
  if (opts.prefix === undefined) return fork(script, [], { execArgv, stdio });
  const [cmd, ...args] = opts.prefix;
  return fork(script, [], { execPath: cmd!, execArgv: [...args, process.execPath, ...execArgv], stdio });
}

type CommandOf<C extends { cmd: string }, K extends C['cmd']> = Extract<C, { cmd: K }>;

/**
 * The parent's side of one worker: typed requests (`Results[K]` answers command `K`), events handed
 * to `onEvent`, SIGSTOP/SIGCONT, and a close that asks first and kills after a grace period.
 */
export abstract class IpcWorker<C extends { cmd: string }, Results extends { [K in C['cmd']]: unknown }, E extends { ev: string }> {
  endpoint = '';
  readonly fatal: string[] = [];
  /** Sent SIGSTOP and not SIGCONT since. */
  stopped = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  private nextRid = 1;
  private readonly waiting = new Map<number, { resolve: (r: IpcReply<unknown>) => void; reject: (e: Error) => void }>();

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    child.on('message', (m: IpcMessage<unknown, E | FatalEvent>) => this.onMessage(m));
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

  /** An event the child posted (fatal errors are kept in `fatal` before this is called). */
  protected abstract onEvent(ev: E): void;

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private onMessage(m: IpcMessage<unknown, E | FatalEvent>): void {
    if ('ev' in m) {
      if (m.ev === 'fatal') this.fatal.push((m as FatalEvent).error);
      else this.onEvent(m as E);
      return;
    }
    const w = this.waiting.get(m.rid);
    if (w === undefined) return;
    this.waiting.delete(m.rid);
    w.resolve(m);
  }

  async request<K extends C['cmd']>(c: CommandOf<C, K>): Promise<Results[K]> {
    if (!this.alive) throw new Error(`member ${this.index} is not running`);
    const rid = this.nextRid++;
    const reply = await new Promise<IpcReply<unknown>>((resolve, reject) => {
      this.waiting.set(rid, { resolve, reject });
      this.child.send({ ...c, rid });
    });
    if (!reply.ok) throw new Error(`member ${this.index} (${this.endpoint}) ${c.cmd}: ${reply.error}`);
    // The child answers each command with that command's result type.
    return reply.result as Results[K];
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
        await withTimeout(this.request({ cmd: 'close' } as CommandOf<C, C['cmd']>), graceMs, 'close');
        await withTimeout(this.exited, graceMs, 'exit');
      } catch {
        // Fall through to the kill.
      }
    }
    this.kill();
    await this.exited;
  }
}

/**
 * The child's side: answers each request with `handle`'s result (or its error), posts uncaught
 * errors as a fatal event, exits after answering 'close' or when the parent is gone.
 */
export function serveIpc<Req extends { rid: number; cmd: string }>(script: string, handle: (m: Req) => Promise<unknown>): void {
  if (process.send === undefined) {
    console.error(`${script} must be started with an IPC channel (child_process.fork)`);
    process.exit(2);
  }
  process.on('uncaughtException', reportFatal);
  process.on('unhandledRejection', reportFatal);
  // The parent is gone (or killed us off): nothing left to do.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: Req) => {
    handle(m).then(
      (result) => {
        postToParent({ rid: m.rid, ok: true, result });
        if (m.cmd === 'close') setImmediate(() => process.exit(0));
      },
      (err: unknown) => postToParent({ rid: m.rid, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
}

/** Posts an event to the parent, if it is still there. */
export function postToParent(m: unknown): void {
  if (process.connected) process.send!(m);
}

/** Posts an error the child cannot handle as a fatal event; the child will exit with code 1. */
export function reportFatal(err: unknown): void {
  postToParent({ ev: 'fatal', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
}
