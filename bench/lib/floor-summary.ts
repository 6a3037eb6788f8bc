// The host-floor probe's JSON (bench/micro/host-floor.ts) as a few lines for a sitting's summary.
import type { HostFloor } from '../micro/host-floor.js';
import { median } from './stats.js';

export function formatHostFloor(f: HostFloor): string[] {
  const out: string[] = [];
  if (f.mesh) {
    for (const l of f.mesh.loads) {
      const waits = l.waitMsPerSec.filter((w): w is number => w !== null);
      out.push(
        `mesh of ${f.mesh.members}, ${f.mesh.size} B, at ${l.fraction} of its ${f.mesh.saturatedPerMember} msgs/s: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms` +
          (waits.length > 0 ? `; run-queue wait ${Math.min(...waits)}-${Math.max(...waits)} ms/s per process` : ''),
      );
    }
  }
  if (f.state) {
    const mib = Math.round(f.state.bytes / 1024 / 1024);
    out.push(
      `${mib} MiB from another process, first run / median: copied into one fresh buffer ${f.state.copyIntoFreshMBps[0]} / ${median(f.state.copyIntoFreshMBps)} MB/s, reads kept ${f.state.keepReadsMBps[0]} / ${median(f.state.keepReadsMBps)} MB/s`,
    );
  }
  if (f.memory) out.push(`fresh memory: first touch ${f.memory.firstTouchMsPerMB} ms/MB, second ${f.memory.secondTouchMsPerMB} ms/MB`);
  return out;
}
