import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, isAlive, runCli, startCli, tempDir, type Spawned } from './helpers.js';

interface DemoMember {
  name: string;
  state: string;
  pid: number;
}

async function members(url: string): Promise<DemoMember[]> {
  return (await (await fetch(new URL('api/demo/members', url))).json()) as DemoMember[];
}

let token = '';
async function post(url: string, path: string, withToken = true): Promise<Response> {
  const auth: Record<string, string> = withToken ? { authorization: `Bearer ${token}` } : {};
  return fetch(new URL(path, url), { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{}' });
}

describe('horus demo: bad arguments', () => {
  it('rejects --nodes 0 (exit 2)', async () => {
    const r = await runCli(['demo', '--nodes', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /option '--nodes <n>' argument '0' is invalid\. expected an integer from 1 to 16\./);
  });
});

describe('horus demo with 2 members, used by horus kv and horus status', () => {
  let demo: Spawned;
  let url = '';
  let cwd = '';
  let pids: number[] = [];

  before(async () => {
    cwd = tempDir();
    demo = startCli(['demo', '--nodes', '2', '--port', '0', '--load', '0', '--membership', 'fixed'], { cwd });
    url = (await demo.waitFor(/^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m, 45_000))[1]!;
    token = (await demo.waitFor(/^control token .*: (\S+)$/m, 5_000))[1]!;
    pids = (await members(url)).map((m) => m.pid);
  });
  after(async () => {
    await demo?.stop('SIGKILL');
  });

  it('prints each member and the dashboard URL, and writes .horus/demo.json', async () => {
    assert.match(demo.stdout(), /^ {2}m1 {2}127\.0\.0\.1:\d+ {2}pid \d+ {2}admin http:\/\/127\.0\.0\.1:\d+\/$/m);
    assert.match(demo.stdout(), /^ {2}m2 /m);
    const state = JSON.parse(readFileSync(join(cwd, '.horus', 'demo.json'), 'utf8')) as { url: string };
    assert.equal(state.url, url);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Horus dashboard<\/title>/);
  });

  it('kv put / get / list / del through the demo (found via .horus/demo.json)', async () => {
    const put = await runCli(['kv', 'put', 'color', 'blue'], { cwd });
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdout, 'ok\n');
    // Written through m1 or m2; delivered to both.
    await eventually(async () => (await fetch(new URL('kv/color?member=m2', url))).status === 200, 10_000, 'm2 to hold color');
    const get = await runCli(['kv', 'get', 'color', '--member', 'm2', '--url', url]);
    assert.equal(get.stdout, 'blue\n');
    const list = await runCli(['kv', 'list', '--json', '--url', url]);
    assert.deepEqual(JSON.parse(list.stdout), [['color', 'blue']]);
    const del = await runCli(['kv', 'del', 'color', '--url', url]);
    assert.equal(del.code, 0, del.stderr);
    const gone = await runCli(['kv', 'get', 'color', '--url', url]);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, 'horus kv: no key "color"\n');
    assert.match(demo.stdout(), /^kv: put color = "blue" {2}\(from m[12], first applied at m[12]\)$/m);
  });

  it('status shows the demo members', async () => {
    const r = await runCli(['status', '--admin', url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^demo at .*: group kv, 2 members$/m);
    assert.match(r.stdout, /^m1 +127\.0\.0\.1:\d+ +running +\d+ +1 \(2\)/m);
  });

  it('status, groups and view find the demo from its directory without --admin (groups and view ask a member)', async () => {
    const status = await runCli(['status'], { cwd });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^demo at .*: group kv, 2 members$/m);
    const groups = await runCli(['groups'], { cwd });
    assert.equal(groups.code, 0, groups.stderr);
    assert.match(groups.stdout, /^kv +\d+ +2 +no/m);
    const view = await runCli(['view', 'kv'], { cwd });
    assert.equal(view.code, 0, view.stderr);
    assert.match(view.stdout, /^group kv: view \d+, 2 members/m);
  });

  it('kills, restarts and refuses to add members (fixed membership) through its API', async () => {
    assert.equal((await post(url, 'api/demo/members/m2/kill', false)).status, 401, 'the buttons need the token');
    const killed = await post(url, 'api/demo/members/m2/kill');
    assert.equal(killed.status, 200);
    assert.equal(((await killed.json()) as DemoMember).state, 'killed');
    assert.equal(isAlive(pids[1]!), false);
    const again = await post(url, 'api/demo/members/m2/kill');
    assert.equal(again.status, 409);
    const add = await post(url, 'api/demo/members');
    assert.equal(add.status, 409);
    assert.match(((await add.json()) as { error: { message: string } }).error.message, /needs dynamic membership/);
    const restarted = await post(url, 'api/demo/members/m2/restart');
    assert.equal(restarted.status, 200);
    const m2 = (await restarted.json()) as DemoMember;
    assert.equal(m2.state, 'running');
    pids.push(m2.pid);
    const crossSite = await fetch(new URL('api/demo/members/m1/kill', url), {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'http://evil.example' },
      body: 'x',
    });
    assert.equal(crossSite.status, 403, 'a web page elsewhere cannot press the buttons');
  });

  it('members exit by themselves when the controller is killed with -9 (no orphans)', async () => {
    // (The clean Ctrl-C path is checked by the browser test, test/e2e/dashboard.test.ts.)
    await demo.stop('SIGKILL');
    for (const pid of pids) await eventually(() => !isAlive(pid), 10_000, `member pid ${pid} to exit`);
  });
});
