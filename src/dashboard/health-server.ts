import type http from 'node:http';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import { parseEndpoint } from '../core/node-id.js';
import type { Readiness } from '../obs/readiness.js';
import { closeHttp, HttpError, listenHttp, Router, sendJson } from './http-util.js';

/**
 * Probe answers, shared by the admin endpoint and the health endpoint: /livez is 200 while the
 * process serves HTTP at all (its event loop runs); /readyz is 200 when every group is in a primary
 * view with its state, else 503 with the reasons.
 */
export function addProbeRoutes(router: Router, readiness: () => Readiness): Router {
  return router
    .add('GET', '/livez', ({ res }) => sendJson(res, 200, { live: true }))
    .add('GET', '/readyz', ({ res }) => {
      const r = readiness();
      sendJson(res, r.ready ? 200 : 503, r);
    });
}

export interface HealthServerOptions {
  /** `host:port` on any interface (an orchestrator probes the pod's address); port 0 picks one. */
  listen: string;
  readiness: () => Readiness;
  log?: Logger;
}

/**
 * Only /livez and /readyz, for orchestrators' probes. Unlike the admin endpoint it may listen on a
 * routable address: it tells nothing but readiness and its reasons, and accepts no input.
 */
export class HealthServer {
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    readonly port: number,
  ) {}

  static async start(opts: HealthServerOptions): Promise<HealthServer> {
    const { host, port } = parseEndpoint(opts.listen);
    const router = addProbeRoutes(new Router(), opts.readiness);
    const {
      server,
      url,
      port: bound,
    } = await listenHttp(host, port, async (req, res, u) => {
      if (await router.handle(req, res, u)) return;
      throw new HttpError(404, 'ERR_INVALID_ARGUMENT', `the health endpoint serves only /livez and /readyz, not ${u.pathname}`);
    });
    (opts.log ?? silentLogger).info('health endpoint listening', { url });
    return new HealthServer(server, url, bound);
  }

  close(): Promise<void> {
    return closeHttp(this.server);
  }
}
