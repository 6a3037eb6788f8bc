import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatHostFloor } from '../../bench/lib/floor-summary.js';
import type { HostFloor } from '../../bench/micro/host-floor.js';

describe('host-floor summary lines (bench/lib/floor-summary.ts)', () => {
  const floor: HostFloor = {
    machine: { cpus: 2, loadAvg1: 0.5, node: 'v20' },
    mesh: {
      members: 3,
      size: 100,
      saturatedPerMember: 1_600_000,
      loads: [
        {
          fraction: 0.5,
          offeredPerMember: 800_000,
          deliveredPerMember: [799_000, 799_500, 799_800],
          p50Ms: 0.13,
          p90Ms: 0.3,
          p99Ms: 4.9,
          maxMs: 17,
          samples: 60_000,
          runMsPerSec: [160, 170, 150],
          waitMsPerSec: [101, 74, 56],
        },
      ],
    },
    state: {
      bytes: 100 * 1024 * 1024,
      copyIntoFreshMBps: [137, 255, 284],
      keepReadsMBps: [281, 1633, 1833],
      copyCpuMsPerMB: [7.6, 4, 3.6],
      keepCpuMsPerMB: [3.9, 0.7, 0.6],
    },
    memory: { bytes: 100 * 1024 * 1024, firstTouchMsPerMB: 2.77, secondTouchMsPerMB: 0.09 },
  };

  it('gives the mesh tail with its run-queue waits, the state floors (first run and median) and first-touch memory', () => {
    assert.deepEqual(formatHostFloor(floor), [
      'mesh of 3, 100 B, at 0.5 of its 1600000 msgs/s: p50 0.13 ms, p99 4.9 ms, max 17 ms; run-queue wait 56-101 ms/s per process',
      '100 MiB from another process, first run / median: copied into one fresh buffer 137 / 255 MB/s, reads kept 281 / 1633 MB/s',
      'fresh memory: first touch 2.77 ms/MB, second 0.09 ms/MB',
    ]);
  });

  it('leaves out what was not measured, and waits where schedstat is missing', () => {
    const lines = formatHostFloor({
      machine: floor.machine,
      mesh: { ...floor.mesh!, loads: [{ ...floor.mesh!.loads[0]!, waitMsPerSec: [null, null, null] }] },
    });
    assert.deepEqual(lines, ['mesh of 3, 100 B, at 0.5 of its 1600000 msgs/s: p50 0.13 ms, p99 4.9 ms, max 17 ms']);
  });
});
