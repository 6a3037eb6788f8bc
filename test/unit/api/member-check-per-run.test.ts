// The group asks its member set once per run of one sender's messages (a frame's): a stranger's
// message between two members' is still dropped, and a member that left the view is no longer
// taken for one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../src/api/node.js';
import type { Group } from '../../../src/api/group.js';
import { APP_HEADER, plainAppHeader, PayloadEncoding } from '../../../src/api/app-header.js';
import { Message, OrderCode } from '../../../src/core/message.js';
import { SimWorld } from '../../../src/sim/sim-world.js';

function appMessage(src: string, id: number): Message {
  const m = new Message(null, Buffer.from([id]));
  m.src = src;
  m.push(APP_HEADER, plainAppHeader(OrderCode.Fifo, PayloadEncoding.Bytes, id));
  return m;
}

describe('application messages are checked against the view once per run of a sender', () => {
  it('drops a stranger between two runs of a member, and a former member after a view change', () => {
    const world = new SimWorld(1, { delayMs: 0.05 });
    const endpoints = ['m1:1', 'm2:1'];
    const nodes = endpoints.map((e) => new HorusNode(world.addNode(e, '1').env));
    const [g] = nodes.map((n) => n.joinNow('g', { members: endpoints })) as [Group, Group];
    world.runFor(10);
    const member = g.view.members.find((m) => m !== g.localId)!;
    const got: number[] = [];
    g.on('message', (d) => got.push(d.raw[0]!));
    g.upBatch([appMessage(member, 1), appMessage(member, 2), appMessage('x:1', 3), appMessage(member, 4)]);
    assert.deepEqual(got, [1, 2, 4], "the stranger's message is dropped, the member's around it delivered");
    g.installView({ group: 'g', id: g.view.id + 1, members: [g.localId] });
    g.upBatch([appMessage(member, 5)]);
    assert.deepEqual(got, [1, 2, 4], 'a member that left is no longer one');
  });
});
