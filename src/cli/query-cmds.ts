import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HorusError } from '../core/errors.js';
import type { GroupStatus } from '../obs/node-observer.js';
import { requestJson, throwIfError } from './http-client.js';
import { DEMO_STATE_FILE } from './kv-cmd.js';

/** Where `horus node` puts its admin endpoint unless told otherwise. */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:7070/';

export interface QueryFlags {
  /** Base URL of the admin endpoint, ending in '/' (--admin or $HORUS_ADMIN); absent: find one. */
  admin?: string;
  json?: boolean;
}

/** A resolved place to ask, and how it was found (for error messages). */
interface Target {
  admin: string;
  found: 'flag' | 'demo' | 'default';
}

/** The URL of a demo started in `cwd` (its .horus/demo.json), if any. */
function demoStateUrl(cwd: string): string | null {
  try {
    const state = JSON.parse(readFileSync(join(cwd, DEMO_STATE_FILE), 'utf8')) as { url?: unknown };
    return typeof state.url === 'string' ? state.url : null;
  } catch {
    return null;
  }
}

/** --admin / $HORUS_ADMIN, else a demo started in this directory (as `horus kv` finds it), else the default node port. */
function targetOf(flags: QueryFlags, cwd = process.cwd()): Target {
  if (flags.admin !== undefined) return { admin: flags.admin, found: 'flag' };
  const demo = demoStateUrl(cwd);
  if (demo !== null) return { admin: demo, found: 'demo' };
  return { admin: DEFAULT_ADMIN_URL, found: 'default' };
}

/** Nobody answered where we looked by default: say where else to look. */
function withHint(err: unknown, t: Target): unknown {
  if (t.found !== 'default' || !(err instanceof HorusError) || err.code !== 'ERR_CLOSED') return err;
  return new HorusError(
    'ERR_CLOSED',
    `${err.message}; give the node's admin endpoint with --admin HOST:PORT (or $HORUS_ADMIN), or run this in the directory where \`horus demo\` runs (it writes ${DEMO_STATE_FILE})`,
    { cause: err },
  );
}

/** /api/status of a target; nothing answering at the default place says where else to look. */
async function statusOf(t: Target): Promise<unknown> {
  try {
    return await get(t.admin, '/api/status');
  } catch (err) {
    throw withHint(err, t);
  }
}

/**
 * A node's admin endpoint for per-node queries (groups, view). A demo controller is not a node:
 * ask its first running member, whose admin endpoint the demo reports.
 */
async function nodeTarget(flags: QueryFlags): Promise<Target> {
  const t = targetOf(flags);
  const s = await statusOf(t);
  if (!isObject(s) || s.mode !== 'demo' || !Array.isArray(s.members)) return t;
  const m = (s.members as Record<string, unknown>[]).find((x) => x.state === 'running' && typeof x.admin === 'string');
  if (!m) throw new HorusError('ERR_CLOSED', `the demo at ${t.admin} has no running member to ask`);
  return { admin: m.admin as string, found: t.found };
}

type Out = (line: string) => void;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

async function get(admin: string, path: string): Promise<unknown> {
  const r = await requestJson(admin, path, { what: 'Horus node' });
  throwIfError(r, admin);
  return r.body;
}

function notHorus(base: string): HorusError {
  return new HorusError('ERR_PROTOCOL', `the service at ${base} does not look like a Horus admin endpoint`);
}

const rate = (x: unknown): string => (typeof x === 'number' ? `${x.toFixed(1)}/s` : '-');

function table(rows: string[][], out: Out): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

export async function statusCommand(flags: QueryFlags, out: Out): Promise<void> {
  const t = targetOf(flags);
  const s = await statusOf(t);
  if (flags.json) return out(JSON.stringify(s, null, 2));
  if (!isObject(s)) throw notHorus(t.admin);
  if (s.mode === 'demo' && Array.isArray(s.members)) {
    out(`demo at ${t.admin}: group ${String(s.group)}, ${s.members.length} members`);
    const rows = [['MEMBER', 'ENDPOINT', 'STATE', 'PID', 'VIEW', 'KV KEYS']];
    for (const m of s.members as Record<string, unknown>[]) {
      const st = isObject(m.status) ? m.status : null;
      const g = st && Array.isArray(st.groups) ? (st.groups[0] as GroupStatus | undefined) : undefined;
      const kv = st && isObject(st.kv) ? st.kv : null;
      rows.push([
        String(m.name),
        String(m.endpoint),
        String(m.state),
        String(m.pid ?? '-'),
        g ? `${g.view.id} (${g.view.members.length})` : '-',
        kv ? String(kv.size) : '-',
      ]);
    }
    return table(rows, out);
  }
  if (typeof s.node !== 'string' || !Array.isArray(s.groups)) throw notHorus(t.admin);
  out(`node ${s.node}  pid ${String(s.pid)}  up ${Math.round(Number(s.uptimeMs) / 1000)} s`);
  const groups = s.groups as GroupStatus[];
  if (groups.length === 0) out('no groups');
  for (const g of groups) {
    out(
      `group ${g.name}: view ${g.view.id} with ${g.view.members.length} members${g.blocked ? ', BLOCKED' : ''}; sent ${g.sent} (${rate(g.sentPerSec)}), delivered ${g.delivered} (${rate(g.deliveredPerSec)})`,
    );
  }
}

export async function groupsCommand(flags: QueryFlags, out: Out): Promise<void> {
  const t = await nodeTarget(flags);
  const gs = await get(t.admin, '/api/groups');
  if (flags.json) return out(JSON.stringify(gs, null, 2));
  if (!Array.isArray(gs)) throw notHorus(t.admin);
  if (gs.length === 0) return out('no groups');
  const rows = [['GROUP', 'VIEW', 'MEMBERS', 'BLOCKED', 'SENT', 'DELIVERED']];
  for (const g of gs as Pick<GroupStatus, 'name' | 'view' | 'blocked' | 'sentPerSec' | 'deliveredPerSec'>[]) {
    rows.push([g.name, String(g.view.id), String(g.view.members.length), g.blocked ? 'yes' : 'no', rate(g.sentPerSec), rate(g.deliveredPerSec)]);
  }
  table(rows, out);
}

export async function viewCommand(group: string, flags: QueryFlags, out: Out): Promise<void> {
  const t = await nodeTarget(flags);
  const g = await get(t.admin, `/api/groups/${encodeURIComponent(group)}`);
  if (flags.json) return out(JSON.stringify(g, null, 2));
  if (!isObject(g) || !isObject(g.view) || !Array.isArray(g.members)) throw notHorus(t.admin);
  const st = g as unknown as GroupStatus & { views?: { id: number; members: string[]; at: number }[] };
  out(`group ${st.name}: view ${st.view.id}, ${st.view.members.length} members${st.blocked ? ', BLOCKED' : ''} (seen from ${st.localId})`);
  const rows = [['#', 'MEMBER', 'ROLE', 'DELIVERED HERE', 'RATE']];
  st.view.members.forEach((m, i) => {
    const c = st.members.find((x) => x.id === m);
    const role = [i === 0 ? 'coordinator' : '', m === st.localId ? 'this node' : ''].filter(Boolean).join(', ');
    rows.push([String(i + 1), m, role, String(c?.delivered ?? 0), rate(c?.deliveredPerSec)]);
  });
  table(rows, out);
  if (st.views && st.views.length > 1) {
    out('history:');
    for (const v of st.views) out(`  view ${v.id} at ${new Date(v.at).toISOString()}: ${v.members.join(' ')}`);
  }
}
