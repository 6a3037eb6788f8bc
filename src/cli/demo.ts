/**
 * `horus demo`: a controller process that runs N member processes (`horus node --kv GROUP`) on
 * loopback, serves the dashboard with buttons to kill, pause, resume, restart and add members, and
 * proxies `horus kv` to a live member. Every child dies with it: on exit, on signals, on errors,
 * and (through the IPC channel) even when the controller itself is killed with -9.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { dirname, join } from 'node:path';
import { HorusError } from '../core/errors.js';
import type { LogLevel } from '../core/logger.js';
import { checkLocalRequest, closeHttp, HttpError, listenHttp, readBody, Router, sendJson, serveStatic, SseHub } from '../dashboard/http-util.js';
import { connectSse, type SseConnection } from '../dashboard/sse-client.js';
import type { AdminStatus } from '../dashboard/admin-server.js';
import type { ObservedEvent } from '../obs/node-observer.js';
import type { KvApplied, Membership } from './demo-member.js';
import { DEFAULT_DEMO_PORT, DEMO_STATE_FILE } from './kv-cmd.js';
import type { MemberMessage } from './node-cmd.js';
import { horusCommand, pickFreePorts } from './spawn.js';
import { DemoPki } from './demo-pki.js';
import { checkSameOrigin, isDashboardPage, isMutating, newAdminToken, requireToken, setTokenCookie } from '../dashboard/admin-auth.js';

export type MemberState = 'starting' | 'running' | 'paused' | 'killed' | 'exited' | 'failed';

/** One member as the dashboard and `horus status` see it. */
export interface MemberInfo {
  name: string;
  endpoint: string;
  state: MemberState;
  pid: number | null;
  /** Node id of the current incarnation. */
  id: string | null;
  admin: string | null;
  restarts: number;
  since: number;
  /** Last status the member streamed; null while it is not running. */
  status: AdminStatus | null;
}

export interface LifecycleEvent {
  member: string;
  endpoint: string;
  state: MemberState;
  at: number;
  detail?: string;
}

export interface DemoOptions {
  nodes: number;
  /** Dashboard port; undefined: 7080, or a free one if that is taken. 0: any free port. */
  port?: number;
  group: string;
  /** Background operations per second per member, so rates and the diagram have something to show. */
  load: number;
  membership: Membership;
  /** Members' log level (their JSON logs go to the controller's stderr). */
  logLevel: LogLevel;
  /** Write .horus/demo.json in the working directory for `horus kv`. */
  stateFile: boolean;
  /** How long a member may take to start. */
  startTimeoutMs?: number;
  /** Members' connection security (default pki, with a CA and keys made in a temporary folder). */
  security?: 'off' | 'pki';
}

type Action = 'kill' | 'pause' | 'resume' | 'restart';
const ACTIONS: readonly Action[] = ['kill', 'pause', 'resume', 'restart'];

class Member {
  state: MemberState = 'starting';
  child: ChildProcess | null = null;
  pid: number | null = null;
  id: string | null = null;
  admin: string | null = null;
  restarts = 0;
  since = Date.now();
  status: AdminStatus | null = null;
  events: SseConnection | null = null;
  /** Set while the controller itself is stopping this incarnation, so its exit reads as 'killed'. */
  killing = false;
  stderrTail: string[] = [];
  exited: Promise<void> = Promise.resolve();
  constructor(
    readonly name: string,
    readonly endpoint: string,
  ) {}
  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }
  info(): MemberInfo {
    return {
      name: this.name,
      endpoint: this.endpoint,
      state: this.state,
      pid: this.pid,
      id: this.id,
      admin: this.admin,
      restarts: this.restarts,
      since: this.since,
      status: this.status,
    };
  }
}

export class DemoController {
  private readonly members: Member[] = [];
  private readonly sse = new SseHub();
  private readonly recent: ObservedEvent[] = [];
  private readonly views: ObservedEvent[] = [];
  private readonly lifecycle: LifecycleEvent[] = [];
  private readonly seen = new Set<string>();
  private server: http.Server | null = null;
  private tick: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  /** Needed to kill, pause, resume, restart or add members; the dashboard page hands it to the browser as a same-site cookie. */
  readonly token = newAdminToken();
  /** The members' CA and keys (security pki). */
  pki: DemoPki | null = null;
  /** Lifecycle changes are printed once the start-up summary is out. */
  private started = false;
  url = '';

