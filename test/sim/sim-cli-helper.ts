import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `npm run sim` as CI runs it: node + the tsx loader + src/sim/cli.ts, in a child process. */
export const SIM_CLI = fileURLToPath(new URL('../../src/sim/cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface SimRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the simulator CLI with `args`; `nodeFlags` go to node itself (e.g. a heap limit). */
export function runSimCli(args: readonly string[], nodeFlags: readonly string[] = [], timeoutMs = 600_000): Promise<SimRun> {
  const started = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [...nodeFlags, '--import', TSX, SIM_CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The output without the timing line, which is the only line allowed to differ between runs. */
export function withoutTiming(stdout: string): string {
  return stdout
    .split('\n')
    .filter((l) => !/^\(\d+\.\d s(, \d+ workers)?\)$/.test(l))
    .join('\n');
}
