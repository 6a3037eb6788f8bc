// A member alone in its view multicasts, and in the same event-loop turn its GMS tick runs the view
// change that lets a joiner in. Virtual synchrony: the sender installs the next view only after
// delivering its own message of the previous view (self-delivery).
//
// Today the message is lost: COM loops a sender's own multicast back on env.defer (setImmediate),
// while with one member the flush (FLUSH_START, CUT, DONE to itself) and the install of the next view
// run synchronously inside the GMS tick. NAK's cut check looks only at other senders' windows, so it
// reports the cut reached while the own copy still waits in COM's loopback queue; when it comes up,
// NAK has moved to the next view and drops it as old (NAK.up: h.view !== this.viewId).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HistoryEvent } from '../../src/core/history.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import { forkMember, waitUntil, type Member } from '../helpers/cluster.js';

describe('a one-member view changing in the same turn as a send', () => {
  it(
    'the founder delivers its own last multicast of view 1 before installing view 2',
    {
      timeout: 60_000,
    },
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'horus-single-'));
      const files = [join(dir, 'founder.jsonl'), join(dir, 'joiner.jsonl')];
      const procs: Member[] = [];
      try {
        const founder = forkMember(0);
        const joiner = forkMember(1);
        procs.push(founder, joiner);
        await founder.listen({ logLevel: 'error', historyFile: files[0]! });
        await founder.request<'djoin'>({ cmd: 'djoin', group: 'solo', state: 'names' });
        // One multicast, then 150 ms of work: GMS's 100 ms tick falls due in the same timers phase.
        await founder.request<'traffic'>({ cmd: 'traffic', intervalMs: 1, size: 16, busyMs: 150 });
        await joiner.listen({ logLevel: 'error', seeds: [founder.endpoint], historyFile: files[1]! });
        await joiner.request<'djoin'>({ cmd: 'djoin', group: 'solo', state: 'names', create: false, timeoutMs: 20_000, lookupTimeoutMs: 5_000 });
        await founder.request<'traffic'>({ cmd: 'traffic', intervalMs: 0, size: 0 });
        await waitUntil(
          async () => {
            const [a, b] = await Promise.all(procs.map((m) => m.request<'status'>({ cmd: 'status' })));
            return a!.view.id === b!.view.id && a!.view.members.length === 2 && a!.digest === b!.digest;
          },
          { timeoutMs: 10_000, what: 'both in one view with one state' },
        );
        const events = files.flatMap((f) =>
          readFileSync(f, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as HistoryEvent),
        );
        const merged = [...events.filter((e) => e.k === 'send'), ...events.filter((e) => e.k !== 'send')];
        const v = checkVirtualSynchrony(merged, 'solo');
        t.diagnostic(`${merged.filter((e) => e.k === 'send').length} sends; ${v.total} violations ${v.items.map((x) => x.detail).join('; ')}`);
        assert.deepEqual(v.items, []);
      } finally {
        await Promise.all(procs.map((m) => m.close(0)));
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
