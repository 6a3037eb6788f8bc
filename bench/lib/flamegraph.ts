// V8 CPU profiles (`node --cpu-prof`, .cpuprofile JSON) to folded stacks and an SVG flame graph,
// with no dependency: the format is small and a flame graph is rectangles.
//
//   profile nodes (a call tree with self hit counts) -> folded stacks ("a;b;c 42")
//   -> a merged tree of frames -> one <rect> per frame, widths proportional to samples, root at the bottom.

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples?: number[];
  startTime?: number;
  endTime?: number;
}

/** Frames V8 reports while the thread waits for I/O: not work, so not drawn (they would dwarf the rest). */
const IDLE = new Set(['(idle)']);

/** A frame's label: the function, and where it is (file name and line). */
export function frameName(f: CpuProfileNode['callFrame']): string {
  const fn = f.functionName === '' ? '(anonymous)' : f.functionName;
  if (f.url === '') return fn;
  const file = f.url.replace(/^file:\/\//, '');
  const src = file.lastIndexOf('/src/');
  const short = src >= 0 ? file.slice(src + 1) : file.startsWith('node:') ? file : file.slice(file.lastIndexOf('/') + 1);
  // tsx's transformed modules report their functions at line 0: a line there would mislead.
  return f.lineNumber > 0 ? `${fn} ${short}:${f.lineNumber + 1}` : `${fn} ${short}`;
}

/** Folded stacks: root first, frames joined by ';', with their self sample counts (merged when equal). */
export function foldProfile(p: CpuProfile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Self samples: hitCount when present, else counted from the samples list.
  const hits = new Map<number, number>();
  if (p.nodes.some((n) => (n.hitCount ?? 0) > 0)) for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  else for (const s of p.samples ?? []) hits.set(s, (hits.get(s) ?? 0) + 1);
  const folded = new Map<string, number>();
  for (const [id, count] of hits) {
    if (count === 0) continue;
    const names: string[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined || n.callFrame.functionName === '(root)') break;
      names.push(frameName(n.callFrame));
    }
    if (names.length === 0 || IDLE.has(names[0]!)) continue;
    const key = names.reverse().join(';');
    folded.set(key, (folded.get(key) ?? 0) + count);
  }
  return folded;
}

/** Adds `b`'s stacks into `a`. */
export function mergeFolded(a: Map<string, number>, b: ReadonlyMap<string, number>): Map<string, number> {
  for (const [k, v] of b) a.set(k, (a.get(k) ?? 0) + v);
  return a;
}

export function foldedText(folded: ReadonlyMap<string, number>): string {
  return [...folded].map(([k, v]) => `${k} ${v}`).join('\n') + '\n';
}

/** The frames with the most self samples: [name, samples, share of all samples]. */
export function topSelf(folded: ReadonlyMap<string, number>, n = 15): { frame: string; samples: number; share: number }[] {
  const self = new Map<string, number>();
  let total = 0;
  for (const [k, v] of folded) {
    const leaf = k.slice(k.lastIndexOf(';') + 1);
    self.set(leaf, (self.get(leaf) ?? 0) + v);
    total += v;
  }
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([frame, samples]) => ({ frame, samples, share: total === 0 ? 0 : Number((samples / total).toFixed(4)) }));
}

/** Where a frame's code lives: its file (`src/layers/NAK.ts`, `node:internal/…`), 'native', or V8's pseudo-frame itself. */
export function fileOf(frame: string): string {
  const space = frame.indexOf(' ');
  if (frame.startsWith('(') && frame.endsWith(')') && !frame.includes(') ')) return frame;
  if (space < 0) return 'native';
  const where = frame.slice(frame.lastIndexOf(' ') + 1);
  return where.replace(/:\d+$/, '');
}

export interface FileShare {
  file: string;
  /** Share of all samples whose leaf frame is in this file (what it costs itself). */
  self: number;
  /** Share of all samples with this file anywhere on the stack (it and what it calls). */
  inclusive: number;
}

/** Time by file, the most self time first: where a profile's time goes at a glance. */
export function shareByFile(folded: ReadonlyMap<string, number>, n = 20): FileShare[] {
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  for (const [stack, v] of folded) {
    total += v;
    const files = stack.split(';').map(fileOf);
    const leaf = files[files.length - 1]!;
    self.set(leaf, (self.get(leaf) ?? 0) + v);
    for (const f of new Set(files)) incl.set(f, (incl.get(f) ?? 0) + v);
  }
  const share = (x: number): number => (total === 0 ? 0 : Number((x / total).toFixed(4)));
  return [...incl.keys()]
    .map((file) => ({ file, self: share(self.get(file) ?? 0), inclusive: share(incl.get(file)!) }))
    .sort((a, b) => b.self - a.self || b.inclusive - a.inclusive)
    .slice(0, n);
}

