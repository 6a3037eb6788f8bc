/**
 * What a job is and what a node offers, and the checks every one of them passes before it touches
 * the job table: submissions come from clients and advertisements from members, so every field is
 * hostile until checked (shape, types, and a cap on every string and list).
 */
import { HorusError } from '../../core/errors.js';
import { DEFAULT_GIVE_UP, type GiveUpPolicy } from './give-up.js';

/** What a job asks of its node: every label, and at least this much free CPU and memory. */
export interface JobNeeds {
  labels: string[];
  /** CPUs (fractions allowed). */
  cpus: number;
  /** Megabytes of memory. */
  memoryMb: number;
}

/** What a node offers: labels, CPUs, memory, and the handlers its program registered. */
export interface NodeResources {
  labels: string[];
  cpus: number;
  memoryMb: number;
  /** Names of the in-process handlers this member can run (see JobsService.registerHandler). */
  handlers: string[];
}

/** A command line run as a child process, or a handler the member program registered by name. */
export type JobRun = { kind: 'command'; argv: string[] } | { kind: 'handler'; handler: string; args: unknown };

/**
 * When a job that ended is started again: `always` (whatever its exit code), `on-failure` (a
 * non-zero exit or a signal), `never`. A job whose node is lost is placed again under every policy
 * but `never`.
 */
export type RestartPolicy = 'always' | 'on-failure' | 'never';
export const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'never'];

export interface JobSpec {
  /** A name for people (need not be unique); the manager gives each job its own id. */
  name: string;
  run: JobRun;
  needs: JobNeeds;
  restart: RestartPolicy;
  /** When to stop restarting it (part of the job, so that every replica applies the same rule). */
  giveUp: GiveUpPolicy;
}

/** What a caller may leave out when submitting. */
export interface JobSubmission {
  name?: string;
  run: JobRun;
  needs?: Partial<JobNeeds>;
  restart?: RestartPolicy;
  /** Default: Isis' 5 failures within 30 s. */
  giveUp?: GiveUpPolicy;
}

/** Caps on what a submission or an advertisement may carry. */
export const JOB_LIMITS = {
  maxArgs: 256,
  maxArgChars: 4096,
  maxCommandChars: 65_536,
  maxLabels: 64,
  maxLabelChars: 128,
  maxNameChars: 256,
  maxHandlers: 256,
  /** Bytes of a handler job's args once JSON-encoded. */
  maxHandlerArgsBytes: 16_384,
  maxCpus: 65_536,
  maxMemoryMb: 1 << 30,
} as const;

const bad = (what: string): HorusError => new HorusError('ERR_INVALID_ARGUMENT', what);

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function str(x: unknown, max: number, what: string, allowEmpty = false): string {
  if (typeof x !== 'string' || (!allowEmpty && x.length === 0) || x.length > max) throw bad(`${what}: a string of ${allowEmpty ? 0 : 1} to ${max} characters`);
  return x;
}

function labels(x: unknown, what: string): string[] {
  if (x === undefined) return [];
  if (!Array.isArray(x) || x.length > JOB_LIMITS.maxLabels) throw bad(`${what}: a list of at most ${JOB_LIMITS.maxLabels} labels`);
  const out = x.map((l) => str(l, JOB_LIMITS.maxLabelChars, `${what}: a label`));
  return [...new Set(out)].sort();
}

function amount(x: unknown, max: number, what: string): number {
  if (x === undefined) return 0;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > max) throw bad(`${what}: a number from 0 to ${max}`);
  return x;
}

