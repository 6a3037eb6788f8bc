// Horus and its peers side by side, one after the other (never overlapping: two benchmarks on two
// cores halve each other), then issue 10's table of ratios:
//
//   npx tsx bench/peers.ts [--peers DIR] [--out DIR] [--only floor,mesh,jgroups,corosync,horus] [--horus FILE] [--scale F]
//                          [--members 5,9] [--horus-timing peers|counts]
//
// --peers: the peer benchmarks (default ../shared/peers beside this repository); --out: where each
// one's output goes (default test-results/peers-TIME); --horus FILE: a saved Horus run instead of
// running the bench; --scale: Horus's --scale; --members: also the raw mesh, JGroups FIFO and Horus
// fbcast at these group sizes (100 B), and the table of how each scales from 3 members. Corosync needs root; JGroups a JDK and libjgroups-java.
// Horus's throughput cases get what JGroups' bench gets (--horus-timing peers, the default): the
// machine idle first, then WARM_MS of warm-up and DUR_MS measured (the JGroups script's knobs, 20 s and
// 8 s unless set); --horus-timing counts runs the cases' own counts instead (a second or two each).
// The floor step runs first: the host's own floors (bench/micro/host-floor.ts: latency at half load,
// a 100 MiB state kept in fresh memory, first-touch cost), printed beside the ratios.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CASES } from './cases.js';
import { formatHostFloor } from './lib/floor-summary.js';
import { loadRun } from './lib/compare.js';
import type { HostFloor } from './micro/host-floor.js';
import { jgroupsScriptForMembers } from './lib/jgroups-members.js';
import { formatRatioTable, formatScaleTable, parsePeerOutput, ratioTable, scaleTable, withMembers, type PeerFigure } from './lib/peers.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const HORUS_CASES = 'fbcast-3-100B,fbcast-3-1KiB,abcast-3-100B,abcast-3-1KiB,rtt';
const STEPS = ['floor', 'mesh', 'jgroups', 'corosync', 'horus'] as const;
type Step = (typeof STEPS)[number];

interface Args {
  peers: string;
  out: string;
  only: Set<Step>;
  horus: string | null;
  scale: string;
  /** Group sizes besides 3 for the scaling table (fbcast 100 B). */
  members: number[];
  /** peers: Horus's throughput phases last what JGroups' do; counts: the cases' own counts. */
  horusTiming: 'peers' | 'counts';
}

const USAGE = `usage: npx tsx bench/peers.ts [options]   (npm run bench:peers -- [options])
  --peers DIR        the peer benchmarks (default ../shared/peers beside this repository)
  --out DIR          where each step's output goes (default test-results/peers-TIME)
  --only STEPS       some of floor,mesh,jgroups,corosync,horus (default all, one after the other)
  --horus FILE       a saved Horus run instead of running the bench
  --scale F          Horus's --scale
  --members N,M      also the raw mesh, JGroups FIFO and Horus fbcast at these group sizes (100 B)
  --horus-timing T   peers (default): Horus warms up WARM_MS and measures DUR_MS, as JGroups does; counts: the cases' counts
  --help             this text`;

/** A bad command line: said in one line with the usage, not as a stack trace. */
class UsageError extends Error {
  readonly code = 'ERR_INVALID_ARGUMENT';
}

