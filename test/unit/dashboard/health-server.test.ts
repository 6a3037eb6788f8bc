// Probes on a real node: `startNode` with a health endpoint answers /livez and /readyz from the
// start; /readyz turns 503 with the reason when the node is cut off in a minority of its group.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createNode } from '../../../src/api/create-node.js';
import type { HorusNode } from '../../../src/api/node.js';
import { resolveNodeConfig, startNode, type RunningNode } from '../../../src/cli/node-cmd.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { Readiness } from '../../../src/obs/readiness.js';

async function get(base: string, path: string): Promise<{ status: number; body: unknown }> {
  const r = await fetch(new URL(path, base));
  return { status: r.status, body: (await r.json()) as unknown };
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('health endpoint of a node', () => {
  let running: RunningNode | null = null;
  let other: HorusNode | null = null;
  after(async () => {
    other?.halt();
    await other?.env.transport.close();
    await running?.close();
  });

  it('answers /livez and /readyz, serves nothing else, and reports a minority as not ready', { timeout: 60_000 }, async () => {
    const cfg = resolveNodeConfig({}, { listen: '127.0.0.1:0', admin: false, health: '127.0.0.1:0', membership: 'dynamic', join: ['orders'] });
    running = await startNode(cfg, silentLogger);
    const base = running.health!.url;
    assert.deepEqual(await get(base, 'livez'), { status: 200, body: { live: true } });
    const ready = await get(base, 'readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true, groups: [{ name: 'orders', ready: true }] });
    assert.equal((await get(base, 'api/status')).status, 404, 'no status or data on the probe endpoint');

    // A second member joins; then it stops dead (no leave): alone, the first is 1 of 2, a minority.
    other = await createNode({ listen: '127.0.0.1:0', seeds: [running.node.endpoint], logger: silentLogger });
    await other.join('orders');
    await waitFor('a view of two', async () => running!.node.group('orders')!.view.members.length === 2);
    other.halt();
    await waitFor('/readyz 503', async () => (await get(base, 'readyz')).status === 503);
    const r = (await get(base, 'readyz')).body as Readiness;
    assert.equal(r.ready, false);
    assert.match(r.groups[0]!.reason ?? '', /minority/);
    assert.equal((await get(base, 'livez')).status, 200, 'still live: the process works, it is the group that is cut off');
  });
});