  constructor(
    private readonly opts: DemoOptions,
    private readonly out: (line: string) => void,
    private readonly err: (line: string) => void,
  ) {}

  get canAdd(): boolean {
    return this.opts.membership === 'dynamic';
  }

  /** Starts the dashboard server, then the members; on any failure everything started is stopped. */
  async start(): Promise<void> {
    try {
      // The dashboard port first: if it is taken, fail before any member starts.
      await this.listen();
      const ports = await pickFreePorts(this.opts.nodes);
      ports.forEach((p, i) => this.members.push(new Member(`m${i + 1}`, `127.0.0.1:${p}`)));
      if ((this.opts.security ?? 'pki') === 'pki') {
        this.pki = await DemoPki.create();
        for (const m of this.members) await this.pki.prepare(m.name);
      }
      if (this.opts.membership === 'fixed') {
        await Promise.all(this.members.map((m) => this.spawnMember(m)));
      } else {
        // The first member founds the group; the others join through it (and through each other).
        const [first, ...rest] = this.members;
        await this.spawnMember(first!);
        await Promise.all(rest.map((m) => this.spawnMember(m)));
      }
      this.tick = setInterval(() => this.broadcastMembers(), 1000);
      this.tick.unref();
      if (this.opts.stateFile) this.writeStateFile();
      this.started = true;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async listen(): Promise<void> {
    const router = this.router();
    const handle = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
      checkLocalRequest(req);
      checkSameOrigin(req);
      if (req.method === 'GET' && isDashboardPage(url.pathname)) setTokenCookie(res, this.token);
      if (isMutating(req.method) && url.pathname.startsWith('/api/demo/')) requireToken(req, this.token);
      if (url.pathname === '/api/events' && req.method === 'GET') {
        this.sse.open(req, res, [{ event: 'snapshot', data: this.snapshot() }]);
        return;
      }
      if (await router.handle(req, res, url)) return;
      if (req.method === 'GET' && (await serveStatic(url.pathname, res))) return;
      throw new HttpError(404, 'ERR_INVALID_ARGUMENT', `no such resource: ${url.pathname}`);
    };
    let bound;
    if (this.opts.port === undefined) {
      try {
        bound = await listenHttp('127.0.0.1', DEFAULT_DEMO_PORT, handle);
      } catch {
        this.err(`horus demo: port ${DEFAULT_DEMO_PORT} is taken; using a free port`);
        bound = await listenHttp('127.0.0.1', 0, handle);
      }
    } else {
      bound = await listenHttp('127.0.0.1', this.opts.port, handle);
    }
    this.server = bound.server;
    this.url = bound.url;
  }

  private snapshot(): unknown {
    return {
      mode: 'demo',
      info: this.info(),
      members: this.members.map((m) => m.info()),
      recent: this.recent,
      views: this.views,
      lifecycle: this.lifecycle,
    };
  }

  private info(): { group: string; membership: Membership; canAdd: boolean; url: string; pid: number } {
    return { group: this.opts.group, membership: this.opts.membership, canAdd: this.canAdd, url: this.url, pid: process.pid };
  }

  memberInfos(): MemberInfo[] {
    return this.members.map((m) => m.info());
  }

  private member(name: string): Member {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new HttpError(404, 'ERR_INVALID_ARGUMENT', `no member ${JSON.stringify(name)}; members: ${this.members.map((x) => x.name).join(', ')}`);
    return m;
  }

  // --- member processes ------------------------------------------------------------------------

  private spawnMember(m: Member): Promise<void> {
    // Fixed: the whole member list. Dynamic: seeds to join through, the members running now.
    const others = this.members.filter((x) => x !== m && (this.opts.membership === 'fixed' || x.state === 'running')).map((x) => x.endpoint);
    const args = [
      'node',
      '--listen',
      m.endpoint,
      '--kv',
      this.opts.group,
      '--admin',
      '127.0.0.1:0',
      '--log-level',
      this.opts.logLevel,
      '--load',
      String(this.opts.load),
      '--membership',
      this.opts.membership,
    ];
    if (others.length > 0) args.push('--seeds', others.join(','));
    if (this.pki !== null) args.push(...this.pki.argsFor(m.name));
    const { command, args: argv } = horusCommand(args);
    const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, HORUS_DEMO_MEMBER: m.name } });
    m.child = child;
    m.pid = child.pid ?? null;
    m.state = 'starting';
    m.since = Date.now();
    m.killing = false;
    m.id = null;
    m.admin = null;
    m.status = null;
    m.stderrTail = [];
    this.transition(m, 'starting', `pid ${m.pid}`);

    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        m.stderrTail.push(line);
        if (m.stderrTail.length > 20) m.stderrTail.shift();
        this.err(`[${m.name}] ${line}`);
      }
    });

    m.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (m.child !== child) return resolve();
        m.events?.close();
        m.events = null;
        m.status = null;
        const state: MemberState = m.killing || signal === 'SIGKILL' ? 'killed' : code === 0 ? 'exited' : 'failed';
        this.transition(m, state, signal ? `signal ${signal}` : `exit code ${code}`);
        resolve();
      });
    });

    return new Promise<void>((resolve, reject) => {
      const timeoutMs = this.opts.startTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new HorusError('ERR_TIMEOUT', `member ${m.name} did not start within ${timeoutMs} ms\n${m.stderrTail.join('\n')}`));
      }, timeoutMs);
      child.on('message', (raw: unknown) => {
        const msg = raw as MemberMessage;
        if (msg.type === 'ready') {
          clearTimeout(timer);
          m.id = msg.id;
          m.admin = msg.admin;
          this.transition(m, 'running', `${msg.id}, admin ${msg.admin}`);
          this.follow(m);
          resolve();
        } else if (msg.type === 'applied') {
          this.onApplied(m, msg.applied);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new HorusError(
            'ERR_CLOSED',
            `member ${m.name} (${m.endpoint}) stopped before it was ready (${signal ?? `exit code ${code}`})${m.stderrTail.length ? `:\n${m.stderrTail.join('\n')}` : ''}`,
          ),
        );
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new HorusError('ERR_CLOSED', `cannot start member ${m.name}: ${err.message}`, { cause: err }));
      });
    });
  }

  /** Streams the member's observed events into ours (and keeps its latest status). */
  private follow(m: Member): void {
    const child = m.child;
    if (!m.admin) return;
    const base = m.admin;
    const connect = (): void => {
      m.events = connectSse(
        new URL('api/events', base).href,
        (event, data) => this.onMemberEvent(m, event, data),
        () => {
          // The stream ended but the same incarnation is still alive (not paused): reconnect.
          if (m.child === child && m.alive && this.stopping === null) setTimeout(() => m.child === child && m.alive && connect(), 500).unref();
        },
      );
    };
    connect();
  }

  private onMemberEvent(m: Member, event: string, data: string): void {
    if (event === 'status') {
      m.status = JSON.parse(data) as AdminStatus;
    } else if (event === 'obs') {
      this.addObserved(JSON.parse(data) as ObservedEvent);
    } else if (event === 'snapshot') {
      const snap = JSON.parse(data) as { status: AdminStatus; recent: ObservedEvent[] };
      m.status = snap.status;
      for (const ev of snap.recent) this.addObserved(ev);
      this.broadcastMembers();
    }
  }

  private addObserved(ev: ObservedEvent): void {
    const key = ev.type === 'send' || ev.type === 'deliver' ? `${ev.type}|${ev.node}|${ev.msg}` : `${ev.type}|${ev.node}|${ev.at}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (this.seen.size > 20_000) this.seen.clear();
    const list = ev.type === 'view' || ev.type === 'blocked' || ev.type === 'unblocked' ? this.views : this.recent;
    list.push(ev);
    if (list.length > 600) list.splice(0, list.length - 600);
    this.sse.send('obs', ev);
  }

  private onApplied(m: Member, a: KvApplied): void {
    const key = `applied|${a.msg}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const from = this.members.find((x) => x.endpoint === a.from.split('/')[0])?.name ?? a.from;
    this.out(
      a.op === 'put'
        ? `kv: put ${a.key} = ${JSON.stringify(a.value)}  (from ${from}, first applied at ${m.name})`
        : `kv: del ${a.key}  (from ${from}, first applied at ${m.name})`,
    );
  }

  private transition(m: Member, state: MemberState, detail?: string): void {
    m.state = state;
    m.since = Date.now();
    const ev: LifecycleEvent = { member: m.name, endpoint: m.endpoint, state, at: Date.now(), ...(detail ? { detail } : {}) };
    this.lifecycle.push(ev);
    if (this.lifecycle.length > 500) this.lifecycle.shift();
    if (this.stopping === null && this.started && state !== 'starting') this.out(`${m.name}: ${state}${detail ? ` (${detail})` : ''}`);
    this.sse.send('lifecycle', ev);
    this.broadcastMembers();
  }

  private broadcastMembers(): void {
    this.sse.send('members', this.memberInfos());
  }

  async act(name: string, action: Action): Promise<MemberInfo> {
    if (this.stopping) throw new HttpError(503, 'ERR_CLOSED', 'the demo is stopping');
    const m = this.member(name);
    switch (action) {
      case 'kill':
        if (!m.alive) throw new HttpError(409, 'ERR_INVALID_ARGUMENT', `${m.name} is not running (${m.state})`);
        m.killing = true;
        m.child!.kill('SIGKILL');
        await m.exited;
        break;
      case 'pause':
        if (m.state !== 'running') throw new HttpError(409, 'ERR_INVALID_ARGUMENT', `${m.name} is ${m.state}, not running`);
        m.child!.kill('SIGSTOP');
        this.transition(m, 'paused', 'SIGSTOP');
        break;
      case 'resume':
        if (m.state !== 'paused') throw new HttpError(409, 'ERR_INVALID_ARGUMENT', `${m.name} is ${m.state}, not paused`);
        m.child!.kill('SIGCONT');
        this.transition(m, 'running', 'SIGCONT');
        break;
      case 'restart':
        if (m.state === 'starting') throw new HttpError(409, 'ERR_INVALID_ARGUMENT', `${m.name} is already starting`);
        if (m.alive) {
          m.killing = true;
          m.child!.kill('SIGKILL');
          await m.exited;
        }
        m.restarts++;
        // Same endpoint, new incarnation. With fixed membership it rejoins the same member list.
        await this.spawnMember(m);
        break;
    }
    return m.info();
  }

  async add(): Promise<MemberInfo> {
    if (!this.canAdd) {
      throw new HttpError(
        409,
        'ERR_CONFIG',
        'adding a member needs dynamic membership (the GMS layer); this demo runs a fixed member list (--membership fixed)',
      );
    }
    const [port] = await pickFreePorts(1);
    const m = new Member(`m${this.members.length + 1}`, `127.0.0.1:${port}`);
    await this.pki?.prepare(m.name);
    this.members.push(m);
    await this.spawnMember(m);
    return m.info();
  }

  // --- HTTP ------------------------------------------------------------------------------------

  private router(): Router {
    const r = new Router()
      .add('GET', '/api/info', ({ res }) => sendJson(res, 200, { mode: 'demo', ...this.info() }))
      .add('GET', '/api/status', ({ res }) => sendJson(res, 200, { mode: 'demo', ...this.info(), members: this.memberInfos() }))
      .add('GET', '/api/demo/members', ({ res }) => sendJson(res, 200, this.memberInfos()))
      .add('POST', '/api/demo/members', async ({ res }) => sendJson(res, 200, await this.add()))
      .add('POST', '/api/demo/members/:name/:action', async ({ res, params }) => {
        const action = params.action as Action;
        if (!ACTIONS.includes(action))
          throw new HttpError(404, 'ERR_INVALID_ARGUMENT', `unknown action ${JSON.stringify(params.action)}; one of ${ACTIONS.join(', ')}`);
        sendJson(res, 200, await this.act(params.name!, action));
      });
    // Node-level endpoints and the key-value service answer from a live member.
    for (const path of ['/api/groups', '/api/groups/*', '/metrics', '/kv', '/kv/*']) {
      for (const method of path.startsWith('/kv') ? ['GET', 'PUT', 'DELETE'] : ['GET']) r.add(method, path, (ctx) => this.proxy(ctx.req, ctx.res, ctx.url));
    }
    return r;
  }

  /** Forwards to the named member (`?member=m2`), or to the first running member that answers. */
  private async proxy(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const name = url.searchParams.get('member');
    let targets: Member[];
    if (name !== null) {
      const m = this.member(name);
      if (m.state !== 'running' || !m.admin) throw new HttpError(503, 'ERR_CLOSED', `${m.name} is ${m.state}`);
      targets = [m];
    } else {
      targets = this.members.filter((m) => m.state === 'running' && m.admin);
      if (targets.length === 0) throw new HttpError(503, 'ERR_CLOSED', 'no member is running');
    }
    const body = req.method === 'PUT' ? await readBody(req) : undefined;
    let lastErr: unknown = null;
    for (const m of targets) {
      let answer: Response;
      try {
        answer = await fetch(new URL(url.pathname.slice(1), m.admin!), {
          method: req.method ?? 'GET',
          signal: AbortSignal.timeout(6000),
          ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
        });
      } catch (err) {
        // Unreachable (just killed, or paused): a client of the group fails over to the next member.
        lastErr = err;
        continue;
      }
      const bytes = Buffer.from(await answer.arrayBuffer());
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
        'x-horus-member': m.name,
        'cache-control': 'no-store',
      });
      res.end(bytes);
      return;
    }
    throw new HttpError(503, 'ERR_CLOSED', `no member answered: ${(lastErr as Error | null)?.message ?? 'unknown error'}`);
  }

  private writeStateFile(): void {
    const file = join(process.cwd(), DEMO_STATE_FILE);
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(
        file,
        JSON.stringify(
          { url: this.url, pid: process.pid, members: this.members.map((m) => ({ name: m.name, endpoint: m.endpoint, admin: m.admin })) },
          null,
          2,
        ) + '\n',
      );
    } catch (err) {
      this.err(`horus demo: cannot write ${file}: ${(err as Error).message}`);
    }
  }

  private removeStateFile(): void {
    const file = join(process.cwd(), DEMO_STATE_FILE);
    try {
      const state = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown };
      if (state.pid === process.pid) rmSync(file);
    } catch {
      // Not ours, or already gone.
    }
  }

  // --- shutdown --------------------------------------------------------------------------------

  /** Kills every child at once, synchronously: for process 'exit' and fatal errors. */
  killAllNow(): void {
    for (const m of this.members) {
      if (m.alive) {
        m.killing = true;
        try {
          m.child!.kill('SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  }

  /** Asks members to stop (SIGTERM), kills those that do not within `graceMs`, closes the server. */
  stop(graceMs = 2000): Promise<void> {
    this.stopping ??= (async () => {
      if (this.tick) clearInterval(this.tick);
      for (const m of this.members) {
        m.events?.close();
        m.events = null;
        if (!m.alive) continue;
        m.killing = true;
        // A stopped process cannot act on SIGTERM: kill it outright.
        m.child!.kill(m.state === 'paused' ? 'SIGKILL' : 'SIGTERM');
      }
      const all = Promise.all(this.members.map((m) => m.exited));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      this.killAllNow();
      await all;
      this.sse.close();
      if (this.server) await closeHttp(this.server);
      if (this.opts.stateFile) this.removeStateFile();
      this.pki?.remove();
    })();
    return this.stopping;
  }
}

/** `horus demo`: runs until SIGINT/SIGTERM/SIGHUP; never leaves a child behind. */
export async function runDemoCommand(opts: DemoOptions): Promise<void> {
  const out = (line: string): void => {
    process.stdout.write(line + '\n');
  };
  const err = (line: string): void => {
    process.stderr.write(line + '\n');
  };
  const demo = new DemoController(opts, out, err);
  // Whatever happens next, no child outlives this process.
  const onExit = (): void => {
    demo.killAllNow();
    demo.pki?.remove();
  };
  process.on('exit', onExit);
  const fatal = (e: unknown): void => {
    err(`horus demo: fatal: ${(e as Error)?.stack ?? String(e)}`);
    demo.killAllNow();
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);

  let signalled: (sig: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (signalled = resolve));
  const onSignal = (sig: NodeJS.Signals) => () => signalled(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal(sig));

  out(`horus demo: starting ${opts.nodes} members in group ${opts.group} (${opts.membership} membership, security ${opts.security ?? 'pki'})...`);
  const starting = demo.start();
  const first = await Promise.race([starting.then(() => null), stopped]);
  if (first !== null) {
    // Interrupted while starting: start() cleans up after itself once it sees the failure.
    await demo.stop();
    await starting.catch(() => {});
    out(`horus demo: interrupted (${first}); all members stopped`);
    return;
  }
  if (demo.pki !== null) out(`security pki: members authenticate with certificates from a demo CA; keys made in ${demo.pki.dir} (removed when the demo stops)`);
  for (const m of demo.memberInfos()) out(`  ${m.name}  ${m.endpoint}  pid ${m.pid}  admin ${m.admin}`);
  out(`dashboard: ${demo.url}`);
  out(`control token (the dashboard page gets it as a cookie; scripts send Authorization: Bearer): ${demo.token}`);
  out(`try: npx horus kv put color blue   |   npx horus kv get color   |   Ctrl-C stops every member`);
  const sig = await stopped;
  out(`horus demo: ${sig}, stopping members...`);
  await demo.stop();
  out('horus demo: all members stopped');
}
