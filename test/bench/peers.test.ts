// Reading the peer benchmarks' summary lines and setting Horus against them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { formatRatioTable, formatScaleTable, parsePeerOutput, ratioTable, scaleTable, withMembers } from '../../bench/lib/peers.js';
import type { ThroughputResult } from '../../bench/lib/results.js';

const OUTPUT = `
raw-node-mesh n=3 100B: 1500000 frames/s delivered per member (median of members)
JGroups 2.12.2, openjdk version "17", 2 cores
--- run 1/1 mode=fifo tput
jgroups fifo 100B: 448000 msgs/s per member (members min 440000 max 450000; 3 members; ...)
jgroups fifo 1000B: 207000 msgs/s per member (...)
jgroups total 100B: 150000 msgs/s per member (...)
jgroups fifo lat_nobundle 100B: p50 600 us, p99 900 us, mean 650 us (multicast to 3 members ...)
corosync 3node agreed 100B: 15500 msgs/s (median of 3 receivers; self-delivery p50 300 us, p99 900 us under load; ok; ends 3)
corosync 3node rtt 100B 1-pinger: p50 390 us, p99 760 us, mean 420 us (median over 1 pingers; ok)
something else entirely
`;

const tp = (id: string, rate: number, remote: number): ThroughputResult => ({
  kind: 'throughput',
  id,
  op: 'x',
  members: 3,
  size: 100,
  api: 'cast',
  messagesPerSender: 1,
  msgsPerSecPerMember: rate,
  remoteMsgsPerSecPerMember: remote,
  payloadMiBPerSecPerMember: 0,
  p50Ms: 0,
  p99Ms: 0,
  maxMs: 0,
  latencySamples: 0,
  durationS: 0,
  cpuSecPerMillionDeliveries: 0,
  peakRssMiB: 0,
  retransmissions: 0,
  fcBlockedTotal: 0,
  violations: 0,
});

describe('peer benchmark figures', () => {
  it('reads the mesh, JGroups and Corosync summary lines and skips the rest', () => {
    const f = new Map(parsePeerOutput(OUTPUT).map((x) => [`${x.peer} ${x.what}`, x.value]));
    assert.equal(f.get('mesh n3 100B'), 1_500_000);
    assert.equal(f.get('jgroups fifo 100B'), 448_000);
    assert.equal(f.get('jgroups fifo 1000B'), 207_000);
    assert.equal(f.get('jgroups total 100B'), 150_000);
    assert.equal(f.get('jgroups fifo lat_nobundle 100B p50'), 600);
    assert.equal(f.get('corosync 3node agreed 100B'), 15_500);
    assert.equal(f.get('corosync 3node rtt 100B 1-pinger p99'), 760);
    assert.equal(f.size, 9);
  });
  it('sets Horus against them: ratios where both sides ran, blanks elsewhere', () => {
    const rows = ratioTable([tp('fbcast-3-100B', 448_000, 300_000), tp('abcast-3-100B', 300_000, 200_000)], parsePeerOutput(OUTPUT));
    const by = new Map(rows.map((r) => [r.what.split(' /')[0] + ' / ' + r.what.split('/ ')[1], r]));
    assert.equal(by.get('fbcast 100 B / JGroups FIFO 100 B')!.ratio, 1);
    assert.equal(by.get('abcast 100 B / JGroups total order 100 B')!.ratio, 2);
    assert.equal(by.get('abcast 100 B / Corosync agreed 100 B (3 daemons, 1 process each)')!.ratio, 19.35, 'an older run\'s "3node" label');
    assert.equal(by.get('fbcast 100 B (others only) / raw Node TCP mesh 100 B')!.ratio, 0.2);
    assert.equal(by.get('fbcast 1 KiB / JGroups FIFO 1000 B')!.ratio, null, 'no Horus figure');
    assert.equal(by.get('abcast 1 KiB / JGroups total order 1000 B')!.peer, null, 'no peer figure');
    assert.match(formatRatioTable(rows), /^\| fbcast 100 B \/ JGroups FIFO 100 B \| 448000 \| 448000 \| 1× \| ≥ 1\.0 \|$/m);
  });
  it('shows both Corosync set-ups under the labels its run prints', () => {
    const corosync = [
      'corosync 1node-3procs agreed 100B: 28234 msgs/s (median of 3 receivers; ok)',
      'corosync 3node-1proc-each agreed 100B: 10556 msgs/s (median of 3 receivers; ok)',
    ].join('\n');
    const rows = ratioTable([tp('abcast-3-100B', 105_560, 0)], parsePeerOutput(corosync));
    const three = rows.find((r) => r.what.includes('3 daemons'));
    const one = rows.find((r) => r.what.includes('1 daemon,'));
    assert.equal(three?.peer, 10_556);
    assert.equal(three?.ratio, 10);
    assert.equal(one?.peer, 28_234);
    assert.equal(one?.ratio, 3.74);
    assert.doesNotMatch(
      formatRatioTable(rows)
        .split('\n')
        .filter((l) => l.includes('Corosync'))
        .join('\n'),
      /\| _ \|/,
    );
  });
  it('sets each group size against 3 members, for Horus and for JGroups run at that size', () => {
    const nine = withMembers(9, parsePeerOutput('jgroups fifo 100B: 100000 msgs/s per member (members min 1 max 2; 9 members; ...)'));
    assert.deepEqual(nine, [{ peer: 'jgroups', what: 'n9 fifo 100B', value: 100_000, unit: 'msgs/s' }]);
    const rows = scaleTable([tp('fbcast-3-100B', 900_000, 0), tp('fbcast-9-100B', 180_000, 0)], [...parsePeerOutput(OUTPUT), ...nine], [5, 9]);
    assert.deepEqual(
      rows.map((r) => [r.members, r.horus, r.jgroups, r.ratio, r.horusOfThree, r.jgroupsOfThree]),
      [
        [3, 900_000, 448_000, 2.009, 1, 1],
        [5, null, null, null, null, null],
        [9, 180_000, 100_000, 1.8, 0.2, 0.223],
      ],
    );
    assert.match(formatScaleTable(rows), /^\| 9 \| 180000 \| 100000 \| 1\.8× \| 0\.2 \| 0\.223 \|$/m);
  });
});

describe('bench/peers.ts command line', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const peers = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((res) => {
      execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'peers.ts'), ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) =>
        res({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
      );
    });

  it('--help prints the options and runs nothing', async () => {
    const r = await peers(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const opt of ['--peers', '--out', '--only', '--horus', '--scale', '--members', '--horus-timing'])
      assert.ok(r.stdout.includes(opt), `${opt} in ${r.stdout}`);
  });

  it('a bad argument is one clear line and the usage, exit 2, no stack trace', async () => {
    for (const args of [['--bogus', 'x'], ['--only', 'foo'], ['--out'], ['--peers', '/nonexistent/peers', '--only', 'mesh'], ['--horus-timing', 'fast']]) {
      const r = await peers(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^peers: .+\nusage: /, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
