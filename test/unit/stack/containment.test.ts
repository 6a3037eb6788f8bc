import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { every, type Timer } from '../../../src/core/env.js';
import { HorusError } from '../../../src/core/errors.js';
import type { HistoryEvent } from '../../../src/core/history.js';
import type { Message } from '../../../src/core/message.js';
import { nodeOfMember } from '../../../src/core/member-id.js';
import { endpointOf } from '../../../src/core/node-id.js';
import { Layer, type LayerContext } from '../../../src/stack/layer.js';
import { registerLayer } from '../../../src/stack/registry.js';
import type { StackSpec } from '../../../src/stack/stack.js';
import type { Delivery } from '../../../src/api/delivery.js';
import { SimCluster, FAST_STACK } from '../../helpers/sim-cluster.js';
import { simGroup } from '../../helpers/sim-group.js';
import '../../../src/layers/index.js';

/** What the test asks the bomb to do: throw once, at this site, on the member of this node. */
const arm: { site: 'timer' | 'frame' | null; node: string | null } = { site: null, node: null };

/** A test-only layer that throws when armed, from its timer or on a frame coming up. */
class BOMB extends Layer {
  readonly name = 'BOMB';
  private timer: Timer | null = null;
  constructor(ctx: LayerContext) {
    super(ctx);
  }
  private armedHere(site: 'timer' | 'frame'): boolean {
    if (arm.site !== site || arm.node === null || endpointOf(nodeOfMember(this.ctx.localId)) !== endpointOf(arm.node)) return false;
    arm.site = null;
    return true;
  }
  override start(): void {
    this.timer = every(this.env, 20, () => {
      if (this.armedHere('timer')) throw new Error('boom in a timer');
    });
  }
  override stop(): void {
    this.timer?.cancel();
  }
  override up(msg: Message): void {
    if (msg.src !== this.ctx.localId && this.armedHere('frame')) throw new TypeError('boom on a frame');
    this.above.up(msg);
  }
}
registerLayer({ name: 'BOMB', provides: [], requires: [], options: z.object({}), create: (ctx) => new BOMB(ctx) });

const BOMB_STACK: StackSpec = ['BOMB', ...(FAST_STACK as readonly string[])];

function faults(c: SimCluster): Extract<HistoryEvent, { k: 'fault' }>[] {
  return c.history.events.filter((e): e is Extract<HistoryEvent, { k: 'fault' }> => e.k === 'fault');
}

/**
 * Three nodes in a healthy group and a faulty one; b's faulty stack throws at `site`. (Three: the
 * dead member's old membership is removed by a majority that does not need its answer.)
 */
async function faultScenario(site: 'timer' | 'frame') {
  const c = new SimCluster(7);
  const a = c.start('a:1');
  const b = c.start('b:1');
  const cc = c.start('c:1');
  const healthyA = a.joinNow('healthy', { contacts: [], stack: FAST_STACK });
  const faultyA = a.joinNow('faulty', { contacts: [], stack: BOMB_STACK });
  c.run(200);
  const healthyB = b.joinNow('healthy', { contacts: ['a:1'], stack: FAST_STACK });
  const faultyB = b.joinNow('faulty', { contacts: ['a:1'], stack: BOMB_STACK });
  const healthyC = cc.joinNow('healthy', { contacts: ['a:1'], stack: FAST_STACK });
  const faultyC = cc.joinNow('faulty', { contacts: ['a:1'], stack: BOMB_STACK });
  await c.settle(Promise.all([healthyB.ready, faultyB.ready, healthyC.ready, faultyC.ready]));
  c.run(1000);
  assert.equal(faultyB.view.members.length, 3);
  assert.equal(healthyB.view.members.length, 3);
  const firstId = faultyB.localId;
  const errors: HorusError[] = [];
  faultyB.on('error', (e: HorusError) => errors.push(e));
  const got: unknown[] = [];
  healthyB.on('message', (d: Delivery) => got.push(d.payload));

  arm.site = site;
  arm.node = b.id;
  // Keep the healthy group busy across the fault.
  for (let i = 0; i < 20; i++) {
    void healthyA.fbcast({ i });
    c.run(50);
    if (site === 'frame' && i === 2) void faultyA.fbcast('trigger');
  }
  c.run(4000);
  return { c, faultyA, faultyB, firstId, errors, got };
}

