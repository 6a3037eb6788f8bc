// A frame's deliveries reach the 'message' listeners in one loop (Group.upBatch, no emit per
// delivery): these check that listeners still see what `emit` per message would give them when
// they are added, removed or throw in the middle of a batch.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../src/api/node.js';
import type { Delivery } from '../../../src/api/delivery.js';
import type { Group } from '../../../src/api/group.js';
import type { HorusError } from '../../../src/core/errors.js';
import { SimWorld } from '../../../src/sim/sim-world.js';

const BURST = 20;

/** Two members of a fixed group; member 1 casts BURST messages in one turn, so member 2 gets them in one frame. */
function pair(seed: number): { world: SimWorld; sender: Group; receiver: Group; burst: () => void } {
  const world = new SimWorld(seed, { delayMs: 0.05 });
  const endpoints = ['m1:1', 'm2:1'];
  const nodes = endpoints.map((e) => new HorusNode(world.addNode(e, '1').env));
  const [sender, receiver] = nodes.map((n) => n.joinNow('g', { members: endpoints })) as [Group, Group];
  world.runFor(10);
  const burst = (): void => {
    for (let i = 0; i < BURST; i++) void sender.fbcast(Buffer.from([i]));
    world.runFor(5);
  };
  return { world, sender, receiver, burst };
}

const ids = (ds: Delivery[]): number[] => ds.map((d) => d.raw[0]!);

describe("a batch's deliveries reach 'message' listeners as emit per message would", () => {
  it('every listener hears every message of the frame, in order, with the group as this', () => {
    const { receiver, burst } = pair(1);
    const a: Delivery[] = [];
    const b: Delivery[] = [];
    const selves: boolean[] = [];
    receiver.on('message', function (this: unknown, d: Delivery) {
      selves.push(this === receiver);
      a.push(d);
    });
    receiver.on('message', (d) => b.push(d));
    const before = receiver.delivered;
    burst();
    assert.equal(receiver.delivered - before, BURST, 'the burst was delivered');
    assert.deepEqual(ids(a), [...Array(BURST).keys()]);
    assert.deepEqual(ids(b), ids(a));
    assert.ok(selves.length === BURST && selves.every(Boolean), 'this is the group');
  });

  it('a listener removed by another in the middle of a batch hears nothing after that message; one added hears the rest', () => {
    const { receiver, burst } = pair(2);
    const late: number[] = [];
    const removed: number[] = [];
    const lateListener = (d: Delivery): void => void late.push(d.raw[0]!);
    const removedListener = (d: Delivery): void => void removed.push(d.raw[0]!);
    receiver.on('message', (d: Delivery) => {
      if (d.raw[0] === 5) {
        receiver.off('message', removedListener);
        receiver.on('message', lateListener);
      }
    });
    receiver.on('message', removedListener);
    burst();
    // As with emit, which takes its listeners as they are when a message starts: the one removed
    // during message 5 still hears 5, the one added during 5 hears from 6 on.
    assert.deepEqual(removed, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(late, [...Array(BURST).keys()].slice(6));
  });

  it('a once listener hears one message; a throwing listener is reported and skips only the listeners after it, for that message', () => {
    const { receiver, burst } = pair(3);
    const once: number[] = [];
    const after: number[] = [];
    const errors: HorusError[] = [];
    receiver.on('error', (e) => errors.push(e));
    receiver.once('message', (d: Delivery) => void once.push(d.raw[0]!));
    receiver.on('message', (d: Delivery) => {
      if (d.raw[0] === 3) throw new Error('boom');
    });
    receiver.on('message', (d: Delivery) => void after.push(d.raw[0]!));
    burst();
    assert.deepEqual(once, [0]);
    assert.equal(receiver.listenerCount('message'), 2);
    assert.deepEqual(
      after,
      [...Array(BURST).keys()].filter((i) => i !== 3),
    );
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'ERR_INVALID_ARGUMENT');
    assert.match(errors[0]!.message, /message listener threw: boom/);
  });
});
