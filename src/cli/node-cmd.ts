import { createNode } from '../api/create-node.js';
import type { HorusNode } from '../api/node.js';
import { ConfigError } from '../core/errors.js';
import type { Logger, LogLevel } from '../core/logger.js';
import { parseEndpoint } from '../core/node-id.js';
import { AdminServer } from '../dashboard/admin-server.js';
import { HealthServer } from '../dashboard/health-server.js';
import { NodeObserver } from '../obs/node-observer.js';
import { pinoLogger } from '../obs/pino-logger.js';
import { readinessOf } from '../obs/readiness.js';
import { parseDiscovery } from '../discovery/parse-discovery.js';
import type { StackSpec } from '../stack/stack.js';
import type { TransportLimits } from '../transport/tcp-transport.js';
import { securityConfigSchema, type SecurityConfig, type SecurityMode } from '../security/security-config.js';
import { canonicalMembers, readNodeConfig, type GroupConfig, type NodeConfig } from './config.js';
import { joinKv, kvRoutes, kvSummary, startLoad, type KvApplied, type Membership, type ReplicatedKv } from './demo-member.js';

export const DEFAULT_ADMIN = '127.0.0.1:7070';
/** Safe bootstrap from the command line: the contact points must not change for this long before founding. */
const BOOTSTRAP_STABLE_MS = 2000;

/** Flags of `horus node`; each overrides the config file's field. */
export interface NodeFlags {
  listen?: string;
  seeds?: string[];
  config?: string;
  admin?: string | false;
  health?: string;
  /** A discovery source (parseDiscovery's forms) besides the seeds. */
  discovery?: string;
  /** Found a group only once this many contact points are known and stable (safe bootstrap). */
  expectContacts?: number;
  /** Check the configuration, print it resolved, and exit without starting. */
  check?: boolean;
  join?: string[];
  stack?: string;
  logLevel?: LogLevel;
  membership?: Membership;
  kv?: string;
  load?: number;
  /** Bearer token of the admin endpoint. */
  adminToken?: string;
  /** Security mode; with it, the files below (else the config file's `security`). */
  security?: SecurityMode;
  key?: string;
  cert?: string;
  ca?: string[];
  pskFile?: string;
}

/** Messages a node started by `horus demo` sends its controller over the IPC channel. */
export type MemberMessage = { type: 'ready'; id: string; endpoint: string; admin: string | null; pid: number } | { type: 'applied'; applied: KvApplied };

export interface ResolvedNodeConfig {
  listen: string;
  seeds: string[];
  admin: string | false;
  /** The admin endpoint's bearer token (config or HORUS_ADMIN_TOKEN), or null: generated off loopback, none on it. */
  adminToken: string | null;
  /** Probe endpoint (/livez, /readyz) on any interface, or null for none. */
  health: string | null;
  /** Discovery source spec, or null for the seeds alone. */
  discovery: string | null;
  /** Safe bootstrap: contact points to wait for before founding, or null. */
  expectContacts: number | null;
  logLevel: LogLevel;
  membership: Membership;
  groups: GroupConfig[];
  kv: { group: string; load: number } | null;
  /** Transport limits from the config file (defaults for the rest). */
  transport: TransportLimits;
  security: SecurityConfig;
}

/** The config file's `security`, with the command line's flags on top. */
function resolveSecurity(file: SecurityConfig | undefined, flags: NodeFlags): SecurityConfig {
  const mode = flags.security ?? file?.mode ?? 'off';
  const same = file?.mode === mode ? file : undefined;
  let value: unknown;
  if (mode === 'off') value = { mode };
  else if (mode === 'psk') {
    const f = same as Extract<SecurityConfig, { mode: 'psk' }> | undefined;
    value = flags.pskFile !== undefined ? { mode, secretFile: flags.pskFile } : (f ?? { mode });
  } else {
    const f = same as Extract<SecurityConfig, { mode: 'pki' }> | undefined;
    value = {
      ...(f ?? {}),
      mode,
      ...(flags.key !== undefined || f?.key !== undefined ? { key: flags.key ?? f?.key } : {}),
      ...(flags.cert !== undefined || f?.cert !== undefined ? { cert: flags.cert ?? f?.cert } : {}),
      ...(flags.ca !== undefined ? { ca: flags.ca } : {}),
    };
  }
  const r = securityConfigSchema.safeParse(value);
  if (!r.success) {
    const hint =
      mode === 'pki'
        ? ' (pki needs --key, --cert and --ca, or "security" in the config file)'
        : mode === 'psk'
          ? ' (psk needs --psk-file, or "security" in the config file)'
          : '';
    throw new ConfigError(`security ${mode}: ${r.error.issues.map((i) => `${i.path.join('.') || 'security'}: ${i.message}`).join('; ')}${hint}`, {
      cause: r.error,
    });
  }
  return r.data;
}

