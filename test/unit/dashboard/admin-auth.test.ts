import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createNode } from '../../../src/api/create-node.js';
import type { HorusNode } from '../../../src/api/node.js';
import { kvRoutes, ReplicatedKv } from '../../../src/cli/demo-member.js';
import { silentLogger } from '../../../src/core/logger.js';
import { AdminServer } from '../../../src/dashboard/admin-server.js';
import { NodeObserver } from '../../../src/obs/node-observer.js';

const TOKEN = 'a-configured-admin-token-0123456789';

describe('admin endpoint with a token on loopback: state-changing requests need it and must be same-origin', () => {
  let node: HorusNode;
  let kv: ReplicatedKv;
  let admin: AdminServer;
  const observer = new NodeObserver({ pollMs: 20 });
  const put = (headers: Record<string, string>) =>
    fetch(new URL('kv/color', admin.url), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ value: 'blue' }),
    });

  before(async () => {
    node = await createNode({ listen: '127.0.0.1:0', logger: silentLogger, recorder: observer.recorder });
    observer.attach(node);
    await node.join('kvgroup', { members: [node.endpoint] });
    kv = new ReplicatedKv().attach(node.group('kvgroup')!);
    admin = await AdminServer.start({ node, observer, routes: kvRoutes(kv), token: TOKEN });
  });
  after(async () => {
    kv.close();
    await admin.close();
    observer.detach();
    await node.close();
  });

  it('reads need no token on loopback; a configured token is not reported as generated', async () => {
    assert.equal((await fetch(new URL('api/status', admin.url))).status, 200);
    assert.equal(admin.tokenGenerated, false);
  });

  it('a write without the token, or with a wrong one, is 401; with it, 200', async () => {
    assert.equal((await put({})).status, 401);
    assert.equal((await put({ authorization: 'Bearer not-the-token-not-the-token' })).status, 401);
    assert.equal((await put({ authorization: `Bearer ${TOKEN}` })).status, 200);
  });

  it('a write from another origin or site is 403 even with the token', async () => {
    assert.equal((await put({ authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example' })).status, 403);
    assert.equal((await put({ authorization: `Bearer ${TOKEN}`, 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.equal((await put({ authorization: `Bearer ${TOKEN}`, 'sec-fetch-site': 'same-site' })).status, 403);
    assert.equal((await put({ authorization: `Bearer ${TOKEN}`, 'sec-fetch-site': 'same-origin' })).status, 200);
  });

  it('the dashboard page hands the browser a same-site cookie that works for writes', async () => {
    const page = await fetch(admin.url);
    assert.equal(page.status, 200);
    const cookie = page.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const pair = cookie.split(';')[0]!;
    assert.equal((await put({ cookie: pair })).status, 200);
    assert.equal((await put({ cookie: 'horus_token=forged' })).status, 401);
  });
});
