// The peer benchmarks' summary lines (../shared/peers: the raw Node mesh, JGroups, Corosync) read
// into figures, and Horus's results set against them as the ratios issue 10 asks for.
import type { BenchResult } from './results.js';

/** One figure a peer printed: e.g. { peer: 'jgroups', what: 'total 100B', value: 158000, unit: 'msgs/s' }. */
export interface PeerFigure {
  peer: 'mesh' | 'jgroups' | 'corosync';
  what: string;
  value: number;
  unit: 'msgs/s' | 'us';
}

const LINES: { re: RegExp; fig: (m: RegExpExecArray) => PeerFigure[] }[] = [
  // raw-node-mesh n=3 100B: 1500000 frames/s delivered per member (median of members)
  { re: /^raw-node-mesh n=(\d+) (\d+)B: (\d+) frames\/s/, fig: (m) => [{ peer: 'mesh', what: `n${m[1]} ${m[2]}B`, value: Number(m[3]), unit: 'msgs/s' }] },
  // jgroups fifo 100B: 448000 msgs/s per member (...)
  {
    re: /^jgroups (fifo|total) (\d+)B: (\d+) msgs\/s per member/,
    fig: (m) => [{ peer: 'jgroups', what: `${m[1]} ${m[2]}B`, value: Number(m[3]), unit: 'msgs/s' }],
  },
  // jgroups fifo lat_nobundle 100B: p50 600 us, p99 900 us, mean 650 us (...)
  {
    re: /^jgroups (fifo|total) (\S+) (\d+)B: p50 (\d+) us, p99 (\d+) us/,
    fig: (m) => [
      { peer: 'jgroups', what: `${m[1]} ${m[2]} ${m[3]}B p50`, value: Number(m[4]), unit: 'us' },
      { peer: 'jgroups', what: `${m[1]} ${m[2]} ${m[3]}B p99`, value: Number(m[5]), unit: 'us' },
    ],
  },
  // corosync 3node agreed 100B: 15500 msgs/s (median of 3 receivers; ...)
  {
    re: /^corosync (\S+) agreed (\d+)B: (\d+) msgs\/s/,
    fig: (m) => [{ peer: 'corosync', what: `${m[1]} agreed ${m[2]}B`, value: Number(m[3]), unit: 'msgs/s' }],
  },
  // corosync 3node rtt 100B 1-pinger: p50 390 us, p99 800 us, mean 420 us (...)
  {
    re: /^corosync (\S+) rtt (\d+)B (\d+)-pinger: p50 (\d+) us, p99 (\d+) us/,
    fig: (m) => [
      { peer: 'corosync', what: `${m[1]} rtt ${m[2]}B ${m[3]}-pinger p50`, value: Number(m[4]), unit: 'us' },
      { peer: 'corosync', what: `${m[1]} rtt ${m[2]}B ${m[3]}-pinger p99`, value: Number(m[5]), unit: 'us' },
    ],
  },
];

/** Every figure in a peer's output (lines it does not know are skipped; the same figure twice: the last wins). */
export function parsePeerOutput(text: string): PeerFigure[] {
  const out = new Map<string, PeerFigure>();
  for (const line of text.split('\n')) {
    for (const { re, fig } of LINES) {
      const m = re.exec(line.trim());
      if (m !== null) for (const f of fig(m)) out.set(`${f.peer} ${f.what}`, f);
    }
  }
  return [...out.values()];
}

export interface RatioRow {
  what: string;
  horus: number | null;
  peer: number | null;
  /** Horus / peer for rates; null when either side is missing. */
  ratio: number | null;
  aim: string;
}