/** Config file first, then flags on top; checks what only makes sense in combination. */
export function resolveNodeConfig(file: NodeConfig, flags: NodeFlags): ResolvedNodeConfig {
  const listen = flags.listen ?? file.listen;
  if (listen === undefined) throw new ConfigError('a node needs --listen HOST:PORT (or "listen" in its config file)');
  const groups: GroupConfig[] = [...(file.groups ?? [])];
  const stack: StackSpec | undefined = flags.stack;
  for (const name of flags.join ?? []) {
    if (groups.some((g) => g.name === name)) throw new ConfigError(`group ${JSON.stringify(name)} is both in the config file and in --join`);
    groups.push({ name, ...(stack !== undefined ? { stack } : {}) });
  }
  const names = new Set<string>();
  for (const g of groups) {
    if (names.has(g.name)) throw new ConfigError(`group ${JSON.stringify(g.name)} is listed twice`);
    names.add(g.name);
  }
  const kvGroup = flags.kv ?? file.kv?.group;
  if (kvGroup !== undefined && names.has(kvGroup))
    throw new ConfigError(`group ${JSON.stringify(kvGroup)} cannot be both a plain group and the key-value group`);
  const discoverySpec = flags.discovery ?? file.discovery;
  if (discoverySpec !== undefined) parseDiscovery(discoverySpec);
  const membership = flags.membership ?? file.membership ?? 'fixed';
  const fixedWithPolicy = membership === 'fixed' ? groups.find((g) => g.partition !== undefined) : undefined;
  if (fixedWithPolicy)
    throw new ConfigError(
      `group ${JSON.stringify(fixedWithPolicy.name)} has a partition policy, which needs dynamic membership ("membership": "dynamic" or --membership dynamic): a fixed member list never changes its view`,
    );
  if (membership === 'fixed' && parseEndpoint(listen).port === 0 && (groups.some((g) => !g.members) || kvGroup !== undefined)) {
    throw new ConfigError('with fixed membership a node needs a concrete --listen port: other members name it in their member lists');
  }
  return {
    listen,
    seeds: flags.seeds ?? file.seeds ?? [],
    admin: flags.admin ?? file.admin ?? DEFAULT_ADMIN,
    adminToken: flags.adminToken ?? file.adminToken ?? null,
    health: flags.health ?? file.health ?? null,
    discovery: flags.discovery ?? file.discovery ?? null,
    expectContacts: flags.expectContacts ?? file.expectContacts ?? null,
    logLevel: flags.logLevel ?? file.logLevel ?? 'info',
    membership,
    groups,
    kv: kvGroup !== undefined ? { group: kvGroup, load: flags.load ?? file.kv?.load ?? 0 } : null,
    transport: file.transport ?? {},
    security: resolveSecurity(file.security, flags),
  };
}

/** A running `horus node`: the node, its observer and admin endpoint, and the optional KV service. */
export interface RunningNode {
  node: HorusNode;
  admin: AdminServer | null;
  health: HealthServer | null;
  kv: ReplicatedKv | null;
  close(): Promise<void>;
}

