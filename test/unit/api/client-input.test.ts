// Hostile client frames reach a member node: each is dropped and counted, nothing is applied, and a
// real client is still served.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCluster } from '../../helpers/tools-cluster.js';
import { ReplicatedService } from '../../../src/tools/replicated-service.js';
import { FRAME_KIND_CLIENT } from '../../../src/api/client.js';
import { pack } from '../../../src/codec/payload.js';

describe('client frames from the network', () => {
  it('malformed, oversized, unsolicited or misaddressed client frames are dropped and counted; real clients are served', async () => {
    const c = new ToolCluster(71);
    let applied = 0;
    const services: ReplicatedService[] = [];
    for (let i = 0; i < 3; i++) {
      const s = new ReplicatedService({ apply: () => ++applied, snapshot: () => 0, restore: () => {} });
      s.attach(c.add(`t${i + 1}:1`, s.state));
      services.push(s);
      c.run(200);
    }
    c.run(1500);
    const evil = c.world.addNode('evil:1', '1');
    const frame = (v: unknown): Buffer => Buffer.concat([Buffer.of(FRAME_KIND_CLIENT), pack(v)]);
    const target = 't1:1';
    const hostile: Buffer[] = [
      Buffer.of(FRAME_KIND_CLIENT, 0xc1, 0xff), // does not unpack
      frame({ t: 'req', group: 'tools' }), // no id, no payload
      frame({ t: 'req', group: 'tools', id: -1, acked: 0, e: 1, p: Buffer.alloc(1) }), // bad id
      frame({ t: 'req', group: 'tools', id: 1, acked: 0, e: 7, p: Buffer.alloc(1) }), // bad encoding
      frame({ t: 'rep', group: 'tools', id: 1, ok: true, e: 1, p: pack(1) }), // a reply nobody asked for
      frame({ t: 'req', group: 'x'.repeat(10_000), id: 1, acked: 0, e: 1, p: pack(1) }), // a name too long
      Buffer.concat([Buffer.of(FRAME_KIND_CLIENT), Buffer.alloc(2 * 1024 * 1024)]), // over maxFrameBytes
    ];
    for (const f of hostile) evil.env.transport.send(target, f);
    // A well-formed request for a group this node is not in is answered with ERR_NOT_MEMBER, not applied.
    evil.env.transport.send(target, frame({ t: 'req', group: 'other', id: 1, acked: 0, e: 1, p: pack('inc') }));
    c.run(500);
    const dropped = c.nodes.get(target)!.metrics.snapshot().counters['horus_client_dropped_total'] ?? 0;
    assert.ok(dropped >= hostile.length - 1, `dropped ${dropped}`);
    assert.equal(applied, 0, 'nothing hostile was applied');
    const clientNode = c.start('client:1', ['t1:1']);
    const client = await c.settle(clientNode.client('tools'));
    await c.settle(client.request('inc'));
    c.run(300);
    assert.equal(applied, 3, 'the real request was applied once at each of the three replicas');
  });
});
