import type http from 'node:http';
import type { HorusNode } from '../api/node.js';
import { servicesOf } from '../services/registry.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import type { NodeObserver, NodeStatus } from '../obs/node-observer.js';
import { PrometheusExporter } from '../obs/prometheus.js';
import { readinessOf } from '../obs/readiness.js';
import { addProbeRoutes } from './health-server.js';
import { ConfigError } from '../core/errors.js';
import { parseEndpoint } from '../core/node-id.js';
import { checkSameOrigin, isDashboardPage, isMutating, MIN_TOKEN_LENGTH, newAdminToken, requireToken, setTokenCookie, tokenMatches } from './admin-auth.js';
import { checkLocalRequest, closeHttp, HttpError, isLoopbackHost, listenHttp, Router, sendJson, serveStatic, SseHub } from './http-util.js';

export interface AdminServerOptions {
  node: HorusNode;
  observer: NodeObserver;
  /**
   * `host:port`; port 0 picks a free one. Loopback by default; any other address needs a token
   * (`token`, else one is generated: read it from `AdminServer.token` and show it once).
   */
  listen?: string;
  /**
   * Bearer token. Set: state-changing requests need it (and, off loopback, every request but the
   * probes). Unset on loopback: state-changing requests need only to come from the same origin.
   */
  token?: string;
  /** Extra routes, e.g. the demo's key-value service. They run after the built-in ones. */
  routes?: (router: Router) => void;
  /** Extra fields merged into /api/status (e.g. `{ kv: {...} }`). */
  info?: () => Record<string, unknown>;
  /** Groups the node is configured to be in: /readyz is 503 until it is in each (default: none). */
  expectedGroups?: readonly string[];
  /** How often streamed `status` events go out. */
  statusIntervalMs?: number;
  log?: Logger;
}

/** What /api/status answers for a node. */
export type AdminStatus = NodeStatus & { mode: 'node' } & Record<string, unknown>;

/**
 * A node's admin endpoint on loopback: JSON status and views, Prometheus metrics, a Server-Sent
 * Events stream of views and sampled messages, and the dashboard's static files.
 */
export class AdminServer {
  private readonly sse = new SseHub();
  private readonly unsubscribe: () => void;
  private readonly statusTimer: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly server: http.Server,
    /** Base URL, ending in '/'. */
    readonly url: string,
    readonly port: number,
    private readonly opts: AdminServerOptions,
    private readonly prom: PrometheusExporter,
    /** The bearer token, or null (loopback, none configured). */
    readonly token: string | null,
    /** The token was generated here, not configured: show it to the operator once. */
    readonly tokenGenerated: boolean,
  ) {
    this.unsubscribe = opts.observer.onEvent((ev) => this.sse.send('obs', ev));
    this.statusTimer = setInterval(() => {
      if (this.sse.size > 0) this.sse.send('status', this.status());
    }, opts.statusIntervalMs ?? 1000);
    this.statusTimer.unref();
  }

  static async start(opts: AdminServerOptions): Promise<AdminServer> {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseEndpoint(opts.listen ?? '127.0.0.1:0'));
    } catch (cause) {
      throw new ConfigError(`the admin address must be HOST:PORT, e.g. 127.0.0.1:7070; got ${JSON.stringify(opts.listen)}`, { cause });
    }
    host = host.replace(/^\[|\]$/g, '');
    const loopback = isLoopbackHost(host);
    if (opts.token !== undefined && opts.token.length < MIN_TOKEN_LENGTH)
      throw new ConfigError(`the admin token must have at least ${MIN_TOKEN_LENGTH} characters`);
    const token = opts.token ?? (loopback ? null : newAdminToken());
    // The handler needs the server object, which exists only once listening succeeded.
    const ref: { self?: AdminServer } = {};
    const transport = opts.node.env.transport as { stats?: () => object };
    const prom = new PrometheusExporter(opts.observer, () => ({
      memory: opts.node.metrics,
      labels: { node: opts.node.endpoint },
      ...(typeof transport.stats === 'function' ? { transport: transport.stats() as Record<string, number> } : {}),
    }));
    const router = buildRouter(opts, prom, () => ref.self!);
    opts.routes?.(router);
    const log = opts.log ?? silentLogger;
    const {
      server,
      url,
      port: bound,
    } = await listenHttp(host, port, async (req, res, u) => {
      authorize(req, res, u, loopback, token);
      if (u.pathname === '/api/events' && req.method === 'GET') {
        ref.self!.openEvents(req, res);
        return;
      }
      if (await router.handle(req, res, u)) return;
      if (req.method === 'GET' && (await serveStatic(u.pathname, res))) return;
      throw new HttpError(404, 'ERR_INVALID_ARGUMENT', `no such resource: ${u.pathname}`);
    });
    const self = new AdminServer(server, url, bound, opts, prom, token, token !== null && opts.token === undefined);
    ref.self = self;
    log.info('admin endpoint listening', { url });
    return self;
  }

  status(): AdminStatus {
    return { mode: 'node', ...this.opts.observer.status(), ...(this.opts.info?.() ?? {}) };
  }

  private openEvents(req: http.IncomingMessage, res: http.ServerResponse): void {
    const obs = this.opts.observer;
    const views: Record<string, unknown> = {};
    for (const g of obs.groupNames()) views[g] = obs.viewHistory(g);
    this.sse.open(req, res, [{ event: 'snapshot', data: { mode: 'node', status: this.status(), views, recent: obs.recentEvents() } }]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.statusTimer);
    this.unsubscribe();
    this.prom.close();
    this.sse.close();
    await closeHttp(this.server);
  }
}

