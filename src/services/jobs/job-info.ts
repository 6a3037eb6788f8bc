import type { JobState, JobRecord, JobToken } from './job-table.js';
import type { JobNeeds, RestartPolicy } from './job-spec.js';

/** A job as `list`, `submit` and the dashboard show it: plain JSON. */
export interface JobInfo {
  id: string;
  name: string;
  /** `command` with its argv, or `handler` with its name. */
  run: string;
  needs: JobNeeds;
  restart: RestartPolicy;
  state: JobState;
  /** The member it runs on, or null. */
  node: string | null;
  token: JobToken | null;
  restarts: number;
  /** Failures counted towards giving up (the last maxFailures at most). */
  failures: number;
  giveUp: { maxFailures: number; windowMs: number };
  lastExit: number | null;
  reason: string | null;
  submittedBy: string;
}

export function jobInfo(j: JobRecord): JobInfo {
  return {
    id: j.id,
    name: j.spec.name,
    run: j.spec.run.kind === 'command' ? `command: ${j.spec.run.argv.join(' ')}` : `handler: ${j.spec.run.handler}`,
    needs: j.spec.needs,
    restart: j.spec.restart,
    state: j.state,
    node: j.node,
    token: j.token,
    restarts: j.restarts,
    failures: j.failures.length,
    giveUp: j.spec.giveUp,
    lastExit: j.lastExit,
    reason: j.reason,
    submittedBy: j.submittedBy,
  };
}