function parseRun(x: unknown): JobRun {
  if (!isObj(x)) throw bad('run: { kind: "command", argv } or { kind: "handler", handler, args }');
  if (x.kind === 'command') {
    const argv = x.argv;
    if (!Array.isArray(argv) || argv.length === 0 || argv.length > JOB_LIMITS.maxArgs) throw bad(`run.argv: a list of 1 to ${JOB_LIMITS.maxArgs} strings`);
    const out = argv.map((a, i) => str(a, JOB_LIMITS.maxArgChars, `run.argv[${i}]`, i > 0));
    if (out.reduce((n, a) => n + a.length, 0) > JOB_LIMITS.maxCommandChars) throw bad(`run.argv: at most ${JOB_LIMITS.maxCommandChars} characters in all`);
    if (out.some((a) => a.includes('\u0000'))) throw bad('run.argv: no NUL characters');
    return { kind: 'command', argv: out };
  }
  if (x.kind === 'handler') {
    const handler = str(x.handler, JOB_LIMITS.maxNameChars, 'run.handler');
    let json: string | undefined;
    try {
      json = JSON.stringify(x.args ?? null);
    } catch {
      throw bad('run.args: plain JSON data');
    }
    if (json === undefined || Buffer.byteLength(json) > JOB_LIMITS.maxHandlerArgsBytes)
      throw bad(`run.args: plain JSON data of at most ${JOB_LIMITS.maxHandlerArgsBytes} bytes`);
    return { kind: 'handler', handler, args: JSON.parse(json) as unknown };
  }
  throw bad('run.kind: "command" or "handler"');
}

/** A submission checked and completed with defaults (no labels, no CPU or memory, restart on failure). */
export function parseJobSpec(x: unknown): JobSpec {
  if (!isObj(x)) throw bad('a job is an object { run, needs?, restart?, name? }');
  const run = parseRun(x.run);
  const needs = x.needs === undefined ? {} : x.needs;
  if (!isObj(needs)) throw bad('needs: { labels?, cpus?, memoryMb? }');
  const restart = x.restart ?? 'on-failure';
  if (!RESTART_POLICIES.includes(restart as RestartPolicy)) throw bad(`restart: one of ${RESTART_POLICIES.join(', ')}`);
  const g = x.giveUp === undefined ? DEFAULT_GIVE_UP : x.giveUp;
  if (!isObj(g)) throw bad('giveUp: { maxFailures, windowMs }');
  if (!Number.isInteger(g.maxFailures) || (g.maxFailures as number) < 1 || (g.maxFailures as number) > 1000)
    throw bad('giveUp.maxFailures: an integer from 1 to 1000');
  if (typeof g.windowMs !== 'number' || !Number.isFinite(g.windowMs) || g.windowMs < 0 || g.windowMs > 86_400_000)
    throw bad('giveUp.windowMs: a number of ms from 0 to 86,400,000');
  const name =
    x.name === undefined
      ? run.kind === 'command'
        ? run.argv.join(' ').slice(0, JOB_LIMITS.maxNameChars)
        : run.handler
      : str(x.name, JOB_LIMITS.maxNameChars, 'name');
  return {
    name,
    run,
    needs: {
      labels: labels(needs.labels, 'needs.labels'),
      cpus: amount(needs.cpus, JOB_LIMITS.maxCpus, 'needs.cpus'),
      memoryMb: amount(needs.memoryMb, JOB_LIMITS.maxMemoryMb, 'needs.memoryMb'),
    },
    restart: restart as RestartPolicy,
    giveUp: { maxFailures: g.maxFailures as number, windowMs: g.windowMs },
  };
}

/** A node's advertisement, checked. */
export function parseResources(x: unknown): NodeResources {
  if (!isObj(x)) throw bad('resources: { labels, cpus, memoryMb, handlers }');
  const handlers = x.handlers === undefined ? [] : x.handlers;
  if (!Array.isArray(handlers) || handlers.length > JOB_LIMITS.maxHandlers) throw bad(`handlers: a list of at most ${JOB_LIMITS.maxHandlers} names`);
  return {
    labels: labels(x.labels, 'labels'),
    cpus: amount(x.cpus, JOB_LIMITS.maxCpus, 'cpus'),
    memoryMb: amount(x.memoryMb, JOB_LIMITS.maxMemoryMb, 'memoryMb'),
    handlers: [...new Set(handlers.map((h) => str(h, JOB_LIMITS.maxNameChars, 'a handler name')))].sort(),
  };
}
