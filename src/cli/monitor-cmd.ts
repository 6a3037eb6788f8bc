/**
 * `horus monitor`: `serve` runs a member of the monitor group (rules from --rule, and the actions
 * `log`, which prints the firing, and `run CMD ARGS...`, which runs a command); `report`, `rule`,
 * `rules` and `history` are clients from outside the group (node.client).
 */
import { spawn } from 'node:child_process';
import type { LogLevel } from '../core/logger.js';
import { pinoLogger } from '../obs/pino-logger.js';
import type { Firing } from '../services/monitor/monitor-table.js';
import { MonitorService, type ActionContext, type MonitorRequest } from '../services/monitor/monitor-service.js';
import { parseRule } from '../services/monitor/rule.js';
import { resolveNodeConfig, startNode } from './node-cmd.js';
import { askService, serveUntilSignal, type ServiceClientFlags } from './service-cmd.js';

type Out = (line: string) => void;

export interface MonitorServeFlags {
  listen: string;
  seeds: string[];
  group: string;
  rules: string[];
  admin: string | false;
  logLevel: LogLevel;
}

/** The `run` action: the rule's arguments as a command line, with the firing in its environment; exit 0 is success. */
function runAction(ctx: ActionContext): Promise<string> {
  const [cmd, ...args] = ctx.args;
  if (cmd === undefined) return Promise.reject(new Error('run needs a command: ... then run CMD ARGS'));
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        HORUS_RULE: ctx.rule,
        HORUS_EPISODE: String(ctx.episode),
        HORUS_ATTEMPT: String(ctx.attempt),
        HORUS_KEY: ctx.key,
        HORUS_VALUE: String(ctx.value),
      },
    });
    p.once('error', reject);
    p.once('exit', (code, sig) => (code === 0 ? resolve('exit 0') : reject(new Error(sig ? `killed by ${sig}` : `exit ${code}`))));
  });
}

const describe = (f: Firing): string => `${f.rule} · episode ${f.episode} at ${new Date(f.at).toISOString()} value ${f.value}`;

export async function runMonitorServe(f: MonitorServeFlags, out: Out): Promise<void> {
  for (const r of f.rules) parseRule(r); // usage errors before anything starts
  const log = pinoLogger({ level: f.logLevel });
  const running = await startNode(resolveNodeConfig({}, { listen: f.listen, seeds: f.seeds, admin: f.admin, logLevel: f.logLevel }), log);
  let mon: MonitorService;
  try {
    mon = await MonitorService.join(running.node, f.group, {
      rules: f.rules,
      actions: { log: (ctx) => `logged ${ctx.key}`, run: runAction },
      onFire: (fi, o) => out(`fired ${describe(fi)} (attempt ${fi.attempt}): ${o.ok ? 'ok' : 'failed'}: ${o.detail}`),
    });
  } catch (err) {
    await running.close();
    throw err;
  }
  out(
    `horus monitor serve ${mon.group.localId} listening on ${running.node.endpoint}, group ${f.group}${running.admin ? `, admin and dashboard ${running.admin.url}` : ''}`,
  );
  await serveUntilSignal(async () => {
    await mon.close().catch(() => {});
    await running.close();
  });
}

export type MonitorClientFlags = ServiceClientFlags;

const ask = (f: ServiceClientFlags, req: MonitorRequest): Promise<unknown> => askService(f, req);

export async function monitorReport(metric: string, value: number, f: MonitorClientFlags, out: Out): Promise<number> {
  await ask(f, { op: 'report', metric, value });
  if (f.json) out('null');
  return 0;
}

export async function monitorRule(text: string, f: MonitorClientFlags, out: Out): Promise<number> {
  parseRule(text); // a usage error here, before connecting
  const norm = (await ask(f, { op: 'rule', text })) as string;
  out(f.json ? JSON.stringify(norm) : norm);
  return 0;
}

export async function monitorRules(f: MonitorClientFlags, out: Out): Promise<number> {
  const rules = (await ask(f, { op: 'rules' })) as { rule: string; state: string; episodes: number }[];
  if (f.json) out(JSON.stringify(rules));
  else for (const r of rules) out(`${r.state}\tepisodes ${r.episodes}\t${r.rule}`);
  return 0;
}

export async function monitorHistory(f: MonitorClientFlags, out: Out): Promise<number> {
  const h = (await ask(f, { op: 'history' })) as Firing[];
  if (f.json) out(JSON.stringify(h));
  else
    for (const fi of h)
      out(
        `${describe(fi)}\t${fi.outcome ? `${fi.outcome.ok ? 'ok' : 'failed'} (${fi.outcome.detail}) by ${fi.executor} attempt ${fi.attempt}` : `running on ${fi.executor}`}`,
      );
  return 0;
}
