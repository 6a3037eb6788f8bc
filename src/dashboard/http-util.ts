import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, HorusError, type HorusErrorCode } from '../core/errors.js';
import { parseEndpoint } from '../core/node-id.js';

/** An error with an HTTP status; the body carries its stable code. */
export class HttpError extends HorusError {
  constructor(
    readonly status: number,
    code: HorusErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'HttpError';
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export type Handler = (ctx: RequestContext) => void | Promise<void>;

interface Route {
  method: string;
  re: RegExp;
  keys: string[];
  handler: Handler;
}

/** Method + path patterns with `:param` segments; first match wins. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const src = path
      .split('/')
      .map((seg) => {
        if (seg.startsWith(':')) {
          keys.push(seg.slice(1));
          return '([^/]+)';
        }
        if (seg === '*') {
          keys.push('rest');
          return '(.*)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({ method, re: new RegExp(`^${src}$`), keys, handler });
    return this;
  }

  /** Runs the matching route; false when no route has this path (405 when only the method differs). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.re.exec(url.pathname);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method && !(r.method === 'GET' && req.method === 'HEAD')) continue;
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1] ?? '');
      });
      await r.handler({ req, res, url, params });
      return true;
    }
    if (pathMatched) throw new HttpError(405, 'ERR_INVALID_ARGUMENT', `${req.method} is not allowed on ${url.pathname}`);
    return false;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    sendJson(res, err.status, { error: { code: err.code, message: err.message } } satisfies ErrorBody);
  } else if (err instanceof HorusError) {
    const status = err.code === 'ERR_INVALID_ARGUMENT' || err.code === 'ERR_CONFIG' ? 400 : err.code === 'ERR_TIMEOUT' ? 504 : 500;
    sendJson(res, status, { error: { code: err.code, message: err.message } } satisfies ErrorBody);
  } else {
    sendJson(res, 500, { error: { code: 'ERR_INTERNAL', message: (err as Error)?.message ?? String(err) } } satisfies ErrorBody);
  }
}

/** Reads a request body up to `limit` bytes. */
export async function readBody(req: IncomingMessage, limit = 256 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'ERR_INVALID_ARGUMENT', `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(req: IncomingMessage, limit?: number): Promise<unknown> {
  const text = await readBody(req, limit);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new HttpError(400, 'ERR_INVALID_ARGUMENT', 'request body is not valid JSON', { cause });
  }
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Parses a loopback `host:port` to bind an HTTP server on; anything else is a ConfigError. */
export function loopbackEndpoint(s: string, what: string): { host: string; port: number } {
  let ep;
  try {
    ep = parseEndpoint(s);
  } catch (cause) {
    throw new ConfigError(`${what} must be HOST:PORT on loopback, e.g. 127.0.0.1:7070; got ${JSON.stringify(s)}`, { cause });
  }
  if (!isLoopbackHost(ep.host))
    throw new ConfigError(
      `${what} must be on loopback (127.0.0.1, ::1 or localhost): the dashboard and admin API have no authentication; got ${JSON.stringify(s)}`,
    );
  return { host: ep.host.replace(/^\[|\]$/g, ''), port: ep.port };
}

/**
 * Requests must name a loopback host (stops DNS rebinding), and state-changing ones must not come
 * from another origin (stops a web page from POSTing to the demo's kill button).
 */
export function checkLocalRequest(req: IncomingMessage): void {
  const host = req.headers.host ?? '';
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  if (!isLoopbackHost(hostname)) throw new HttpError(403, 'ERR_AUTH', `requests must address a loopback host, not ${JSON.stringify(host)}`);
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) throw new HttpError(403, 'ERR_AUTH', `cross-origin ${req.method} refused`);
  const type = req.headers['content-type'] ?? '';
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  if ((req.method === 'POST' || hasBody) && !type.startsWith('application/json')) {
    throw new HttpError(415, 'ERR_INVALID_ARGUMENT', `${req.method} needs content-type application/json`);
  }
}

/** Server-Sent Events to any number of browsers; slow readers are dropped rather than buffered. */
export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly maxBuffered = 4 * 1024 * 1024) {
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.write(': ping\n\n');
    }, 15_000);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Starts a stream; `first` events go to this client only (a snapshot). */
  open(req: IncomingMessage, res: ServerResponse, first: { event: string; data: unknown }[] = []): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    for (const e of first) res.write(frame(e.event, e.data));
    this.clients.add(res);
    const drop = (): void => {
      this.clients.delete(res);
    };
    req.on('close', drop);
    res.on('error', drop);
  }

  send(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const text = frame(event, data);
    for (const c of this.clients) {
      if (c.writableLength > this.maxBuffered) {
        this.clients.delete(c);
        c.destroy();
        continue;
      }
      c.write(text);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The dashboard's files: plain HTML, JS and CSS served as they are (no build step). */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const STATIC_FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
  '/favicon.svg': 'favicon.svg',
};
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Serves a dashboard file if `pathname` names one; an allow-list, so no path reaches outside it. */
export async function serveStatic(pathname: string, res: ServerResponse, dir = PUBLIC_DIR): Promise<boolean> {
  const file = STATIC_FILES[pathname];
  if (file === undefined) return false;
  const body = await readFile(join(dir, file));
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache', 'content-length': body.length });
  res.end(body);
  return true;
}

/** An HTTP server whose every request goes through `handle`, with errors answered as JSON. */
export async function listenHttp(
  host: string,
  port: number,
  handle: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>,
): Promise<{ server: http.Server; url: string; port: number }> {
  const server = http.createServer((req, res) => {
    let url: URL;
    try {
      // Collapse '//' so that base URLs joined by hand ('http://h:p/' + '/metrics') still match.
      url = new URL((req.url ?? '/').replace(/\/{2,}/g, '/'), 'http://localhost');
    } catch {
      sendJson(res, 400, { error: { code: 'ERR_INVALID_ARGUMENT', message: 'bad request URL' } });
      return;
    }
    handle(req, res, url).catch((err: unknown) => sendError(res, err));
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        err.code === 'EADDRINUSE'
          ? new HorusError('ERR_CONFIG', `cannot listen on ${host}:${port}: the port is in use`, { cause: err })
          : new HorusError('ERR_CONFIG', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return { server, url: `http://${h}:${addr.port}/`, port: addr.port };
}

/** Closes a server and every connection it holds open (SSE streams would keep it alive). */
export function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
