/**
 * Runs a command job as a child process behind a small bash supervisor that holds a lease from the
 * node: the node writes a line to the supervisor's stdin every few hundred ms while it may run the
 * job, and the supervisor kills the job's whole process group (itself included) as soon as that
 * pipe closes (the node died, even by kill -9) or stays silent for the lease (the node was paused,
 * or cut off and blocked). So a job never outlives its node's right to run it by more than the lease,
 * which is shorter than the time the others take to suspect the node and place the job elsewhere.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** The supervisor: run "$@" with stdin from /dev/null; kill the process group when the lease lapses. */
const SUPERVISOR = [
  'exec 3<&0 0</dev/null',
  '"$@" 3<&- &',
  'child=$!',
  '( while IFS= read -r -t "$HORUS_JOB_LEASE_S" -u 3 _; do :; done; kill -KILL 0 ) &',
  'watch=$!',
  'disown "$watch"',
  'exec 3<&-',
  'wait "$child"; rc=$?',
  'kill -KILL "$watch" 2>/dev/null',
  'exit "$rc"',
].join('\n');

export interface ProcessJobOptions {
  argv: readonly string[];
  /** Extra environment variables (the job's id and token). */
  env: Record<string, string>;
  /** The job dies this long after the node's last renewal (ms). */
  leaseMs: number;
  /** Where the job's stdout and stderr go: the node's own, or nowhere. */
  output: 'inherit' | 'ignore';
  /** The job ended: its exit code, or null if a signal ended it. */
  onExit(code: number | null): void;
}

export interface RunningProcess {
  readonly pid: number | undefined;
  /** Extend the lease (the node still may run the job). */
  renew(): void;
  /** Signal the whole process group. */
  signal(sig: NodeJS.Signals): void;
}

export function startProcessJob(o: ProcessJobOptions): RunningProcess {
  const child: ChildProcess = spawn('bash', ['-c', SUPERVISOR, 'horus-job', ...o.argv], {
    detached: true,
    stdio: ['pipe', o.output, o.output],
    env: { ...process.env, ...o.env, HORUS_JOB_LEASE_S: (o.leaseMs / 1000).toFixed(3) },
  });
  let ended = false;
  const end = (code: number | null): void => {
    if (ended) return;
    ended = true;
    o.onExit(code);
  };
  child.once('exit', (code) => end(code));
  child.once('error', () => end(127));
  // A write after the supervisor died fails: the exit event says the rest.
  child.stdin?.on('error', () => {});
  return {
    pid: child.pid,
    renew: () => {
      if (!ended && child.stdin?.writable) child.stdin.write('\n');
    },
    signal: (sig) => {
      if (ended || child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // Gone already.
      }
    },
  };
}
