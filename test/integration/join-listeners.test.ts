// HorusNode.join() resolves once the first view is installed; an application then puts its listeners
// on the group. Messages released together with the first view (held while the view, and the state,
// were being installed) must not go by before that: each one the group delivers, the application sees.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forkMember, waitUntil, type Member } from '../helpers/cluster.js';

const JOINS = 4;

describe('join() and the first messages of a view', () => {
  it(
    'a member that joins with `await node.join()` and then listens sees every message the group delivers to it',
    {
      timeout: 60_000,
    },
    async (t) => {
      const procs: Member[] = [];
      try {
        const founder = forkMember(0);
        const joiners = Array.from({ length: JOINS }, (_, i) => forkMember(i + 1));
        procs.push(founder, ...joiners);
        await founder.listen({ logLevel: 'error' });
        await founder.request<'djoin'>({ cmd: 'djoin', group: 'j', state: 'none' });
        // Busy traffic, so that messages are held while each joiner installs its first view.
        await founder.request<'traffic'>({ cmd: 'traffic', intervalMs: 2, size: 32 });
        await Promise.all(joiners.map((m) => m.listen({ logLevel: 'error', seeds: [founder.endpoint] })));
        const missed: number[] = [];
        for (const m of joiners) {
          // join() then listeners, the way the public API reads.
          await m.request<'djoin'>({ cmd: 'djoin', group: 'j', state: 'none', create: false, api: 'join', timeoutMs: 20_000 });
          await waitUntil(async () => (await m.request<'status'>({ cmd: 'status' })).delivered > 20, { timeoutMs: 10_000, what: 'deliveries at the joiner' });
          const s = await m.request<'status'>({ cmd: 'status' });
          missed.push(s.groupDelivered - s.delivered);
        }
        t.diagnostic(`messages delivered before the application's listener was on, per join: ${missed.join(', ')}`);
        assert.deepEqual(
          missed,
          missed.map(() => 0),
        );
      } finally {
        await Promise.all(procs.map((m) => m.close(0)));
      }
    },
  );
});
