// Three real node processes on loopback, 100,000 fbcasts each: everything reaches everyone, in FIFO
// order, once, unaltered, and memory stays bounded while STABLE frees NAK's buffers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, percentile } from '../helpers/cluster.js';
import type { Summary } from '../helpers/member-process.js';

const MEMBERS = 3;
const PER_SENDER = 100_000;
const SIZE = 100;
const MiB = 1024 * 1024;
/** RSS a member may gain over its idle footprint (the FC window is 4 MiB per sender; this is generous). */
const MAX_RSS_GROWTH = 300 * MiB;
/** What NAK may still hold once everyone has delivered everything and STABLE has gossiped. */
const MAX_FINAL_NAK_BYTES = 64 * 1024;

/** Polls summaries until NAK has released its retransmission buffers (STABLE gossips every 50 ms). */
async function settledSummaries(cluster: Cluster, timeoutMs: number): Promise<Summary[]> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const s = await cluster.summaries();
    if (s.every((x) => x.nakBufferedBytes <= MAX_FINAL_NAK_BYTES) || performance.now() > until) return s;
    await sleep(100);
  }
}

describe('fbcast across real processes', () => {
  it(`${MEMBERS} members x ${PER_SENDER} messages of ${SIZE} B: all delivered, FIFO, no duplicates, bounded memory`, { timeout: 120_000 }, async (t) => {
    const t0 = performance.now();
    const cluster = await Cluster.start({ size: MEMBERS, verify: true, sampleEvery: 500 });
    try {
      const started = performance.now();
      const idleRss = (await cluster.summaries()).map((s) => s.rss);
      const run = await cluster.phase({ count: PER_SENDER, size: SIZE, timeoutMs: 90_000 });
      const summaries = await settledSummaries(cluster, 5_000);

      const sentHash = new Map(summaries.map((s) => [s.memberId, s.sentHash]));
      for (const s of summaries) {
        assert.deepEqual(s.violations, [], `${s.endpoint} saw violations`);
        assert.equal(s.sent, PER_SENDER);
        assert.equal(s.delivered, PER_SENDER * MEMBERS, `${s.endpoint} delivered ${s.delivered}`);
        assert.deepEqual(s.senders.map((x) => x.src).sort(), [...cluster.memberIds].sort(), `${s.endpoint} heard from exactly the members`);
        for (const x of s.senders) {
          assert.equal(x.count, PER_SENDER, `${s.endpoint} from ${x.src}: count`);
          assert.equal(x.lastId, PER_SENDER, `${s.endpoint} from ${x.src}: last id`);
          assert.equal(x.gaps + x.duplicates + x.corrupt, 0, `${s.endpoint} from ${x.src}: gaps/duplicates/corrupt`);
          // Same bytes in the same order as the sender sent them.
          assert.equal(x.hash, sentHash.get(x.src), `${s.endpoint} from ${x.src}: payload hash`);
        }
        assert.ok(s.nakBufferedBytes <= MAX_FINAL_NAK_BYTES, `${s.endpoint} NAK still holds ${s.nakBufferedBytes} bytes after the run`);
      }

      const peakRss = cluster.members.map((m, i) => Math.max(summaries[i]!.rss, ...m.stats.map((x) => x.rss)));
      cluster.members.forEach((m, i) => {
        const growth = peakRss[i]! - idleRss[i]!;
        assert.ok(growth < MAX_RSS_GROWTH, `${m.endpoint} RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
      });

      const rates = run.reached.map((r) => Math.round((r.delivered / r.elapsedMs) * 1000));
      const lat = summaries.flatMap((s) => s.phase.latencyMs);
      t.diagnostic(
        `traffic ${(run.wallMs / 1000).toFixed(1)} s, whole test ${((performance.now() - t0) / 1000).toFixed(1)} s (start ${((started - t0) / 1000).toFixed(1)} s)`,
      );
      t.diagnostic(
        `delivered msgs/s per member ${rates.join(', ')}; latency p50 ${percentile(lat, 50).toFixed(1)} ms p99 ${percentile(lat, 99).toFixed(1)} ms`,
      );
      t.diagnostic(`RSS idle/peak MiB ${idleRss.map((r, i) => `${(r / MiB).toFixed(0)}/${(peakRss[i]! / MiB).toFixed(0)}`).join(', ')}`);
    } finally {
      await cluster.close();
    }
  });
});
