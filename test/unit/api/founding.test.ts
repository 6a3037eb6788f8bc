import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../src/api/node.js';
import { decodeDirectory, encodeDirectory, type DirectoryMessage } from '../../../src/api/directory.js';
import { MemoryHistory } from '../../../src/core/history.js';
import { SimWorld } from '../../../src/sim/sim-world.js';
import { FAST_STACK } from '../../helpers/sim-cluster.js';
import '../../../src/layers/index.js';

/** Node b:1 (seed: x:1) looking for group g; x:1 is a raw peer that answers by hand. */
function setup() {
  const world = new SimWorld(9);
  const history = new MemoryHistory();
  const node = new HorusNode(world.addNode('b:1', '1').env, history, ['x:1']);
  const x = world.addNode('x:1', '1');
  const got: DirectoryMessage[] = [];
  x.env.transport.onFrame((_from, f) => {
    const m = decodeDirectory(Buffer.from(f));
    if (m) got.push(m);
  });
  const send = (m: DirectoryMessage): void => x.env.transport.send('b:1/1', encodeDirectory(m));
  const lookups = (): Extract<DirectoryMessage, { t: 'lookup' }>[] => got.filter((m): m is Extract<DirectoryMessage, { t: 'lookup' }> => m.t === 'lookup');
  return { world, history, node, got, send, lookups };
}

async function step(world: SimWorld, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    world.runFor(10);
    await new Promise((r) => setImmediate(r));
  }
}

describe('founding: who founds a group nobody knows yet', () => {
  it('asks again while a seed does not answer, and says it would found the group', async () => {
    const s = setup();
    void s.node.join('g', { stack: FAST_STACK, lookupTimeoutMs: 1000, lookupRetryMs: 100 }).catch(() => {});
    await step(s.world, 450);
    assert.ok(s.lookups().length >= 4, `${s.lookups().length} asks`);
    assert.ok(s.lookups().every((m) => m.founding === true));
  });

  it('waits for a node with a smaller id that is looking too, then joins its group instead of founding one', async () => {
    const s = setup();
    const joined = s.node.join('g', { stack: FAST_STACK, lookupTimeoutMs: 1000, lookupRetryMs: 100 });
    joined.catch(() => {});
    // x says: nobody has the group yet, and a:1/1 (smaller than b:1/1) is about to found it.
    for (let i = 0; i < 15; i++) {
      await step(s.world, 100);
      const last = s.lookups().at(-1)!;
      s.send({ t: 'info', req: last.req, group: 'g', info: null, founding: 'a:1/1' });
    }
    // 1.5 s: past the lookup timeout, but the node still waits for a:1/1's group.
    assert.equal(s.node.group('g'), undefined);
    assert.deepEqual(
      s.history.events.filter((e) => e.k === 'view'),
      [],
    );
    const last = s.lookups().at(-1)!;
    s.send({ t: 'info', req: last.req, group: 'g', info: { group: 'g', viewId: 1, members: ['a:1/1'], live: true } });
    await step(s.world, 20);
    assert.ok(s.node.group('g'), 'joining the group a:1/1 founded');
    assert.deepEqual(s.node.group('g')!.blockedReasons, ['joining']);
  });

  it('founds the group after all when the expected founder never shows one (twice the lookup time)', async () => {
    const s = setup();
    const joined = s.node.join('g', { stack: FAST_STACK, lookupTimeoutMs: 500, lookupRetryMs: 100 });
    let done = false;
    void joined.then(() => (done = true));
    for (let i = 0; i < 12 && !done; i++) {
      await step(s.world, 100);
      const last = s.lookups().at(-1)!;
      s.send({ t: 'info', req: last.req, group: 'g', info: null, founding: 'a:1/1' });
    }
    assert.ok(done);
    assert.ok(s.world.now() >= 1000);
    assert.deepEqual(s.node.group('g')!.view.members, ['b:1/1']);
  });

  it('answers another looking node with the smallest id it knows of, itself included', async () => {
    const s = setup();
    void s.node.join('g', { stack: FAST_STACK, lookupTimeoutMs: 5000 }).catch(() => {});
    await step(s.world, 20);
    s.send({ t: 'lookup', group: 'g', req: 1, founding: true });
    await step(s.world, 20);
    const answer = s.got.find((m) => m.t === 'info');
    // x:1/1 asked as a would-be founder, but b:1/1 is smaller.
    assert.deepEqual(answer, { t: 'info', req: 1, group: 'g', info: null, founding: 'b:1/1' });
  });
});
