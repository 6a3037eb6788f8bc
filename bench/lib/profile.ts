// --profile: the members' CPU profiles of one case (runners/context.ts profileStart/Stop) become folded
// stacks, SVG flame graphs (one per member and one for all) and the time by frame and by file.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flameGraphSvg, foldedText, foldProfile, mergeFolded, shareByFile, topSelf, type CpuProfile, type FileShare } from './flamegraph.js';

export interface ProfileOutput {
  dir: string;
  /** The flame graph of all members together. */
  svg: string;
  perMember: string[];
  top: ReturnType<typeof topSelf>;
  /** Self and inclusive shares by source file. */
  byFile: FileShare[];
}

/** Turns every .cpuprofile in `dir` into flame graphs named after `caseId`. */
export function renderProfiles(dir: string, caseId: string): ProfileOutput {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  const all = new Map<string, number>();
  const perMember: string[] = [];
  for (const f of files) {
    const folded = foldProfile(JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile);
    mergeFolded(all, folded);
    const out = join(dir, f.replace(/\.cpuprofile$/, '.svg'));
    writeFileSync(out, flameGraphSvg(folded, { title: `${caseId}: ${f.replace(/\.cpuprofile$/, '')}` }));
    perMember.push(out);
  }
  const svg = join(dir, `${caseId}.svg`);
  writeFileSync(svg, flameGraphSvg(all, { title: `${caseId}: all ${files.length} members` }));
  writeFileSync(join(dir, `${caseId}.folded`), foldedText(all));
  const top = topSelf(all, 15);
  const byFile = shareByFile(all, 25);
  writeFileSync(join(dir, `${caseId}-top.json`), JSON.stringify({ top, byFile }, null, 2) + '\n');
  return { dir, svg, perMember, top, byFile };
}
