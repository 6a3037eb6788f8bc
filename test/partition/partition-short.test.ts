// The short real-partition check for CI (the full set: `npm run partition-test`): a 3-member group,
// each member a real process in its own network namespace, whose primary (the senior member) is cut
// off from its two backups for 3 s by routes while all three abcast, then healed. The isolated primary
// must block as a minority before the backups install a view without it (no two primaries, checked
// from the recorded wall-clock histories), no safe trade may be lost, the merged history must pass
// the simulator's checkers, and after the heal the three must be in one view again.
// Needs root and iproute2; without them the test is skipped and says why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { netnsUnavailable } from '../../bench/lib/netns.js';
import { primaryIsolated } from './scenarios.js';

const unavailable = netnsUnavailable();

describe('real partitions (network namespaces)', () => {
  it(
    'a primary cut off from its backups for 3 s blocks before they move on, and the three meet again in one view after the heal',
    { timeout: 120_000, skip: unavailable === null ? false : `skipped: ${unavailable}` },
    async (t) => {
      const res = await primaryIsolated({ cutMs: 3000 });
      t.diagnostic(`timings (ms): ${JSON.stringify(res.timings)}`);
      t.diagnostic(`counts: ${JSON.stringify(Object.fromEntries(Object.entries(res.info).filter(([, v]) => typeof v === 'number')))}`);
      t.diagnostic(res.marks.join(' | '));
      if (res.dir !== null) t.diagnostic(`histories and logs kept in ${res.dir}`);
      assert.deepEqual(res.failures, [], `${res.failures.length} checks failed`);
      assert.ok((res.timings['cutBlockBeforeViewMs'] ?? 0) > 0, 'the primary blocked before the backups installed their view');
      assert.equal(res.info['tradesLostSafe'], 0, 'no safe trade lost');
    },
  );
});
