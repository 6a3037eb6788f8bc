// Any V8 CPU profile(s) to one SVG flame graph (and folded stacks beside it):
//
//   npx tsx bench/flamegraph.ts [--title TEXT] OUT.svg IN.cpuprofile [MORE.cpuprofile ...]
//
// Prints the frames with the most self time and the time by source file.
// `npm run bench -- --profile CASE` does this for a benchmark case's members by itself.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { flameGraphSvg, foldedText, foldProfile, mergeFolded, shareByFile, topSelf, type CpuProfile } from './lib/flamegraph.js';

const argv = process.argv.slice(2);
let title: string | null = null;
if (argv[0] === '--title') {
  title = argv[1] ?? '';
  argv.splice(0, 2);
}
const [out, ...inputs] = argv;
if (out === undefined || !out.endsWith('.svg') || inputs.length === 0) {
  process.stderr.write('usage: tsx bench/flamegraph.ts [--title TEXT] OUT.svg IN.cpuprofile [MORE.cpuprofile ...]\n');
  process.exit(2);
}
const all = new Map<string, number>();
for (const f of inputs) mergeFolded(all, foldProfile(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile));
writeFileSync(out, flameGraphSvg(all, { title: title ?? inputs.map((f) => basename(f)).join(' + ') }));
writeFileSync(out.replace(/\.svg$/, '.folded'), foldedText(all));
const pct = (x: number): string => `${(x * 100).toFixed(1).padStart(5)}%`;
process.stdout.write('self time by frame:\n');
for (const t of topSelf(all, 15)) process.stdout.write(`  ${pct(t.share)}  ${t.frame}\n`);
process.stdout.write('by file (self, inclusive):\n');
for (const f of shareByFile(all, 20)) process.stdout.write(`  ${pct(f.self)} ${pct(f.inclusive)}  ${f.file}\n`);
process.stderr.write(`wrote ${out}\n`);