/** Issue 10's table: Horus's per-member rates against the peers', 3 processes. */
export function ratioTable(horus: readonly BenchResult[], peers: readonly PeerFigure[]): RatioRow[] {
  const rate = (id: string): number | null => {
    const r = horus.find((x) => x.id === id);
    return r?.kind === 'throughput' ? r.msgsPerSecPerMember : null;
  };
  const peer = (p: PeerFigure['peer'], what: string): number | null => peers.find((f) => f.peer === p && f.what === what)?.value ?? null;
  const row = (what: string, h: number | null, p: number | null, aim: string): RatioRow => ({
    what,
    horus: h,
    peer: p,
    ratio: h !== null && p !== null && p > 0 ? Number((h / p).toFixed(2)) : null,
    aim,
  });
  return [
    row('fbcast 100 B / JGroups FIFO 100 B', rate('fbcast-3-100B'), peer('jgroups', 'fifo 100B'), '≥ 1.0'),
    row('fbcast 1 KiB / JGroups FIFO 1000 B', rate('fbcast-3-1KiB'), peer('jgroups', 'fifo 1000B'), '≥ 1.5'),
    row('abcast 100 B / JGroups total order 100 B', rate('abcast-3-100B'), peer('jgroups', 'total 100B'), '≥ 1.5'),
    row('abcast 1 KiB / JGroups total order 1000 B', rate('abcast-3-1KiB'), peer('jgroups', 'total 1000B'), '—'),
    // Corosync's run names its two set-ups "3node-1proc-each" (3 daemons) and "1node-3procs" (one
    // daemon, 3 clients); older runs said "3node". Both rows are shown.
    row(
      'abcast 100 B / Corosync agreed 100 B (3 daemons, 1 process each)',
      rate('abcast-3-100B'),
      peer('corosync', '3node-1proc-each agreed 100B') ?? peer('corosync', '3node agreed 100B'),
      '≥ 3',
    ),
    row('abcast 100 B / Corosync agreed 100 B (1 daemon, 3 processes)', rate('abcast-3-100B'), peer('corosync', '1node-3procs agreed 100B'), '≥ 3'),
    row('fbcast 100 B (others only) / raw Node TCP mesh 100 B', remote(horus, 'fbcast-3-100B'), peer('mesh', 'n3 100B'), '—'),
    row('fbcast 1 KiB (others only) / raw Node TCP mesh 1000 B', remote(horus, 'fbcast-3-1KiB'), peer('mesh', 'n3 1000B'), '—'),
  ];
}

/** Messages from other members only: what the mesh counts (it does not deliver a process's own frames). */
function remote(horus: readonly BenchResult[], id: string): number | null {
  const r = horus.find((x) => x.id === id);
  return r?.kind === 'throughput' ? r.remoteMsgsPerSecPerMember : null;
}

export function formatRatioTable(rows: readonly RatioRow[]): string {
  const fmt = (x: number | null): string => (x === null ? '_' : String(x));
  return [
    '| 3 processes, per-member delivered msgs/s | Horus | peer | ratio | aim |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.what} | ${fmt(r.horus)} | ${fmt(r.peer)} | ${r.ratio === null ? '_' : `${r.ratio}×`} | ${r.aim} |`),
  ].join('\n');
}

/** A peer's figures from a run at `n` members, told apart from the 3-member ones ("n9 fifo 100B"). */
export function withMembers(n: number, figures: readonly PeerFigure[]): PeerFigure[] {
  return figures.map((f) => ({ ...f, what: `n${n} ${f.what}` }));
}

/** One group size of the scaling table: fbcast 100 B against JGroups FIFO, and each against itself at 3. */
export interface ScaleRow {
  members: number;
  horus: number | null;
  jgroups: number | null;
  /** Horus / JGroups at this size. */
  ratio: number | null;
  /** rate(n) / rate(3): issue 10 item 5 asks ≥ 1/3 at 9 members for Horus. */
  horusOfThree: number | null;
  jgroupsOfThree: number | null;
}

export function scaleTable(horus: readonly BenchResult[], peers: readonly PeerFigure[], sizes: readonly number[]): ScaleRow[] {
  const rate = (n: number): number | null => {
    const r = horus.find((x) => x.id === `fbcast-${n}-100B`);
    return r?.kind === 'throughput' ? r.msgsPerSecPerMember : null;
  };
  const jg = (n: number): number | null => peers.find((f) => f.peer === 'jgroups' && f.what === (n === 3 ? 'fifo 100B' : `n${n} fifo 100B`))?.value ?? null;
  const div = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? Number((a / b).toFixed(3)) : null);
  return [3, ...sizes].map((n) => ({
    members: n,
    horus: rate(n),
    jgroups: jg(n),
    ratio: div(rate(n), jg(n)),
    horusOfThree: div(rate(n), rate(3)),
    jgroupsOfThree: div(jg(n), jg(3)),
  }));
}

export function formatScaleTable(rows: readonly ScaleRow[]): string {
  const fmt = (x: number | null): string => (x === null ? '_' : String(x));
  return [
    '| members, fbcast 100 B per-member delivered msgs/s | Horus | JGroups FIFO | Horus / JGroups | Horus n / 3 | JGroups n / 3 |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.members} | ${fmt(r.horus)} | ${fmt(r.jgroups)} | ${r.ratio === null ? '_' : `${r.ratio}×`} | ${fmt(r.horusOfThree)} | ${fmt(r.jgroupsOfThree)} |`,
    ),
  ].join('\n');
}
