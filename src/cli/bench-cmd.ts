import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.js';
import { ProgressBar } from './progress.js';
import { scriptCommand } from './spawn.js';

export const DEFAULT_BENCH_SCRIPT = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

/**
 * Progress protocol for benchmark scripts: a stderr line `progress DONE/TOTAL [label]` draws the bar
 * (on a terminal) instead of being printed. Every other byte passes through unchanged.
 */
const PROGRESS_LINE = /^progress (\d+)\/(\d+)(?: (.*))?$/;

/** Runs the benchmark script (through tsx when it is TypeScript) and passes its output and exit code through. */
export async function benchCommand(script: string, args: readonly string[], opts: { progress?: boolean } = {}): Promise<number> {
  if (!existsSync(script))
    throw new ConfigError(`benchmark script ${script} does not exist (the benchmarks come with Horus's source repository, not the installed package)`);
  const { command, args: argv } = scriptCommand(script, args);
  const child = spawn(command, argv, { stdio: ['inherit', 'inherit', 'pipe'], env: { ...process.env, HORUS_PROGRESS: '1' } });
  const stderr = process.stderr;
  const show = opts.progress ?? stderr.isTTY === true;
  const bar = new ProgressBar(stderr, 0, 'bench', show);
  // Long cases print nothing for a while: keep the elapsed time moving.
  const spin = show ? setInterval(() => bar.redraw(), 250) : null;
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = PROGRESS_LINE.exec(line);
      if (m) {
        bar.setTotal(Number(m[2]));
        bar.update(Number(m[1]), m[3] ?? '');
        continue;
      }
      bar.clear();
      stderr.write(line + '\n');
      bar.redraw();
    }
  });
  // The child shares our terminal, so Ctrl-C reaches it too; forwarding covers `kill <pid>`.
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, sig) => resolve(c ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0)));
    });
    if (spin) clearInterval(spin);
    bar.clear();
    if (partial) stderr.write(partial + '\n');
    return code;
  } finally {
    if (spin) clearInterval(spin);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