export async function startNode(cfg: ResolvedNodeConfig, log: Logger, onApplied?: (a: KvApplied) => void): Promise<RunningNode> {
  const observer = new NodeObserver();
  const node = await createNode({
    listen: cfg.listen,
    seeds: cfg.seeds,
    logger: log,
    recorder: observer.recorder,
    transport: cfg.transport,
    security: cfg.security,
    ...(cfg.discovery !== null ? { discovery: parseDiscovery(cfg.discovery) } : {}),
    ...(cfg.expectContacts !== null ? { bootstrap: { expectedContacts: cfg.expectContacts, stableMs: BOOTSTRAP_STABLE_MS } } : {}),
  });
  observer.attach(node);
  let admin: AdminServer | null = null;
  let health: HealthServer | null = null;
  let kv: ReplicatedKv | null = null;
  let stopLoad = (): void => {};
  const expectedGroups = [...cfg.groups.map((g) => g.name), ...(cfg.kv ? [cfg.kv.group] : [])];
  try {
    // Probes answer from the start: live at once, ready once every group has its view and state.
    if (cfg.health !== null)
      health = await HealthServer.start({ listen: cfg.health, log, readiness: () => readinessOf(observer.status().groups, expectedGroups) });
    // Fixed membership: this node plus its seeds, in one order that every member computes alike.
    const fixed = canonicalMembers([node.endpoint, ...cfg.seeds]);
    for (const g of cfg.groups) {
      const members = g.members ?? fixed;
      await node.join(g.name, {
        ...(g.stack !== undefined ? { stack: g.stack } : {}),
        ...(cfg.membership === 'fixed' ? { members } : {}),
        ...(g.partition !== undefined ? { partition: g.partition } : {}),
      });
    }
    if (cfg.kv) {
      const kvOpts = { ...(onApplied ? { onApplied } : {}), log, hasSeeds: cfg.seeds.length > 0 };
      const joined = await joinKv(node, cfg.kv.group, cfg.membership, fixed, undefined, kvOpts, (fn) => observer.onGroup(fn));
      kv = joined.kv;
      stopLoad = startLoad(joined.kv, joined.group, cfg.kv.load);
    }
    if (cfg.admin !== false) {
      const store = kv;
      admin = await AdminServer.start({
        node,
        observer,
        listen: cfg.admin,
        ...(cfg.adminToken !== null ? { token: cfg.adminToken } : {}),
        log,
        expectedGroups,
        ...(store ? { routes: kvRoutes(store), info: () => ({ kv: { group: cfg.kv!.group, ...kvSummary(store) } }) } : {}),
      });
    }
  } catch (err) {
    stopLoad();
    await health?.close();
    observer.detach();
    await node.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    node,
    admin,
    health,
    kv,
    close: () =>
      (closing ??= (async () => {
        stopLoad();
        kv?.close();
        await admin?.close();
        await health?.close();
        observer.detach();
        await node.close();
      })()),
  };
}

/** `horus node`: runs until SIGINT/SIGTERM (or, under `horus demo`, until the controller goes away). */
export async function runNodeCommand(flags: NodeFlags): Promise<void> {
  const file = flags.config !== undefined ? await readNodeConfig(flags.config) : {};
  const cfg = resolveNodeConfig(file, flags);
  if (flags.check) {
    process.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
    return;
  }
  const log = pinoLogger({ level: cfg.logLevel });
  const ipc = typeof process.send === 'function' ? (m: MemberMessage) => process.send!(m) : null;
  const running = await startNode(cfg, log, ipc ? (applied) => ipc({ type: 'applied', applied }) : undefined);
  const adminUrl = running.admin?.url ?? null;
  // One write, so a reader of the first line has the group lines too.
  const lines = [
    `horus node ${running.node.id} listening on ${running.node.endpoint}${adminUrl ? `, admin and dashboard ${adminUrl}` : ''}${running.health ? `, probes ${running.health.url}livez and ${running.health.url}readyz` : ''}`,
  ];
  for (const g of running.node.groups()) lines.push(`  group ${g.name}: view ${g.view.id} [${g.view.members.join(' ')}]`);
  // Shown once, here: it is not logged.
  if (running.admin?.tokenGenerated)
    lines.push(`  admin token (generated; send as Authorization: Bearer, or open ${adminUrl}?token=...): ${running.admin.token}`);
  process.stdout.write(lines.join('\n') + '\n');
  log.info('node started', { id: running.node.id, admin: adminUrl, groups: running.node.groups().map((g) => g.name) });
  ipc?.({ type: 'ready', id: running.node.id, endpoint: running.node.endpoint, admin: adminUrl, pid: process.pid });

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('node stopping', { why });
      // A node that cannot close in time must still go: its controller waits for it.
      const force = setTimeout(() => process.exit(0), 3000);
      force.unref();
      running.close().finally(() => {
        clearTimeout(force);
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    // Under `horus demo`: the controller is gone (even by kill -9), so no orphan stays behind.
    if (ipc) process.once('disconnect', () => stop('controller gone'));
  });
  process.disconnect?.();
}
