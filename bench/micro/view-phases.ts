// Where the time of a view change goes, phase by phase, in real processes: reads the timed logs of a
// traced rekey bench (HORUS_BENCH_TRACE=DIR, see bench/runners/rekey.ts and bench/lib/member.ts) and
// prints, for each join and leave, when each step was seen (ms after the bench asked for the change):
// the join request at a member, the joiner's answer to the coordinator's challenge, the flush start,
// the last FlushOk, the Cut, the last Done, the coordinator's install, the last member's install and,
// for a join, the joiner's Install and state. The medians of the gaps between steps follow.
//
//   mkdir -p /tmp/vc && HORUS_BENCH_TRACE=/tmp/vc npm run bench -- --filter rekey-5 --security pki
//   npx tsx bench/micro/view-phases.ts /tmp/vc [--json]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** GMS control message kinds, as in src/layers/gms/messages.ts. */
const G = { JoinReq: 1, LeaveReq: 2, FlushStart: 3, FlushOk: 4, Cut: 6, Done: 7, Install: 8, JoinAnswer: 18 } as const;

interface Line {
  ts: number;
  msg: string;
  node?: string;
  t?: number;
  from?: string;
}
interface Mark {
  case: string;
  change: 'join' | 'leave';
  k: number;
  at: number;
  mover: string;
  coordinator: string;
}
interface Member {
  node: string;
  lines: Line[];
}

const nodeOf = (member: string): string => member.replace(/~\d+$/, '');

function readJsonl<T>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

function load(dir: string): { marks: Mark[]; members: Member[] } {
  const marks = readJsonl<Mark>(join(dir, 'changes.jsonl'));
  const members: Member[] = [];
  for (const f of readdirSync(dir)) {
    if (!/^member-\d+\.jsonl$/.test(f)) continue;
    const lines = readJsonl<Line>(join(dir, f)).sort((a, b) => a.ts - b.ts);
    const node = lines.find((l) => typeof l.node === 'string')?.node;
    if (node !== undefined) members.push({ node, lines });
  }
  return { marks, members };
}

type Phases = Record<string, number | null>;

function phasesOf(mark: Mark, until: number, members: readonly Member[]): Phases {
  const coord = members.find((m) => m.node === nodeOf(mark.coordinator));
  const mover = members.find((m) => m.node.startsWith(mark.mover + '/'));
  const others = members.filter((m) => m !== coord && m !== mover);
  const within = (m: Member | undefined): Line[] => (m === undefined ? [] : m.lines.filter((l) => l.ts >= mark.at && l.ts < until));
  const rel = (l: Line | undefined): number | null => (l === undefined ? null : Math.round((l.ts - mark.at) * 10) / 10);
  const gms = (t: number) => (l: Line) => l.msg === 'gms in' && l.t === t;
  const c = within(coord);
  const installedAt = c.find((l) => l.msg === 'view installed');
  const beforeInstall = installedAt === undefined ? c : c.filter((l) => l.ts <= installedAt.ts);
  const starts = beforeInstall.filter((l) => l.msg === 'flush started');
  const lastStart = starts.at(-1);
  const ofLastAttempt = lastStart === undefined ? [] : beforeInstall.filter((l) => l.ts >= lastStart.ts);
  const cut = ofLastAttempt.find(gms(G.Cut));
  const p: Phases = {};
  if (mark.change === 'join') {
    p.joinReq = rel(
      members
        .flatMap(within)
        .sort((a, b) => a.ts - b.ts)
        .find(gms(G.JoinReq)),
    );
    p.joinAnswer = rel(c.find(gms(G.JoinAnswer)));
  } else {
    p.leaveReq = rel(c.find(gms(G.LeaveReq)));
  }
  p.flushStart = rel(lastStart);
  p.flushAttempts = starts.length;
  p.lastFlushOk = rel(
    ofLastAttempt
      .filter((l) => cut === undefined || l.ts <= cut.ts)
      .filter(gms(G.FlushOk))
      .at(-1),
  );
  p.cut = rel(cut);
  p.lastDone = rel(ofLastAttempt.filter(gms(G.Done)).at(-1));
  p.coordInstalled = rel(installedAt);
  const memberInstalls = others.map((m) => within(m).find((l) => l.msg === 'view installed')).filter((l): l is Line => l !== undefined);
  p.firstMemberInstalled = rel(memberInstalls.sort((a, b) => a.ts - b.ts)[0]);
  p.lastMemberInstalled = rel(memberInstalls.at(-1));
  if (mark.change === 'join') {
    const mv = within(mover);
    p.joinerInstall = rel(mv.find(gms(G.Install)));
    p.joinerState = rel(mv.find((l) => l.msg === 'state received'));
  }
  return p;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 10) / 10;
}

/**
 * Median gap between consecutive steps, per change from the last earlier step seen in it (a join
 * admitted without a challenge has no joinAnswer: its flush start counts from the join request).
 */
function gaps(rows: readonly Phases[]): Record<string, number | null> {
  const steps = Object.keys(rows[0] ?? {}).filter((k) => k !== 'flushAttempts');
  const byPair = new Map<string, number[]>();
  for (const r of rows) {
    let prev: string | null = null;
    for (const b of steps) {
      if (r[b] == null) continue;
      if (prev !== null) {
        const key = `${prev}->${b}`;
        if (!byPair.has(key)) byPair.set(key, []);
        byPair.get(key)!.push(r[b] - r[prev]!);
      }
      prev = b;
    }
  }
  const out: Record<string, number | null> = {};
  for (const [k, xs] of byPair) out[k] = median(xs);
  return out;
}

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: npx tsx bench/micro/view-phases.ts DIR [--json]');
  process.exit(2);
}
const { marks, members } = load(dir);
const result: Record<string, { rows: Phases[]; medianGapsMs: Record<string, number | null> }> = {};
marks.forEach((m, i) => {
  const next = marks[i + 1];
  const until = next !== undefined && next.case === m.case ? next.at : m.at + 10_000;
  const key = `${m.case} ${m.change}`;
  (result[key] ??= { rows: [], medianGapsMs: {} }).rows.push(phasesOf(m, until, members));
});
for (const r of Object.values(result)) r.medianGapsMs = gaps(r.rows);
if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
else {
  for (const [key, r] of Object.entries(result)) {
    console.log(`${key} (ms after the request)`);
    for (const row of r.rows)
      console.log(
        '  ' +
          Object.entries(row)
            .map(([k, v]) => `${k}=${v ?? '-'}`)
            .join(' '),
      );
    console.log(
      '  median gaps: ' +
        Object.entries(r.medianGapsMs)
          .map(([k, v]) => `${k} ${v ?? '-'}`)
          .join(', '),
    );
  }
}