describe('containment: a stack that throws fails alone', () => {
  for (const site of ['timer', 'frame'] as const) {
    it(`a layer throwing in a ${site}: the node keeps serving its other group, the faulty member rejoins, the fault is recorded and reported`, async () => {
      const { c, faultyA, faultyB, firstId, errors, got } = await faultScenario(site);
      assert.equal(arm.site, null, 'the bomb went off');
      const f = faults(c);
      assert.equal(f.length, 1, 'one fault recorded');
      assert.equal(f[0]!.group, 'faulty');
      assert.equal(f[0]!.node, firstId);
      assert.match(f[0]!.error, site === 'timer' ? /timer: boom in a timer/ : /boom on a frame/);
      assert.equal(errors.length, 1, 'the application heard of it');
      assert.equal(errors[0]!.code, 'ERR_INTERNAL');
      assert.deepEqual(
        got,
        Array.from({ length: 20 }, (_, i) => ({ i })),
        'the healthy group delivered everything',
      );
      assert.notEqual(faultyB.localId, firstId, 'rejoined as a new member');
      assert.deepEqual(faultyB.view.members.length, 3);
      assert.ok(faultyB.view.members.includes(faultyB.localId));
      assert.deepEqual(faultyA.view.members, faultyB.view.members);
      // And the rejoined member works.
      const after: unknown[] = [];
      faultyA.on('message', (d: Delivery) => after.push(d.payload));
      void faultyB.fbcast('after the fault');
      c.run(300);
      assert.deepEqual(after, ['after the fault']);
    });
  }

  it('a fault with no error listener is logged, not thrown (an unlistened EventEmitter error would kill the process)', async () => {
    const c = new SimCluster(8);
    const a = c.start('a:1');
    const g = a.joinNow('solo', { contacts: [], stack: BOMB_STACK });
    await c.settle(g.ready);
    const first = g.localId;
    arm.site = 'timer';
    arm.node = a.id;
    c.run(1000);
    assert.equal(faults(c).length, 1);
    assert.notEqual(g.localId, first);
    assert.deepEqual(g.view.members, [g.localId]);
  });

  it('a fixed group whose stack throws is closed with the error; the node stays up', async () => {
    const s = simGroup(2, ['BOMB', 'NAK', 'COM']);
    const errors: HorusError[] = [];
    let left = false;
    s.groups[1]!.on('error', (e: HorusError) => errors.push(e));
    s.groups[1]!.on('left', () => (left = true));
    arm.site = 'timer';
    arm.node = s.nodes[1]!.id;
    s.world.runFor(200);
    assert.equal(errors[0]?.code, 'ERR_INTERNAL');
    assert.ok(left);
    await assert.rejects(s.groups[1]!.fbcast('x'), { code: 'ERR_CLOSED' });
    void s.groups[0]!.fbcast('still here');
    s.world.runFor(200);
    assert.deepEqual(
      s.delivered[0]!.map((d) => d.payload),
      ['still here'],
    );
  });
});

describe('containment: application listeners that throw', () => {
  it('a message, view or blocked listener that throws breaks neither the stack nor delivery', async () => {
    const c = new SimCluster(9);
    const a = c.start('a:1');
    const b = c.start('b:1');
    const ga = a.joinNow('g', { contacts: [], stack: FAST_STACK });
    c.run(100);
    const gb = b.joinNow('g', { contacts: ['a:1'], stack: FAST_STACK });
    const errors: HorusError[] = [];
    gb.on('error', (e: HorusError) => errors.push(e));
    gb.on('view', () => {
      throw new Error('view listener bug');
    });
    gb.on('message', () => {
      throw new Error('message listener bug');
    });
    await c.settle(gb.ready);
    const got: unknown[] = [];
    gb.on('message', (d: Delivery) => got.push(d.payload));
    for (let i = 0; i < 5; i++) void ga.fbcast(i);
    c.run(500);
    assert.deepEqual(faults(c), [], 'no stack fault');
    assert.ok(errors.some((e) => /view listener threw/.test(e.message)));
    // The first listener throws for every message: each is reported, and the stack goes on.
    assert.equal(errors.filter((e) => /message listener threw/.test(e.message)).length, 5);
    assert.equal(gb.view.members.length, 2);
    // An emitter stops at the listener that threw, so the recording listener after it saw nothing:
    assert.deepEqual(got, []);
  });
});
