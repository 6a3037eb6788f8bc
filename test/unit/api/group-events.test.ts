import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createNode } from '../../../src/api/create-node.js';
import type { HorusNode } from '../../../src/api/node.js';
import type { Group, GroupEvent } from '../../../src/api/group.js';
import type { Delivery } from '../../../src/api/delivery.js';
import type { View } from '../../../src/core/view.js';
import { silentLogger } from '../../../src/core/logger.js';
import { NodeObserver } from '../../../src/obs/node-observer.js';
import { SimCluster, FAST_STACK } from '../../helpers/sim-cluster.js';

const turn = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('group events: the current view reaches listeners attached after join', () => {
  const nodes: HorusNode[] = [];
  after(async () => {
    for (const n of nodes) await n.close();
  });
  async function node(opts: { recorder?: NodeObserver['recorder']; seeds?: string[] } = {}): Promise<HorusNode> {
    const n = await createNode({ listen: '127.0.0.1:0', logger: silentLogger, ...opts });
    nodes.push(n);
    return n;
  }

  it("a 'view' listener attached right after `await join()` hears the first view, and group.view holds it already", async () => {
    const n = await node();
    const g = await n.join('after-join');
    assert.equal(g.view.id, 1, 'group.view holds the first view when join resolves');
    assert.deepEqual(g.view.members, [g.localId]);
    const views: View[] = [];
    g.on('view', (v) => views.push(v));
    assert.equal(views.length, 0, 'not synchronously, inside on()');
    await turn();
    assert.deepEqual(
      views.map((v) => v.id),
      [1],
    );
    assert.equal(views[0], g.view);
  });

  it("a listener attached later still starts with the current view, once; once('view') is used up by it", async () => {
    const n = await node();
    const g = await n.join('later', { members: [n.endpoint] });
    await turn();
    await turn();
    const seen: number[] = [];
    const onceSeen: number[] = [];
    g.on('view', (v) => seen.push(v.id));
    g.once('view', (v) => onceSeen.push(v.id));
    await turn();
    await turn();
    assert.deepEqual(seen, [1]);
    assert.deepEqual(onceSeen, [1]);
    assert.equal(g.listenerCount('view'), 1, 'the once listener removed itself');
  });

  it('a listener removed before its turn hears nothing', async () => {
    const n = await node();
    const g = await n.join('removed', { members: [n.endpoint] });
    const seen: number[] = [];
    const l = (v: View): void => void seen.push(v.id);
    g.on('view', l);
    g.off('view', l);
    await turn();
    assert.deepEqual(seen, []);
  });

  it('an internal listener (the dashboard observer) does not take the first view away from the application', async () => {
    const observer = new NodeObserver({ pollMs: 20 });
    const n = await node({ recorder: observer.recorder });
    observer.attach(n);
    try {
      const g = await n.join('observed');
      const views: number[] = [];
      g.on('view', (v) => views.push(v.id));
      await turn();
      assert.deepEqual(views, [1]);
    } finally {
      observer.detach();
    }
  });

  it('a joiner hears its first view before the first message delivered in it, and each message carries sender and viewId', async () => {
    const a = await node();
    const ga = await a.join('two');
    const b = await node({ seeds: [a.endpoint] });
    const joined = b.join('two');
    // The founder sends as soon as it sees the joiner: the message is delivered in view 2.
    ga.on('view', (v) => {
      if (v.members.length === 2) void ga.fbcast({ hello: 'b' });
    });
    const gb = await joined;
    const events: string[] = [];
    const messages: Delivery[] = [];
    gb.on('message', (m) => {
      events.push(`message@${m.viewId}`);
      messages.push(m);
    });
    gb.on('view', (v) => events.push(`view ${v.id}`));
    for (let i = 0; i < 200 && messages.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(events[0], `view ${gb.view.id}`, events.join(', '));
    assert.ok(events.includes(`message@${gb.view.id}`), events.join(', '));
    const m = messages[0]!;
    assert.equal(m.sender, ga.localId);
    assert.equal(m.src, m.sender, 'the deprecated alias still answers');
    assert.equal(m.viewId, gb.view.id);
    assert.deepEqual(m.payload, { hello: 'b' });
    assert.equal(m.order, 'fifo');
  });

  it('the async iterator starts with the current view, then yields messages in order', async () => {
    const n = await node();
    const g = await n.join('iter', { members: [n.endpoint] });
    await turn();
    const got: string[] = [];
    const reading = (async () => {
      for await (const ev of g) {
        got.push(ev.type === 'view' ? `view ${ev.view.id}` : `message ${String(ev.message.payload)}@${ev.message.viewId}`);
        if (got.length === 3) break;
      }
    })();
    await g.fbcast('a');
    await g.fbcast('b');
    await reading;
    assert.deepEqual(got, ['view 1', 'message a@1', 'message b@1']);
    assert.equal(g.listenerCount('view'), 0, 'breaking out of the loop detaches the iterator');
  });

  it('group.messages() yields only the messages, and events() is the same iterator as the group', async () => {
    const n = await node();
    const g = await n.join('msgs', { members: [n.endpoint] });
    const got: unknown[] = [];
    const reading = (async () => {
      for await (const m of g.messages()) {
        got.push(m.payload);
        if (got.length === 2) break;
      }
    })();
    await g.fbcast('x');
    await g.fbcast('y');
    await reading;
    assert.deepEqual(got, ['x', 'y']);
    const events = g.events();
    const first = await events.next();
    assert.equal(first.done, false);
    assert.equal(first.value?.type, 'view');
    await events.return(undefined);
    assert.equal(g.listenerCount('view'), 0);
  });

  it('a loop that falls more than maxBuffered events behind fails with ERR_BACKPRESSURE after what it holds, and the overflow is counted', async () => {
    const n = await node();
    const g = await n.join('slow', { members: [n.endpoint] });
    let overflows = 0;
    g.iteratorOverflow = { inc: () => void overflows++ } as unknown as typeof g.iteratorOverflow;
    const it = g.events({ maxBuffered: 3 });
    const first = await it.next(); // the current view; the loop now stops taking events
    assert.equal(first.value?.type, 'view');
    for (let i = 0; i < 6; i++) await g.fbcast(i);
    await turn();
    const held: unknown[] = [];
    await assert.rejects(
      (async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          if (r.value.type === 'message') held.push(r.value.message.payload);
        }
      })(),
      { code: 'ERR_BACKPRESSURE' },
    );
    assert.deepEqual(held, [0, 1, 2], 'what the buffer held comes first, in order');
    assert.equal(overflows, 1);
    assert.equal(g.listenerCount('message'), 0, 'the failed iterator let go of the group');
    await assert.rejects(g.events({ maxBuffered: 0 }).next(), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('group events in the simulator', () => {
  let c: SimCluster;
  let groups: Group[];
  before(() => {
    c = new SimCluster(3);
    groups = [];
    for (let i = 0; i < 3; i++) {
      const e = `v${i + 1}:1`;
      c.start(e);
      groups.push(c.nodes.get(e)!.joinNow('g', { contacts: i === 0 ? [] : ['v1:1'], stack: FAST_STACK }));
      c.run(100);
    }
    c.run(1500);
  });

  it('a listener attached before the first view hears each view once, in order, and no replay repeats one', () => {
    const c2 = new SimCluster(4);
    c2.start('w1:1');
    c2.start('w2:1');
    const g1 = c2.nodes.get('w1:1')!.joinNow('g', { contacts: [], stack: FAST_STACK });
    c2.run(100);
    const g2 = c2.nodes.get('w2:1')!.joinNow('g', { contacts: ['w1:1'], stack: FAST_STACK });
    const ids: number[] = [];
    g2.on('view', (v) => ids.push(v.id));
    c2.run(1500);
    assert.ok(ids.length >= 1, 'the joiner heard its first view');
    assert.deepEqual(
      ids,
      [...new Set(ids)].sort((x, y) => x - y),
      `no view twice, in order: ${ids.join(',')}`,
    );
    assert.equal(ids.at(-1), g2.view.id);
    assert.equal(g1.view.id, g2.view.id);
  });

  it('an iterator started after the group formed yields the current view first, with every member', async () => {
    const g = groups[2]!;
    const it = g[Symbol.asyncIterator]();
    const first = c.settle(it.next());
    c.run(10);
    const r = (await first) as IteratorResult<GroupEvent>;
    assert.equal(r.done, false);
    assert.equal(r.value.type, 'view');
    assert.equal((r.value as { view: View }).view.members.length, 3);
    await it.return(undefined);
  });
});
