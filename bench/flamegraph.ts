// Any V8 CPU profile(s) to one SVG flame graph (and folded stacks beside it):
//
//   npx tsx bench/flamegraph.ts OUT.svg IN.cpuprofile [MORE.cpuprofile ...]
//
// `npm run bench -- --profile CASE` does this for a benchmark case's members by itself.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { flameGraphSvg, foldedText, foldProfile, mergeFolded, topSelf, type CpuProfile } from './lib/flamegraph.js';

const [out, ...inputs] = process.argv.slice(2);
if (out === undefined || !out.endsWith('.svg') || inputs.length === 0) {
  process.stderr.write('usage: tsx bench/flamegraph.ts OUT.svg IN.cpuprofile [MORE.cpuprofile ...]\n');
  process.exit(2);
}
const all = new Map<string, number>();
for (const f of inputs) mergeFolded(all, foldProfile(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile));
writeFileSync(out, flameGraphSvg(all, { title: inputs.map((f) => basename(f)).join(' + ') }));
writeFileSync(out.replace(/\.svg$/, '.folded'), foldedText(all));
for (const t of topSelf(all, 15)) process.stdout.write(`${(t.share * 100).toFixed(1).padStart(5)}%  ${t.frame}\n`);
process.stderr.write(`wrote ${out}\n`);
