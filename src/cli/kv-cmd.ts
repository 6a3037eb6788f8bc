import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requestJson, throwIfError } from './http-client.js';

export const DEFAULT_DEMO_PORT = 7080;
/** Written by `horus demo` in its working directory, so `horus kv` finds it without flags. */
export const DEMO_STATE_FILE = join('.horus', 'demo.json');

export interface KvFlags {
  url?: string;
  member?: string;
  json?: boolean;
}

/** Where the demo is: --url, then $HORUS_URL, then .horus/demo.json, then the default port. */
export function demoUrl(flags: KvFlags, cwd = process.cwd()): string {
  if (flags.url) return flags.url;
  const env = process.env.HORUS_URL;
  if (env) return env.endsWith('/') ? env : `${env}/`;
  try {
    const state = JSON.parse(readFileSync(join(cwd, DEMO_STATE_FILE), 'utf8')) as { url?: unknown };
    if (typeof state.url === 'string') return state.url;
  } catch {
    // No state file: fall through to the default.
  }
  return `http://127.0.0.1:${DEFAULT_DEMO_PORT}/`;
}

function kvPath(key: string | null, flags: KvFlags): string {
  const q = flags.member ? `?member=${encodeURIComponent(flags.member)}` : '';
  return `/kv${key === null ? '' : `/${encodeURIComponent(key)}`}${q}`;
}

type Out = (line: string) => void;

async function call(flags: KvFlags, method: string, key: string | null, body?: unknown): Promise<{ status: number; body: unknown; base: string }> {
  const base = demoUrl(flags);
  const r = await requestJson(base, kvPath(key, flags), { method, body, what: 'Horus demo' });
  return { ...r, base };
}

export async function kvGet(key: string, flags: KvFlags, out: Out): Promise<number> {
  const r = await call(flags, 'GET', key);
  throwIfError(r, r.base);
  const value = (r.body as { value?: unknown }).value;
  out(flags.json ? JSON.stringify(r.body) : String(value));
  return 0;
}

export async function kvPut(key: string, value: string, flags: KvFlags, out: Out): Promise<number> {
  const r = await call(flags, 'PUT', key, { value });
  throwIfError(r, r.base);
  out(flags.json ? JSON.stringify(r.body) : 'ok');
  return 0;
}

export async function kvDel(key: string, flags: KvFlags, out: Out): Promise<number> {
  const r = await call(flags, 'DELETE', key);
  throwIfError(r, r.base);
  out(flags.json ? JSON.stringify(r.body) : 'deleted');
  return 0;
}

export async function kvList(flags: KvFlags, out: Out): Promise<number> {
  const r = await call(flags, 'GET', null);
  throwIfError(r, r.base);
  const entries = (r.body as { entries?: [string, string][] }).entries ?? [];
  if (flags.json) out(JSON.stringify(entries));
  else for (const [k, v] of entries) out(`${k}\t${v}`);
  return 0;
}