/** Probes answer anyone who reaches the port (orchestrators hold no token). */
const OPEN_PATHS = new Set(['/livez', '/readyz', '/healthz']);

/**
 * Loopback: the Host must be loopback (DNS rebinding), state-changing requests same-origin JSON, and
 * with the token if one is set. Elsewhere: the token for everything but the probes. A browser opening
 * the dashboard page (with `?token=` off loopback) gets the token as a same-site cookie.
 */
function authorize(req: http.IncomingMessage, res: http.ServerResponse, u: URL, loopback: boolean, token: string | null): void {
  if (loopback) checkLocalRequest(req);
  checkSameOrigin(req);
  if (token === null) return;
  const page = req.method === 'GET' && isDashboardPage(u.pathname);
  if (page && (loopback || tokenMatches(u.searchParams.get('token'), token))) {
    setTokenCookie(res, token);
    return;
  }
  if (isMutating(req.method) || (!loopback && !OPEN_PATHS.has(u.pathname))) requireToken(req, token);
}

function buildRouter(opts: AdminServerOptions, prom: PrometheusExporter, self: () => AdminServer): Router {
  const { node, observer } = opts;
  const groupOr404 = (name: string) => {
    const st = observer.groupStatus(name);
    if (!st || st.left) throw new HttpError(404, 'ERR_UNKNOWN_GROUP', `this node is not a member of group ${JSON.stringify(name)}`);
    return st;
  };
  return addProbeRoutes(new Router(), () => readinessOf(observer.status().groups, opts.expectedGroups ?? []))
    .add('GET', '/api/info', ({ res }) => sendJson(res, 200, { mode: 'node', node: node.id, endpoint: node.endpoint }))
    .add('GET', '/api/status', ({ res }) => sendJson(res, 200, self().status()))
    .add('GET', '/api/groups', ({ res }) =>
      sendJson(
        res,
        200,
        observer.status().groups.map((g) => ({ name: g.name, view: g.view, blocked: g.blocked, sentPerSec: g.sentPerSec, deliveredPerSec: g.deliveredPerSec })),
      ),
    )
    .add('GET', '/api/groups/:name', ({ res, params }) => sendJson(res, 200, { ...groupOr404(params.name!), views: observer.viewHistory(params.name!) }))
    .add('GET', '/api/groups/:name/view', ({ res, params }) => {
      const g = groupOr404(params.name!);
      sendJson(res, 200, { group: g.name, id: g.view.id, members: g.view.members, blocked: g.blocked });
    })
    .add('GET', '/api/groups/:name/views', ({ res, params }) => {
      groupOr404(params.name!);
      sendJson(res, 200, observer.viewHistory(params.name!));
    })
    .add('GET', '/api/groups/:name/members', ({ res, params }) => sendJson(res, 200, groupOr404(params.name!).members))
    .add('GET', '/api/services', ({ res }) => sendJson(res, 200, servicesOf(node)))
    .add('GET', '/metrics', async ({ res }) => {
      const text = await prom.text();
      res.writeHead(200, { 'content-type': prom.contentType, 'cache-control': 'no-store' });
      res.end(text);
    })
    .add('GET', '/healthz', ({ res }) => sendJson(res, 200, { ok: true }));
}
