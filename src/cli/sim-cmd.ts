import { runScenario } from '../sim/scenario.js';
import { ProgressBar } from './progress.js';

/** Flags of `horus sim`, as in `npm run sim` (src/sim/cli.ts). */
export interface SimFlags {
  seeds: number;
  seed?: number;
  first: number;
  loss?: number;
  nodes?: number;
  messages?: number;
  faults: boolean;
  verbose?: boolean;
  /** Draw a progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
}

/** Runs the seeded scenarios; the last line is `sim: N seeds, V violations`. Returns the exit code. */
export function simCommand(flags: SimFlags, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }): number {
  const out = (s: string): boolean => stdout.write(s);
  const common = {
    ...(flags.loss !== undefined ? { loss: flags.loss } : {}),
    ...(flags.nodes !== undefined ? { nodes: flags.nodes } : {}),
    ...(flags.messages !== undefined ? { messages: flags.messages } : {}),
    faults: flags.faults,
  };
  const replayFlags = `${flags.loss !== undefined ? ` --loss ${flags.loss}` : ''}${flags.nodes !== undefined ? ` --nodes ${flags.nodes}` : ''}${flags.messages !== undefined ? ` --messages ${flags.messages}` : ''}${flags.faults ? '' : ' --no-faults'}`;

  if (flags.seed !== undefined) {
    const r = runScenario({ seed: flags.seed, ...common, verbose: flags.verbose ?? false });
    for (const v of r.violations) out(`  ${v.property}: ${v.detail}\n`);
    out(
      `seed ${flags.seed}: ${r.nodes} nodes, ${r.sent} sent, ${r.delivered} delivered, ${Math.round(r.virtualMs)} virtual ms, ${r.violationCount} violations\n`,
    );
    out(`history hash ${r.historyHash}\ntrace hash ${r.traceHash}\n`);
    return r.violationCount > 0 ? 1 : 0;
  }

  const count = flags.seeds;
  const first = flags.first;
  const bar = new ProgressBar(stderr, count, 'sim', flags.progress ?? stderr.isTTY === true);
  const failing: number[] = [];
  let violations = 0;
  const started = Date.now();
  for (let s = first; s < first + count; s++) {
    let line: string | null = null;
    try {
      const r = runScenario({ seed: s, ...common });
      if (r.violationCount > 0) {
        violations += r.violationCount;
        failing.push(s);
        line = `seed ${s}: ${r.violationCount} violations, first: ${r.violations[0]?.property}: ${r.violations[0]?.detail}\n  replay: horus sim --seed ${s}${replayFlags}\n`;
      }
    } catch (err) {
      violations++;
      failing.push(s);
      line = `seed ${s}: crashed: ${(err as Error).stack ?? String(err)}\n  replay: horus sim --seed ${s}${replayFlags}\n`;
    }
    if (line) {
      bar.clear();
      out(line);
    }
    bar.update(s - first + 1, `seeds, ${failing.length} failing`);
  }
  bar.done();
  if (failing.length > 0) out(`failing seeds: ${failing.join(' ')}\n`);
  out(`(${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  out(`sim: ${count} seeds, ${violations} violations\n`);
  return violations > 0 ? 1 : 0;
}
