import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCluster } from '../../../helpers/tools-cluster.js';
import { NewsService } from '../../../../src/services/news/news-service.js';
import { NewsClient } from '../../../../src/services/news/news-client.js';
import type { Posting } from '../../../../src/services/news/posting.js';
import { servicesOf } from '../../../../src/services/registry.js';

function newsCluster(seed: number, n = 3): { c: ToolCluster; services: NewsService[] } {
  const c = new ToolCluster(seed, 'news');
  const services: NewsService[] = [];
  for (let i = 0; i < n; i++) {
    const ep = `m${i + 1}:1`;
    const s = new NewsService({}, () => c.world.now());
    const g = c.add(ep, s.state);
    s.attach(g, c.nodes.get(ep));
    services.push(s);
    c.run(200);
  }
  c.run(1500);
  return { c, services };
}

const ids = (ps: Posting[]): string[] => ps.map((p) => `${p.subject}#${p.seq}@${p.pos}`);

describe('the News service', () => {
  it('members subscribe by pattern and every member sees each posting once, in one order', async () => {
    const { c, services } = newsCluster(5);
    const seen = services.map(() => [] as Posting[]);
    services.forEach((s, i) => s.subscribe('orders.>', (p) => seen[i]!.push(p)));
    const sent: Promise<unknown>[] = [];
    for (let k = 0; k < 10; k++) for (const s of services) sent.push(s.publish(k % 2 ? 'orders.eu' : 'orders.us.west', k));
    sent.push(services[0]!.publish('other', 'not for orders.>'));
    await c.settle(Promise.all(sent));
    c.run(200);
    assert.equal(seen[0]!.length, 30);
    assert.deepEqual(ids(seen[1]!), ids(seen[0]!));
    assert.deepEqual(ids(seen[2]!), ids(seen[0]!));
    const eu = seen[0]!.filter((p) => p.subject === 'orders.eu').map((p) => p.seq);
    assert.deepEqual(
      eu,
      Array.from({ length: 15 }, (_, i) => i + 1),
      'per-subject sequence without a gap',
    );
    const listed = servicesOf(c.nodes.get('m1:1')!);
    assert.equal(listed[0]?.kind, 'news');
    assert.equal(listed[0]?.status['head'], 31);
  });

  it('a late subscriber gets the back issues and then the live stream, with no gap or duplicate at the seam', async () => {
    const { c, services } = newsCluster(6);
    for (let k = 1; k <= 8; k++) await c.settle(services[k % 3]!.publish(`t.${k % 2}`, k));
    const early: Posting[] = [];
    services[0]!.subscribe('t.*', (p) => early.push(p));
    const late: Posting[] = [];
    // Publishes in flight while the late one subscribes.
    const flying = [services[1]!.publish('t.0', 'x'), services[2]!.publish('t.1', 'y')];
    c.run(1);
    services[2]!.subscribe('t.*', (p) => late.push(p), { back: 2 });
    flying.push(services[0]!.publish('t.0', 'z'));
    await c.settle(Promise.all(flying));
    c.run(100);
    const backIssues = late.filter((p) => p.pos <= 8);
    assert.deepEqual(
      backIssues.map((p) => p.seq),
      [3, 3, 4, 4],
      'two back issues of each subject',
    );
    const livePart = late.filter((p) => p.pos > 8);
    assert.deepEqual(ids(livePart), ids(early.filter((p) => p.pos > 8)));
    assert.equal(new Set(late.map((p) => p.pos)).size, late.length, 'no duplicate');
    const positions = late.map((p) => p.pos);
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => a - b),
    );
    assert.deepEqual(
      livePart.map((p) => p.pos),
      [9, 10, 11],
    );
  });

  for (const seed of [11, 12]) {
    it(`a client outside the group keeps getting every posting once when its member crashes, and its retried publishes post once (seed ${seed})`, async () => {
      const { c, services } = newsCluster(seed);
      const clientNode = c.start('client:1', ['m1:1', 'm2:1', 'm3:1']);
      const news = await c.settle(NewsClient.connect(clientNode, { attemptTimeoutMs: 400, timeoutMs: 20_000 }));
      const got: Posting[] = [];
      const sub = news.subscribe('feed.>', (p) => got.push(p));
      c.run(300);
      const sent: Promise<unknown>[] = [];
      let victim: string | null = null;
      for (let k = 0; k < 60; k++) {
        const live = services.filter((s) => victim === null || !s.group.localId.startsWith(victim));
        sent.push(live[k % live.length]!.publish('feed.a', k).catch(() => null));
        sent.push(news.publish('feed.b', k));
        if (k === 20) {
          victim = news.client.target!.split('/')[0]!;
          c.world.crash(victim);
        }
        c.run(5);
      }
      const results = await c.settle(Promise.allSettled(sent), 30_000);
      c.run(2000);
      assert.ok(victim);
      assert.notEqual(news.client.target?.split('/')[0], victim, 'the client moved to another member');
      const clientPubs = results.filter((r, i) => i % 2 === 1 && r.status === 'fulfilled').length;
      assert.equal(clientPubs, 60, 'every client publish was acknowledged');
      // The survivors' order is the truth: the client saw each of its postings exactly once, in that order.
      const survivor = services.find((s) => !s.group.localId.startsWith(victim!))!;
      const truth: Posting[] = [];
      survivor.subscribe('feed.>', (p) => truth.push(p), { after: 0 });
      assert.deepEqual(ids(got), ids(truth));
      assert.equal(truth.filter((p) => p.subject === 'feed.b').length, 60, 'no client publish was posted twice or lost');
      sub.close();
      news.close();
    });
  }

  it('refuses bad requests from a client with ERR_INVALID_ARGUMENT and keeps serving', async () => {
    const { c } = newsCluster(7);
    const clientNode = c.start('client:1', ['m1:1', 'm2:1', 'm3:1']);
    const news = await c.settle(NewsClient.connect(clientNode, { attemptTimeoutMs: 400 }));
    for (const bad of [['pub', 'a..b', 1], ['poll', 'a.>.b', 0, 0, 0], ['poll', 'a', -2, 0, 0], ['nope'], 'pub'])
      await assert.rejects(c.settle(news.client.request(bad)), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(bad));
    await assert.rejects(news.publish('a.*', 1), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => news.subscribe('a.>.b', () => {}), { code: 'ERR_INVALID_ARGUMENT' });
    const ok = await c.settle(news.publish('a.b', 'fine'));
    assert.equal(ok.seq, 1);
  });

  it('a joiner receives the back issues and sequences by state transfer', async () => {
    const { c, services } = newsCluster(8, 2);
    for (let k = 1; k <= 5; k++) await c.settle(services[0]!.publish('s', k));
    const joiner = new NewsService({}, () => c.world.now());
    joiner.attach(c.add('m9:1', joiner.state));
    c.run(2000);
    const back: Posting[] = [];
    joiner.subscribe('s', (p) => back.push(p), { back: 10 });
    assert.deepEqual(
      back.map((p) => p.payload),
      [1, 2, 3, 4, 5],
    );
    const next = await c.settle(joiner.publish('s', 6));
    assert.equal(next.seq, 6);
    assert.equal(next.pos, 6);
  });
});