function parse(argv: readonly string[]): Args {
  const a = {
    peers: resolve(ROOT, '..', 'shared', 'peers'),
    out: join(ROOT, 'test-results', `peers-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    only: new Set<Step>(STEPS),
    horus: null as string | null,
    scale: '1',
    members: [] as number[],
    horusTiming: 'peers' as 'peers' | 'counts',
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`${f} needs a value`);
    if (f === '--peers') a.peers = resolve(v);
    else if (f === '--out') a.out = resolve(v);
    else if (f === '--horus') a.horus = resolve(v);
    else if (f === '--scale') a.scale = v;
    else if (f === '--horus-timing') {
      if (v !== 'peers' && v !== 'counts') throw new UsageError(`--horus-timing: peers or counts, not ${v}`);
      a.horusTiming = v;
    } else if (f === '--members') {
      a.members = v.split(',').map((x) => {
        const n = Number(x);
        const sizes = CASES.filter((c) => c.kind === 'throughput' && c.op === 'fbcast' && c.size === 100 && c.members !== 3).map((c) => c.members);
        if (!sizes.includes(n)) throw new UsageError(`--members: no fbcast-${x}-100B case in bench/cases.ts (sizes: ${sizes.join(', ')})`);
        return n;
      });
    } else if (f === '--only') {
      const steps = v.split(',');
      for (const s of steps) if (!(STEPS as readonly string[]).includes(s)) throw new UsageError(`--only: unknown step ${s} (${STEPS.join(', ')})`);
      a.only = new Set(steps as Step[]);
    } else throw new UsageError(`unknown argument ${f}`);
  }
  return a;
}

/** Runs one command to its end, its output to `log` and our stderr; resolves with its stdout. */
function runLogged(
  cmd: string,
  args: readonly string[],
  log: string,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string }> {
  process.stderr.write(`peers: ${cmd} ${args.join(' ')} (load ${os.loadavg()[0]!.toFixed(2)}) -> ${log}\n`);
  const file = createWriteStream(log);
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
    file.write(b);
    process.stderr.write(b);
  });
  child.stderr.on('data', (b: Buffer) => {
    file.write(b);
    process.stderr.write(b);
  });
  // Interrupted: stop the running step (the peer scripts clean up what they started on SIGTERM/exit).
  const stop = (): void => {
    child.kill('SIGTERM');
  };
  process.once('SIGINT', stop);
  return new Promise((res, rej) => {
    child.once('error', rej);
    child.once('close', (code) => {
      process.off('SIGINT', stop);
      file.end();
      res({ code: code ?? 1, stdout });
    });
  });
}

/** One of the JGroups script's time knobs (ms), from the environment as that script reads it. */
function peerMs(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const ms = Number(v);
  if (!Number.isInteger(ms) || ms < 0 || ms > 600_000) throw new UsageError(`${name} must be whole ms in [0, 600000], not ${v}`);
  return ms;
}

/** The whole machine's busy share of its cores over `ms` (from /proc/stat; 0 where there is none). */
async function machineBusy(ms: number): Promise<number> {
  const read = (): number[] | null => {
    try {
      return readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (a === null || b === null) return 0;
  const d = b.map((x, i) => x - (a[i] ?? 0));
  const total = d.reduce((x, y) => x + y, 0);
  const idle = (d[3] ?? 0) + (d[4] ?? 0);
  return total > 0 ? (total - idle) / total : 0;
}

/** As the JGroups script does before each run: wait (up to 240 s) until the machine is idle (under 0.15 busy over 2 s). */
async function waitIdle(): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const busy = await machineBusy(2000);
    if (busy < 0.15) {
      process.stderr.write(`peers: machine idle check: busy=${busy.toFixed(2)} OK\n`);
      return;
    }
    if (performance.now() - t0 > 240_000) {
      process.stderr.write(`peers: WARNING: machine still busy (${busy.toFixed(2)}) after 240 s; running anyway (results contended)\n`);
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  // Without this a missing folder surfaced as "spawn node ENOENT" (the steps run in it).
  if ((a.only.has('mesh') || a.only.has('jgroups') || a.only.has('corosync')) && !existsSync(join(a.peers, 'limit', 'mesh.mjs')))
    throw new UsageError(`--peers: no peer benchmarks in ${a.peers} (limit/mesh.mjs is missing): give their folder with --peers DIR`);
  mkdirSync(a.out, { recursive: true });
  const figures: PeerFigure[] = [];
  const take = (text: string): void => {
    figures.push(...parsePeerOutput(text));
  };
  let floor: string[] = [];
  if (a.only.has('floor')) {
    await waitIdle();
    const r = await runLogged(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench', 'micro', 'host-floor.ts'), '--size', '100', '--fractions', '0.5'],
      join(a.out, 'floor.log'),
      ROOT,
    );
    if (r.code === 0) {
      writeFileSync(join(a.out, 'floor.json'), r.stdout);
      floor = formatHostFloor(JSON.parse(r.stdout) as HostFloor);
    } else process.stderr.write(`peers: the host-floor probe exited with ${r.code}\n`);
  }
  if (a.only.has('mesh')) {
    const mesh = join(a.peers, 'limit', 'mesh.mjs');
    for (const size of ['100', '1000']) take((await runLogged(process.execPath, [mesh, '3', size, '5'], join(a.out, `mesh-${size}.log`), a.peers)).stdout);
  }
  if (a.only.has('jgroups')) take((await runLogged('bash', [join(a.peers, 'jgroups', 'run.sh')], join(a.out, 'jgroups.log'), a.peers)).stdout);
  for (const n of a.members) {
    if (a.only.has('mesh'))
      take((await runLogged(process.execPath, [join(a.peers, 'limit', 'mesh.mjs'), String(n), '100', '5'], join(a.out, `mesh-${n}x100.log`), a.peers)).stdout);
    if (a.only.has('jgroups')) {
      const script = join(a.out, 'jgroups-members.sh');
      writeFileSync(script, jgroupsScriptForMembers(readFileSync(join(a.peers, 'jgroups', 'run.sh'), 'utf8')));
      // More JVMs start and warm up more slowly on 2 cores: a longer hard deadline (it only ends a hung run).
      const env = { BENCH_DEADLINE_MS: '120000', ...process.env, MEMBERS: String(n), MODES: 'fifo', JGROUPS_PEER_DIR: join(a.peers, 'jgroups') };
      figures.push(...withMembers(n, parsePeerOutput((await runLogged('bash', [script], join(a.out, `jgroups-${n}.log`), a.peers, env)).stdout)));
    }
  }
  if (a.only.has('corosync')) {
    if (process.getuid?.() !== 0) process.stderr.write('peers: corosync skipped (needs root)\n');
    else take((await runLogged('bash', [join(a.peers, 'corosync', 'run.sh')], join(a.out, 'corosync.log'), a.peers)).stdout);
  }
  let horusFile = a.horus;
  if (horusFile === null && a.only.has('horus')) {
    horusFile = join(a.out, 'horus.json');
    await waitIdle();
    const r = await runLogged(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench', 'run.ts'),
        '--filter',
        [HORUS_CASES, ...a.members.map((n) => `fbcast-${n}-100B`)].join(','),
        '--scale',
        a.scale,
        ...(a.horusTiming === 'peers'
          ? ['--warmup-seconds', String(peerMs('WARM_MS', 20_000) / 1000), '--measure-seconds', String(peerMs('DUR_MS', 8000) / 1000)]
          : []),
        '--out',
        horusFile,
      ],
      join(a.out, 'horus.log'),
      ROOT,
    );
    if (r.code !== 0) process.stderr.write(`peers: the Horus bench exited with ${r.code}\n`);
  }
  const horus = horusFile !== null && existsSync(horusFile) ? loadRun(horusFile).results : [];
  const rows = ratioTable(horus, figures);
  const scaling = a.members.length > 0 ? scaleTable(horus, figures, a.members) : [];
  writeFileSync(join(a.out, 'peers.json'), JSON.stringify({ figures, ratios: rows, scaling, horus: horusFile }, null, 2) + '\n');
  const rtt = horus.filter((r) => r.kind === 'round-trip').map((r) => (r.kind === 'round-trip' ? `${r.id} p50 ${r.p50Ms} ms` : ''));
  process.stdout.write(
    [
      formatRatioTable(rows),
      '',
      ...(scaling.length > 0 ? [formatScaleTable(scaling), ''] : []),
      'peer figures:',
      ...figures.map((f) => `  ${f.peer} ${f.what}: ${f.value} ${f.unit}`),
      'Horus round trips:',
      ...rtt.map((x) => `  ${x}`),
      ...(floor.length > 0 ? ['host floors (plain Node, no protocol):', ...floor.map((x) => `  ${x}`)] : []),
      `(outputs in ${a.out}; 1-minute load now ${os.loadavg()[0]!.toFixed(2)})`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`peers: ${err.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`peers failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
