/**
 * `horus jobs`: `serve` runs a member of the jobs group that offers its resources and runs the jobs
 * placed on it; `submit`, `list` and `cancel` are clients from outside the group (node.client), so
 * they work through any member and fail over between them.
 */
import { HorusError } from '../core/errors.js';
import type { LogLevel } from '../core/logger.js';
import { pinoLogger } from '../obs/pino-logger.js';
import type { JobInfo } from '../services/jobs/job-info.js';
import type { JobSubmission, RestartPolicy } from '../services/jobs/job-spec.js';
import { JobsService, type JobsRequest } from '../services/jobs/jobs-service.js';
import { resolveNodeConfig, startNode } from './node-cmd.js';
import { askService, serveUntilSignal, type ServiceClientFlags } from './service-cmd.js';

export const DEFAULT_JOBS_GROUP = 'jobs';

type Out = (line: string) => void;

export interface JobsServeFlags {
  listen: string;
  seeds: string[];
  group: string;
  labels: string[];
  cpus: number;
  memory: number;
  admin: string | false;
  leaseMs: number;
  logLevel: LogLevel;
}

/** `horus jobs serve`: runs until SIGINT/SIGTERM, then stops its jobs and leaves (the others take them over). */
export async function runJobsServe(f: JobsServeFlags, out: Out): Promise<void> {
  const log = pinoLogger({ level: f.logLevel });
  const running = await startNode(resolveNodeConfig({}, { listen: f.listen, seeds: f.seeds, admin: f.admin, logLevel: f.logLevel }), log);
  let svc: JobsService;
  try {
    svc = await JobsService.join(running.node, f.group, {
      resources: { labels: f.labels, cpus: f.cpus, memoryMb: f.memory },
      leaseMs: f.leaseMs,
      onEvent: (ev) => {
        const t = `${ev.token.viewId}.${ev.token.placement}`;
        if (ev.type === 'started') out(`started ${ev.id} (token ${t})`);
        else if (ev.type === 'exited') out(`ended ${ev.id} (token ${t}): ${ev.code === null ? 'signal' : `exit ${ev.code}`}`);
        else if (ev.type === 'stopping') out(`stopping ${ev.id} (token ${t}): ${ev.why}`);
        else out(`let go of ${ev.id} (token ${t}): its handler ignored the stop`);
      },
    });
  } catch (err) {
    await running.close();
    throw err;
  }
  out(
    `horus jobs serve ${svc.group.localId} listening on ${running.node.endpoint}, group ${f.group}, offering labels [${f.labels.join(',')}] cpus ${f.cpus} memory ${f.memory} MB${running.admin ? `, admin and dashboard ${running.admin.url}` : ''}`,
  );
  await serveUntilSignal(async () => {
    await svc.close().catch(() => {});
    await running.close();
  });
}

export type JobsClientFlags = ServiceClientFlags;

const ask = (f: ServiceClientFlags, req: JobsRequest): Promise<unknown> => askService(f, req);

const where = (j: JobInfo): string => (j.node ? `on ${j.node} (token ${j.token!.viewId}.${j.token!.placement})` : j.reason ? `(${j.reason})` : '');

export interface JobsSubmitFlags extends JobsClientFlags {
  needs: string[];
  cpus: number;
  memory: number;
  restart: RestartPolicy;
  name?: string;
  handler?: string;
  args?: string;
  maxFailures: number;
  windowS: number;
}

export async function jobsSubmit(command: string[], f: JobsSubmitFlags, out: Out): Promise<number> {
  if (f.handler !== undefined && command.length > 0) throw new HorusError('ERR_INVALID_ARGUMENT', 'give either a command (after --) or --handler, not both');
  if (f.handler === undefined && command.length === 0) throw new HorusError('ERR_INVALID_ARGUMENT', 'give the command to run after --, or --handler NAME');
  if (f.args !== undefined && f.handler === undefined) throw new HorusError('ERR_INVALID_ARGUMENT', '--args goes with --handler');
  let args: unknown = null;
  if (f.args !== undefined) {
    try {
      args = JSON.parse(f.args) as unknown;
    } catch {
      throw new HorusError('ERR_INVALID_ARGUMENT', '--args must be JSON');
    }
  }
  const job: JobSubmission = {
    run: f.handler !== undefined ? { kind: 'handler', handler: f.handler, args } : { kind: 'command', argv: command },
    needs: { labels: f.needs, cpus: f.cpus, memoryMb: f.memory },
    restart: f.restart,
    giveUp: { maxFailures: f.maxFailures, windowMs: f.windowS * 1000 },
    ...(f.name !== undefined ? { name: f.name } : {}),
  };
  const j = (await ask(f, { op: 'submit', job })) as JobInfo;
  out(f.json ? JSON.stringify(j) : `${j.id} ${j.state} ${where(j)}`.trimEnd());
  return 0;
}

export async function jobsList(f: JobsClientFlags, out: Out): Promise<number> {
  const jobs = (await ask(f, { op: 'list' })) as JobInfo[];
  if (f.json) out(JSON.stringify(jobs));
  else for (const j of jobs) out(`${j.id}\t${j.state}\trestarts ${j.restarts}\t${j.name}\t${where(j)}`);
  return 0;
}

export async function jobsCancel(id: string, f: JobsClientFlags, out: Out): Promise<number> {
  const j = (await ask(f, { op: 'cancel', id })) as JobInfo;
  out(f.json ? JSON.stringify(j) : `${j.id} ${j.state}`);
  return 0;
}