interface Frame {
  name: string;
  value: number;
  children: Map<string, Frame>;
}

function buildTree(folded: ReadonlyMap<string, number>): Frame {
  const root: Frame = { name: 'all', value: 0, children: new Map() };
  for (const [stack, v] of folded) {
    root.value += v;
    let cur = root;
    for (const name of stack.split(';')) {
      let next = cur.children.get(name);
      if (next === undefined) {
        next = { name, value: 0, children: new Map() };
        cur.children.set(name, next);
      }
      next.value += v;
      cur = next;
    }
  }
  return root;
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 0xffffffff;
}

/** Warm colours for Horus's own code, blue for Node's internals, purple for the bench's member, green for dependencies, grey for V8's pseudo-frames. */
function colour(name: string): string {
  const v = hash(name);
  if (!name.includes(' ') || /^\([^)]*\)$/.test(name)) return `rgb(${170 + Math.round(v * 30)},${170 + Math.round(v * 30)},${170 + Math.round(v * 30)})`;
  if (name.includes(' src/')) return `rgb(${220 + Math.round(v * 35)},${90 + Math.round(v * 110)},${40 + Math.round(v * 30)})`;
  if (name.includes(' member.ts') || name.includes(' bench/'))
    return `rgb(${160 + Math.round(v * 40)},${120 + Math.round(v * 40)},${210 + Math.round(v * 40)})`;
  if (name.includes(' node:')) return `rgb(${80 + Math.round(v * 40)},${140 + Math.round(v * 50)},${210 + Math.round(v * 40)})`;
  return `rgb(${90 + Math.round(v * 50)},${180 + Math.round(v * 50)},${90 + Math.round(v * 40)})`;
}

export interface FlameGraphOptions {
  title: string;
  width?: number;
  frameHeight?: number;
  /** Frames narrower than this (px) are left out. */
  minWidth?: number;
}

/** An SVG flame graph (root at the bottom, callers below callees); each frame's <title> is its tooltip. */
export function flameGraphSvg(folded: ReadonlyMap<string, number>, opts: FlameGraphOptions): string {
  const width = opts.width ?? 1200;
  const fh = opts.frameHeight ?? 16;
  const minWidth = opts.minWidth ?? 0.3;
  const root = buildTree(folded);
  const total = Math.max(1, root.value);
  const pad = 10;
  const scale = (width - 2 * pad) / total;
  const depthOf = (f: Frame): number => Math.max(0, ...[...f.children.values()].map((c) => (c.value * scale >= minWidth ? depthOf(c) + 1 : 0)));
  const depth = depthOf(root) + 1;
  const top = 40;
  const height = top + depth * fh + 30;
  const rects: string[] = [];
  const draw = (f: Frame, x: number, level: number): void => {
    const w = f.value * scale;
    if (w < minWidth) return;
    const y = height - 30 - (level + 1) * fh;
    const pct = ((f.value / total) * 100).toFixed(2);
    const label = escapeXml(f.name);
    const chars = Math.floor((w - 6) / 6.6);
    const text = chars >= 3 ? (f.name.length <= chars ? f.name : f.name.slice(0, chars - 2) + '..') : '';
    rects.push(
      `<g><title>${label} (${f.value} samples, ${pct}%)</title><rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${fh - 1}" fill="${level === 0 ? 'rgb(200,200,200)' : colour(f.name)}" rx="2"/>` +
        (text !== '' ? `<text x="${(x + 3).toFixed(2)}" y="${y + fh - 5}">${escapeXml(text)}</text>` : '') +
        '</g>',
    );
    let cx = x;
    // Alphabetical, as flamegraph.pl does: a frame sits at the same place in a before and an after graph.
    for (const c of [...f.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      draw(c, cx, level + 1);
      cx += c.value * scale;
    }
  };
  draw(root, pad, 0);
  return [
    `<?xml version="1.0" standalone="no"?>`,
    `<svg version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">`,
    `<style>text { font-family: Verdana, sans-serif; font-size: 11px; fill: #000; pointer-events: none; } rect:hover { stroke: #000; stroke-width: 0.5; }</style>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#f8f8f8"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" style="font-size:15px">${escapeXml(opts.title)}</text>`,
    `<text x="${pad}" y="${height - 10}">${total} samples (idle left out). Hover a frame for its share. Orange: Horus (src/), blue: Node internals, purple: the bench's member process, green: dependencies, grey: V8 (GC, program, native).</text>`,
    ...rects,
    `</svg>`,
    '',
  ].join('\n');
}
