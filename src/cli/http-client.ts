import { HorusError, type HorusErrorCode } from '../core/errors.js';

/** What a CLI command gets back from a Horus HTTP endpoint. */
export interface JsonResponse {
  status: number;
  body: unknown;
}

/**
 * JSON over HTTP to an admin or demo endpoint, with the failures a person can act on turned into
 * HorusErrors: nothing listening (ERR_CLOSED), no answer in time (ERR_TIMEOUT), not Horus (ERR_PROTOCOL).
 */
export async function requestJson(
  base: string,
  path: string,
  opts: { method?: string; body?: unknown; timeoutMs?: number; what?: string } = {},
): Promise<JsonResponse> {
  const url = new URL(path.replace(/^\//, ''), base);
  const what = opts.what ?? 'Horus node';
  const timeoutMs = opts.timeoutMs ?? 5000;
  // An admin endpoint with a token (see docs/security.md) wants it: from HORUS_ADMIN_TOKEN.
  const token = process.env.HORUS_ADMIN_TOKEN;
  const headers: Record<string, string> = {
    ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method ?? 'GET',
      signal: AbortSignal.timeout(timeoutMs),
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError')
      throw new HorusError('ERR_TIMEOUT', `the ${what} at ${base} did not answer within ${timeoutMs} ms`, { cause: err });
    const code = e.cause?.code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'UND_ERR_SOCKET') {
      throw new HorusError('ERR_CLOSED', `no ${what} is running at ${base} (connection refused)`, { cause: err });
    }
    throw new HorusError('ERR_CLOSED', `cannot reach the ${what} at ${base}: ${code ?? e.message}`, { cause: err });
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch (cause) {
    throw new HorusError('ERR_PROTOCOL', `${base} answered ${res.status} with something that is not JSON: is it a ${what}?`, { cause });
  }
  return { status: res.status, body };
}

/** The `error` of an error answer, or null. */
export function errorOf(body: unknown): { code: string; message: string } | null {
  if (typeof body !== 'object' || body === null) return null;
  const e = (body as { error?: unknown }).error;
  if (typeof e !== 'object' || e === null) return null;
  const { code, message } = e as { code?: unknown; message?: unknown };
  return typeof code === 'string' && typeof message === 'string' ? { code, message } : null;
}

const KNOWN_CODES: ReadonlySet<string> = new Set<HorusErrorCode>([
  'ERR_PROTOCOL',
  'ERR_CONFIG',
  'ERR_NOT_MEMBER',
  'ERR_UNKNOWN_GROUP',
  'ERR_TIMEOUT',
  'ERR_BLOCKED',
  'ERR_AUTH',
  'ERR_CLOSED',
  'ERR_INVALID_ARGUMENT',
  'ERR_STATE_TRANSFER',
]);

/** An error the remote side answered with: the operation failed (exit 1), whatever its code. */
export class RemoteError extends HorusError {
  constructor(
    code: HorusErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
    this.name = 'RemoteError';
  }
}

/** Turns an error answer into the RemoteError it stands for. */
export function throwIfError(r: JsonResponse, base: string): void {
  if (r.status < 400) return;
  const e = errorOf(r.body);
  if (!e) throw new RemoteError('ERR_PROTOCOL', `${base} answered HTTP ${r.status} without a Horus error body`, r.status);
  throw new RemoteError(KNOWN_CODES.has(e.code) ? (e.code as HorusErrorCode) : 'ERR_PROTOCOL', e.message, r.status);
}
