// State transfer between real processes on loopback: a few MiB of state reaches joiners whole
// while the members keep multicasting, and the members keep delivering meanwhile.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forkMember, type Member } from '../helpers/cluster.js';

const GROUP = 'state';
const STATE_BYTES = 6 * 1024 * 1024;
const VIEW_TIMEOUT_MS = 30_000;

describe('state transfer across real processes', () => {
  it('two joiners in turn get a 6 MiB state whole while the group multicasts', { timeout: 120_000 }, async () => {
    const members: Member[] = [forkMember(0), forkMember(1), forkMember(2)];
    try {
      const [founder, second, third] = members as [Member, Member, Member];
      await founder.listen();
      await founder.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'blob', create: true, timeoutMs: VIEW_TIMEOUT_MS });
      const made = await founder.request<'blob'>({ cmd: 'blob', bytes: STATE_BYTES });
      await founder.request<'traffic'>({ cmd: 'traffic', intervalMs: 5, size: 100 });
      await second.listen({ seeds: [founder.endpoint] });
      const j2 = await second.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'blob', create: false, timeoutMs: VIEW_TIMEOUT_MS });
      assert.equal(j2.stateSize, STATE_BYTES);
      assert.equal(j2.stateSha256, made.sha256, 'the second member got the founder state');
      await second.request<'traffic'>({ cmd: 'traffic', intervalMs: 5, size: 100 });
      const before = await founder.request<'status'>({ cmd: 'status' });
      await third.listen({ seeds: [founder.endpoint, second.endpoint] });
      const j3 = await third.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'blob', create: false, timeoutMs: VIEW_TIMEOUT_MS });
      const after = await founder.request<'status'>({ cmd: 'status' });
      assert.equal(j3.stateSize, STATE_BYTES);
      assert.equal(j3.stateSha256, made.sha256, 'the third member got it too, through traffic');
      assert.equal(j3.view.members.length, 3);
      assert.ok(after.delivered > before.delivered, `the founder kept delivering during the join (${before.delivered} -> ${after.delivered})`);
      const status = await third.request<'status'>({ cmd: 'status' });
      assert.deepEqual(status.errors, []);
    } finally {
      await Promise.all(members.map((m) => m.close(0)));
    }
  });
});
