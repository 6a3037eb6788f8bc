/**
 * Who may use an admin endpoint. A bearer token (from config, or generated and printed once) is
 * needed for anything on a non-loopback address, and for every state-changing request wherever one
 * is set. A browser gets it as a SameSite=Strict, HttpOnly cookie when it loads the dashboard page
 * (on loopback; elsewhere by opening the page once with `?token=`), so the page works while another
 * site's page can neither read the token nor send it. State-changing requests must also come from
 * the same origin (Origin, Sec-Fetch-Site) and carry JSON.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './http-util.js';

export const TOKEN_COOKIE = 'horus_token';
/** A configured token shorter than this is refused. */
export const MIN_TOKEN_LENGTH = 16;

export function newAdminToken(): string {
  return randomBytes(24).toString('base64url');
}

export function isMutating(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/** The token a request presents: `Authorization: Bearer ...`, else the dashboard cookie. */
export function presentedToken(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1]! : null;
  }
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === TOKEN_COOKIE) return part.slice(eq + 1).trim();
  }
  return null;
}

export function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** 401 unless the request presents `token`. */
export function requireToken(req: IncomingMessage, token: string): void {
  if (!tokenMatches(presentedToken(req), token)) {
    throw new HttpError(401, 'ERR_AUTH', 'this admin endpoint needs its token: Authorization: Bearer <token> (printed when the node started)');
  }
}

/** 403 for a state-changing request another site's page could have sent; 415 without JSON. */
export function checkSameOrigin(req: IncomingMessage): void {
  if (!isMutating(req.method)) return;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'ERR_AUTH', `cross-site ${req.method} refused (${site})`);
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) throw new HttpError(403, 'ERR_AUTH', `cross-origin ${req.method} refused`);
  const type = req.headers['content-type'] ?? '';
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  if ((req.method === 'POST' || hasBody) && !type.startsWith('application/json')) {
    throw new HttpError(415, 'ERR_INVALID_ARGUMENT', `${req.method} needs content-type application/json`);
  }
}

/** Hands the browser the token as a cookie only the same site sends back. */
export function setTokenCookie(res: ServerResponse, token: string): void {
  res.setHeader('set-cookie', `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`);
}

/** The dashboard page itself (where the cookie is handed out). */
export function isDashboardPage(pathname: string): boolean {
  return pathname === '/' || pathname === '/index.html';
}
