import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createNode } from '../../../src/api/create-node.js';
import type { Group } from '../../../src/api/group.js';
import type { HorusNode } from '../../../src/api/node.js';
import { kvRoutes, kvSummary, ReplicatedKv } from '../../../src/cli/demo-member.js';
import { ConfigError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import { AdminServer } from '../../../src/dashboard/admin-server.js';
import { connectSse } from '../../../src/dashboard/sse-client.js';
import { registerService } from '../../../src/services/registry.js';
import { NodeObserver, RateMeter, type ObservedEvent } from '../../../src/obs/node-observer.js';

async function get(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; text: string; json: () => unknown }> {
  const r = await fetch(new URL(path.replace(/^\//, ''), base), { headers });
  const text = await r.text();
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) as unknown };
}

/** fetch() cannot set Host: a raw request can. */
function rawGet(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

describe('admin server on a one-member group', () => {
  let node: HorusNode;
  let group: Group;
  let kv: ReplicatedKv;
  let admin: AdminServer;
  const observer = new NodeObserver({ pollMs: 20 });

  before(async () => {
    node = await createNode({ listen: '127.0.0.1:0', logger: silentLogger, recorder: observer.recorder });
    observer.attach(node);
    group = await node.join('g', { members: [node.endpoint] });
    await node.join('kvgroup', { members: [node.endpoint] });
    kv = new ReplicatedKv().attach(node.group('kvgroup')!);
    admin = await AdminServer.start({ node, observer, routes: kvRoutes(kv), info: () => ({ kv: kvSummary(kv) }) });
  });
  after(async () => {
    kv.close();
    await admin.close();
    observer.detach();
    await node.close();
  });

  it('off loopback it needs a token: one is generated when none is configured, and a short one is refused', async () => {
    await assert.rejects(
      AdminServer.start({ node, observer, listen: '0.0.0.0:0', token: 'short' }),
      (e: unknown) => e instanceof ConfigError && /at least 16/.test(e.message),
    );
    const open = await AdminServer.start({ node, observer, listen: '0.0.0.0:0' });
    try {
      assert.equal(open.tokenGenerated, true);
      assert.ok(open.token !== null && open.token.length >= 16);
      const base = `http://127.0.0.1:${open.port}/`;
      assert.equal((await fetch(new URL('api/status', base))).status, 401);
      assert.equal((await fetch(new URL('api/status', base), { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
      assert.equal((await fetch(new URL('api/status', base), { headers: { authorization: `Bearer ${open.token}` } })).status, 200);
      assert.equal((await fetch(new URL('livez', base))).status, 200, 'probes need no token');
    } finally {
      await open.close();
    }
  });

  it('GET /api/status: the node, its groups and their counters', async () => {
    await group.fbcast({ hello: 1 });
    await new Promise((r) => setTimeout(r, 30));
    const r = await get(admin.url, '/api/status');
    assert.equal(r.status, 200);
    assert.match(r.type, /^application\/json/);
    const s = r.json() as {
      mode: string;
      node: string;
      endpoint: string;
      pid: number;
      groups: { name: string; sent: number; delivered: number; view: { id: number } }[];
      kv: { size: number };
    };
    assert.equal(s.mode, 'node');
    assert.equal(s.node, node.id);
    assert.equal(s.endpoint, node.endpoint);
    assert.equal(s.pid, process.pid);
    const g = s.groups.find((x) => x.name === 'g')!;
    assert.equal(g.view.id, 1);
    assert.equal(g.sent, 1);
    assert.equal(g.delivered, 1);
    assert.equal(s.kv.size, 0);
  });

  it('GET /api/groups, /api/groups/:name/view, /views and /members', async () => {
    const groups = (await get(admin.url, '/api/groups')).json() as { name: string }[];
    assert.deepEqual(groups.map((g) => g.name).sort(), ['g', 'kvgroup']);
    const view = (await get(admin.url, '/api/groups/g/view')).json();
    assert.deepEqual(view, { group: 'g', id: 1, members: [node.endpoint], blocked: false });
    const views = (await get(admin.url, '/api/groups/g/views')).json() as { id: number; members: string[]; at: number }[];
    assert.equal(views.length, 1);
    assert.deepEqual(views[0]!.members, [node.endpoint]);
    const members = (await get(admin.url, '/api/groups/g/members')).json() as { id: string; delivered: number }[];
    assert.equal(members[0]!.id, node.endpoint);
  });

  it('GET /api/services: each registered service with its status, gone once unregistered', async () => {
    assert.deepEqual((await get(admin.url, '/api/services')).json(), []);
    const off = registerService(node, { kind: 'news', group: 'g', status: () => ({ subjects: 2 }) });
    const broken = registerService(node, {
      kind: 'jobs',
      group: 'g',
      status: () => {
        throw new Error('no state yet');
      },
    });
    assert.deepEqual((await get(admin.url, '/api/services')).json(), [
      { kind: 'news', group: 'g', status: { subjects: 2 } },
      { kind: 'jobs', group: 'g', status: { error: 'no state yet' } },
    ]);
    off();
    broken();
    assert.deepEqual((await get(admin.url, '/api/services')).json(), []);
  });

  it('GET /livez and /readyz: live, and ready with every group in its view', async () => {
    assert.equal((await get(admin.url, '/livez')).status, 200);
    const r = await get(admin.url, '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), {
      ready: true,
      groups: [
        { name: 'g', ready: true },
        { name: 'kvgroup', ready: true },
      ],
    });
  });

  it('answers an unknown group with 404 and ERR_UNKNOWN_GROUP', async () => {
    const r = await get(admin.url, '/api/groups/nope/view');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), { error: { code: 'ERR_UNKNOWN_GROUP', message: 'this node is not a member of group "nope"' } });
  });

  it('GET /metrics: group counters, layer metrics and process metrics in Prometheus text', async () => {
    const r = await get(admin.url, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    assert.match(r.text, /^# TYPE horus_group_messages_sent_total counter$/m);
    assert.match(r.text, /^horus_group_messages_sent_total\{group="g",order="fifo"\} [1-9]\d*$/m);
    assert.match(r.text, /^horus_group_messages_delivered_total\{group="g",order="fifo"\} [1-9]\d*$/m);
    assert.match(r.text, /^horus_group_view_members\{group="g"\} 1$/m);
    assert.match(r.text, /^horus_group_blocked\{group="g"\} 0$/m);
    assert.match(r.text, /^horus_nak_retransmissions_total\{node="127\.0\.0\.1:\d+"\} \d+$/m);
    assert.match(r.text, /^horus_nak_buffered_bytes\{node="127\.0\.0\.1:\d+",group="g"\} \d+$/m); // a level per group
    assert.match(r.text, /^process_cpu_user_seconds_total \d/m);
    // The transport's limits count what they refused (see docs/security.md).
    assert.match(r.text, /^horus_tcp_refused_total\{node="127\.0\.0\.1:\d+"\} \d+$/m);
    assert.match(r.text, /^horus_tcp_slow_frames_total\{node="127\.0\.0\.1:\d+"\} \d+$/m);
    assert.match(r.text, /^horus_tcp_open_inbound\{node="127\.0\.0\.1:\d+"\} \d+$/m);
  });

  it('GET /api/events: a snapshot, then views and sampled sends and deliveries', async () => {
    const events: { event: string; data: unknown }[] = [];
    const conn = connectSse(
      new URL('api/events', admin.url).href,
      (event, data) => events.push({ event, data: JSON.parse(data) }),
      () => {},
    );
    try {
      const until = async (pred: () => boolean): Promise<void> => {
        for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
        assert.ok(pred(), `events so far: ${JSON.stringify(events).slice(0, 500)}`);
      };
      await until(() => events.some((e) => e.event === 'snapshot'));
      const snap = events.find((e) => e.event === 'snapshot')!.data as { mode: string; views: Record<string, unknown[]> };
      assert.equal(snap.mode, 'node');
      assert.equal(snap.views.g!.length, 1);
      await group.fbcast('ping');
      const obs = () => events.filter((e) => e.event === 'obs').map((e) => e.data as ObservedEvent);
      await until(() => obs().some((e) => e.type === 'deliver'));
      const send = obs().find((e) => e.type === 'send')!;
      const deliver = obs().find((e) => e.type === 'deliver')!;
      assert.ok(send.type === 'send' && deliver.type === 'deliver');
      assert.equal(send.msg, deliver.msg);
      assert.equal(send.order, 'fifo');
      assert.equal(deliver.src, node.endpoint);
      assert.ok(deliver.at >= send.at);
      await until(() => events.some((e) => e.event === 'status'));
    } finally {
      conn.close();
    }
  });

  it('serves the dashboard files, and nothing else from disk', async () => {
    const index = await get(admin.url, '/');
    assert.equal(index.status, 200);
    assert.match(index.type, /^text\/html/);
    assert.match(index.text, /<script type="module" src="app\.js"><\/script>/);
    assert.match((await get(admin.url, '/app.js')).type, /^text\/javascript/);
    assert.match((await get(admin.url, '/style.css')).type, /^text\/css/);
    assert.equal((await get(admin.url, '/../../package.json')).status, 404);
    assert.equal((await get(admin.url, '/%2e%2e/package.json')).status, 404);
  });

  it('refuses requests naming a non-loopback host (DNS rebinding)', async () => {
    assert.equal(await rawGet(admin.port, '/api/status', 'evil.example:80'), 403);
    assert.equal(await rawGet(admin.port, '/api/status', `localhost:${admin.port}`), 200);
  });

  it('answers 405 to a wrong method and 404 to an unknown path', async () => {
    const r = await fetch(new URL('api/status', admin.url), { method: 'DELETE' });
    assert.equal(r.status, 405);
    assert.equal((await get(admin.url, '/api/nothing')).status, 404);
  });

  it('serves the key-value routes of a demo member', async () => {
    const put = await fetch(new URL('kv/color', admin.url), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'blue' }),
    });
    assert.equal(put.status, 200);
    assert.deepEqual((await get(admin.url, '/kv/color')).json(), { key: 'color', value: 'blue' });
    assert.deepEqual((await get(admin.url, '/kv')).json(), { entries: [['color', 'blue']] });
    const plain = await fetch(new URL('kv/color', admin.url), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(plain.status, 415);
    const bad = await fetch(new URL('kv/color', admin.url), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"value": 3}' });
    assert.equal(bad.status, 400);
    assert.equal((await fetch(new URL('kv/color', admin.url), { method: 'DELETE' })).status, 200);
    assert.equal((await get(admin.url, '/kv/color')).status, 404);
    assert.equal((await fetch(new URL('kv/color', admin.url), { method: 'DELETE' })).status, 404);
  });
});

describe('replicated key-value map on two nodes', () => {
  it('applies a write at both members', async () => {
    const a = await createNode({ listen: '127.0.0.1:0', logger: silentLogger });
    const b = await createNode({ listen: '127.0.0.1:0', logger: silentLogger });
    try {
      const members = [a.endpoint, b.endpoint];
      const ka = new ReplicatedKv().attach(await a.join('kv', { members }));
      const kb = new ReplicatedKv().attach(await b.join('kv', { members }));
      await ka.put('x', '1');
      await kb.put('y', '2');
      for (let i = 0; i < 100 && (kb.get('x') === undefined || ka.get('y') === undefined); i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(ka.entries(), [
        ['x', '1'],
        ['y', '2'],
      ]);
      assert.deepEqual(kb.entries(), ka.entries());
      assert.equal(kvSummary(ka).digest, kvSummary(kb).digest);
      assert.equal(await kb.del('x'), true);
      assert.equal(await kb.del('x'), false);
      ka.close();
      kb.close();
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('admin server on a dynamic group (GMS)', () => {
  it('records each view and the flush that led to it', async () => {
    const observer = new NodeObserver({ pollMs: 20 });
    const a = await createNode({ listen: '127.0.0.1:0', logger: silentLogger, recorder: observer.recorder });
    observer.attach(a);
    const admin = await AdminServer.start({ node: a, observer });
    const b = await createNode({ listen: '127.0.0.1:0', logger: silentLogger, seeds: [a.endpoint] });
    try {
      await a.join('d');
      await b.join('d');
      for (let i = 0; i < 100 && (a.group('d')!.view.members.length < 2 || a.group('d')!.blockedReasons.length > 0); i++)
        await new Promise((r) => setTimeout(r, 20));
      const views = (await get(admin.url, '/api/groups/d/views')).json() as { id: number; members: string[] }[];
      assert.deepEqual(
        views.map((v) => v.members.length),
        [1, 2],
      );
      assert.ok(views[1]!.id > views[0]!.id);
      const metrics = (await get(admin.url, '/metrics')).text;
      assert.match(metrics, /^horus_group_view_members\{group="d"\} 2$/m);
      assert.match(metrics, /^horus_group_flush_seconds_count\{group="d"\} [1-9]\d*$/m);
    } finally {
      await b.close();
      await admin.close();
      observer.detach();
      await a.close();
    }
  });
});

describe('RateMeter', () => {
  it('counts events per second over its window, not counting the current bucket', () => {
    const m = new RateMeter(500, 5);
    for (let t = 0; t < 2000; t += 10) m.mark(t);
    // Buckets of 500 ms with 50 events each; at t=2000 the 4 completed ones span 2 s.
    assert.equal(m.perSec(2000), 100);
    assert.equal(m.perSec(10_000), 0);
  });
});
