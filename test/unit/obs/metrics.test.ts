// The node's metric registry: counters shared by every group, gauges one series per group.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryMetrics } from '../../../src/obs/metrics.js';
import { simGroup } from '../../helpers/sim-group.js';

describe('MemoryMetrics', () => {
  it("keeps each group's gauge apart: the snapshot sums them, Prometheus labels each with its group", () => {
    const m = new MemoryMetrics();
    const a = m.forGroup('a');
    const b = m.forGroup('b');
    a.gauge('horus_x_bytes', 'bytes held').set(100);
    b.gauge('horus_x_bytes', 'bytes held').set(20);
    a.counter('horus_y_total', 'things').inc(2);
    b.counter('horus_y_total', 'things').inc(3);
    a.gauge('horus_x_bytes', 'bytes held').set(40); // a rebuilt stack of group a: the same series
    assert.deepEqual(m.snapshot(), { counters: { horus_y_total: 5 }, gauges: { horus_x_bytes: 60 } });
    const text = m.toPrometheus({ node: 'n1' });
    assert.match(text, /^horus_y_total\{node="n1"\} 5$/m);
    assert.match(text, /^horus_x_bytes\{node="n1",group="a"\} 40$/m);
    assert.match(text, /^horus_x_bytes\{node="n1",group="b"\} 20$/m);
    assert.equal(text.match(/# TYPE horus_x_bytes gauge/g)?.length, 1, 'one family');
    m.forgetGroup('a');
    assert.equal(m.snapshot().gauges['horus_x_bytes'], 20, 'a group left: its level no longer counts');
    assert.doesNotMatch(m.toPrometheus(), /group="a"/);
  });

  it("a node in two groups reports each group's retransmission bytes, and drops a group's once it leaves", async () => {
    const s = simGroup(2, 'NAK:COM', { seed: 5 });
    const h = s.nodes.map((node) => node.joinNow('h', { stack: 'NAK:COM', members: s.endpoints }));
    for (let k = 0; k < 50; k++) void s.groups[0]!.fbcast(Buffer.alloc(100));
    for (let k = 0; k < 10; k++) void h[0]!.fbcast(Buffer.alloc(100));
    s.world.runFor(1000); // nothing is ever stable without STABLE: NAK keeps all it sent, and says so at its ticks
    const node = s.nodes[0]!;
    const series = (group: string): number =>
      Number(new RegExp(`^horus_nak_buffered_bytes\\{group="${group}"\\} (\\d+)$`, 'm').exec(node.metrics.toPrometheus())?.[1] ?? NaN);
    const [g, hb] = [series('g'), series('h')];
    assert.ok(g > hb && hb > 0, `g ${g} B, h ${hb} B`);
    assert.equal(node.metrics.snapshot().gauges['horus_nak_buffered_bytes'], g + hb, "the node's figure is both groups'");
    await h[0]!.leave();
    assert.ok(Number.isNaN(series('h')), 'no series for a group left');
    assert.equal(node.metrics.snapshot().gauges['horus_nak_buffered_bytes'], g);
  });
});
