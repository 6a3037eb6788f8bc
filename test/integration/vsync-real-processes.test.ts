// Virtual synchrony across real processes on loopback: five nodes form one dynamic group (default
// stack and timeouts), each keeping the set of delivered message names as replicated state (the
// simulator's app), while all multicast (fbcast; HORUS_VSYNC_ORDERS=fifo,causal,total mixes in cbcast
// and abcast, and the order checker runs too). Then the coordinator is killed with SIGKILL, another member
// is stopped (SIGSTOP) past the failure timeout and resumed (it must find out it was excluded and
// rejoin as a new member, with state), and a sixth node joins with state. Every process records its
// HistoryEvents to a file; the merged history must pass the virtual synchrony checker, and the live
// processes must end in one view holding exactly them, with the same state.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HistoryEvent } from '../../src/core/history.js';
import { mergeHistories, readHistory } from '../partition/history.js';
import { checkOrder } from '../../src/sim/checkers/order.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import { forkMember, waitUntil, type Member } from '../helpers/cluster.js';
import type { DynStatus } from '../helpers/member-process.js';
import { wallNow } from '../../src/obs/wall-clock.js';

const GROUP = 'vs';
const INITIAL = 5;
/** Failure detection defaults: FD suspects after 1000 ms of silence (heartbeats every 100 ms). */
const PAUSE_MS = 2500;
/** Waits are on conditions; these only bound them (a loaded 2-core machine is slow, not stuck). */
const VIEW_TIMEOUT_MS = 15_000;
const TRAFFIC = { intervalMs: 20, size: 64, bigEvery: 50, bigSize: 40_000 };

/** Every process's events as one history (see test/partition/history.ts). */
function mergeHistoryFiles(files: string[]): HistoryEvent[] {
  return mergeHistories(files.map(readHistory));
}

/** Orders of the background traffic: HORUS_VSYNC_ORDERS=fifo,causal,total mixes them (default fbcast). */
const ORDERS = (process.env['HORUS_VSYNC_ORDERS'] ?? 'fifo')
  .split(',')
  .filter((o): o is 'fifo' | 'causal' | 'total' => ['fifo', 'causal', 'total'].includes(o));

describe('virtual synchrony across real processes', () => {
  it(
    `${INITIAL} members, coordinator SIGKILLed, one SIGSTOPped past the timeout, a 6th joins: the merged history passes the checker`,
    { timeout: 120_000 },
    async (t) => {
      const t0 = performance.now();
      const dir = mkdtempSync(join(tmpdir(), 'horus-vsync-'));
      const members: Member[] = [];
      const files: string[] = [];
      const marks: string[] = [];
      const mark = (what: string): void => {
        marks.push(`${((performance.now() - t0) / 1000).toFixed(1)}s ${what}`);
      };
      let ok = false;
      const spawn = (): Member => {
        const m = forkMember(members.length);
        members.push(m);
        files.push(join(dir, `member-${m.index}.jsonl`));
        return m;
      };
      const live = (): Member[] => members.filter((m) => m.alive);
      const statusOf = (ms: Member[]): Promise<DynStatus[]> => Promise.all(ms.map((m) => m.request<'status'>({ cmd: 'status' })));
      const describeStatus = async (ms: Member[]): Promise<string> =>
        (await statusOf(ms.filter((m) => !m.stopped)))
          .map(
            (s) =>
              `${s.memberId} view ${s.view.id} [${s.view.members.join(' ')}] blocked [${s.blockedReasons}] pending ${s.pendingSends} state ${s.count}/${s.digest}`,
          )
          .join('; ');
      /** Every member in `ms` has installed one view, the same, whose members are exactly theirs. */
      const agreeOnView = async (ms: Member[]): Promise<DynStatus[] | null> => {
        const st = await statusOf(ms);
        const first = st[0]!.view;
        const ids = st.map((s) => s.memberId).sort();
        const same = st.every((s) => s.view.id === first.id && s.view.members.join() === first.members.join());
        return same && first.id > 0 && [...first.members].sort().join() === ids.join() ? st : null;
      };
      const waitForView = (ms: Member[], what: string): Promise<number> =>
        waitUntil(async () => (await agreeOnView(ms)) !== null, { timeoutMs: VIEW_TIMEOUT_MS, what, pollMs: 50, detail: () => describeStatus(ms) });

      try {
        // --- five nodes: the first founds the group, the others find it through it (seeds) and join
        for (let i = 0; i < INITIAL; i++) spawn(); // forked at once: loading tsx is the slow part
        const founder = members[0]!;
        await founder.listen({ historyFile: files[0]! });
        await founder.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'names' });
        const joiners = members.slice(1);
        await Promise.all(joiners.map((m) => m.listen({ seeds: [founder.endpoint], historyFile: files[m.index]! })));
        // Traffic starts once two are in: a member alone in its view can lose its own last multicast at
        // a view change (see single-member-flush.test.ts), which this test is not about.
        await joiners[0]!.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'names', create: false, timeoutMs: VIEW_TIMEOUT_MS });
        await Promise.all([founder, joiners[0]!].map((m) => m.request<'traffic'>({ cmd: 'traffic', ...TRAFFIC, orders: ORDERS })));
        // Concurrent joins, while the first two send: they share view changes and get non-empty state.
        await Promise.all(
          joiners.slice(1).map(async (m) => {
            await m.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'names', create: false, timeoutMs: VIEW_TIMEOUT_MS });
            await m.request<'traffic'>({ cmd: 'traffic', ...TRAFFIC, orders: ORDERS });
          }),
        );
        await waitForView(members, `all ${INITIAL} in one view`);
        mark(`${INITIAL} members in one view`);
        // Traffic from everyone for a while.
        const base = (await statusOf(members)).map((s) => s.delivered);
        await waitUntil(async () => (await statusOf(members)).every((s, i) => s.delivered - base[i]! >= 100), {
          timeoutMs: VIEW_TIMEOUT_MS,
          what: 'traffic in the full view',
          detail: () => describeStatus(members),
        });

        // --- SIGKILL the coordinator
        const st = await statusOf(members);
        const coordIndex = st.findIndex((s) => s.memberId === s.view.members[0]);
        assert.ok(coordIndex >= 0, 'some member is the coordinator');
        const coordinator = members[coordIndex]!;
        const coordinatorId = st[coordIndex]!.memberId;
        const killedAt = wallNow();
        coordinator.kill();
        await coordinator.exited;
        mark(`killed the coordinator ${coordinatorId}`);
        await waitForView(live(), 'a view without the killed coordinator');
        const survivorsView = Math.max(...live().map((m) => m.views.find((v) => !v.view.members.includes(coordinatorId))!.t));
        mark(`survivors' view without it after ${Math.round(survivorsView - killedAt)} ms`);

        // --- SIGSTOP another member past the failure timeout, then SIGCONT it
        const st2 = await statusOf(live());
        const coord2 = st2[0]!.view.members[0]!;
        // The most junior member that is not the coordinator.
        const rank = (s: DynStatus): number => st2[0]!.view.members.indexOf(s.memberId);
        const pausedStatus = [...st2].sort((a, b) => rank(b) - rank(a)).find((s) => s.memberId !== coord2)!;
        const paused = members.find((m) => m.endpoint === pausedStatus.endpoint)!;
        const pausedId = pausedStatus.memberId;
        const stoppedAt = performance.now();
        paused.signal('SIGSTOP');
        mark(`stopped ${pausedId}`);
        const others = live().filter((m) => m !== paused);
        await waitForView(others, 'a view without the stopped member');
        mark('the others installed a view without it');
        const left = PAUSE_MS - (performance.now() - stoppedAt);
        if (left > 0) await new Promise((r) => setTimeout(r, left));
        paused.signal('SIGCONT');
        mark(`resumed ${pausedId} after ${Math.round(performance.now() - stoppedAt)} ms`);
        await waitForView(live(), 'the resumed member back in the view as a new member');
        const rejoinedId = (await paused.request<'status'>({ cmd: 'status' })).memberId;
        assert.notEqual(rejoinedId, pausedId, 'the resumed member rejoined under a new member id');
        assert.ok(paused.exclusions.length >= 1, 'the resumed member learnt it was excluded');
        mark(`it rejoined as ${rejoinedId}`);

        // --- a sixth node joins with state
        const sixth = spawn();
        await sixth.listen({
          seeds: live()
            .filter((m) => m !== sixth)
            .map((m) => m.endpoint),
          historyFile: files[sixth.index]!,
        });
        const joined = await sixth.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'names', create: false, timeoutMs: VIEW_TIMEOUT_MS });
        await sixth.request<'traffic'>({ cmd: 'traffic', ...TRAFFIC, orders: ORDERS });
        assert.ok(joined.stateSize > 0, 'the sixth node got a non-empty state');
        mark(`6th node joined as ${joined.memberId} in ${Math.round(joined.elapsedMs)} ms with ${joined.stateSize} messages of state`);
        await waitForView(live(), 'all live members with the sixth');
        const base6 = (await statusOf(live())).map((s) => s.delivered);
        await waitUntil(async () => (await statusOf(live())).every((s, i) => s.delivered - base6[i]! >= 100), {
          timeoutMs: VIEW_TIMEOUT_MS,
          what: 'traffic with the sixth',
          detail: () => describeStatus(live()),
        });

        // --- stop traffic, let everything settle: one view, nothing held, the same state everywhere
        await Promise.all(live().map((m) => m.request<'traffic'>({ cmd: 'traffic', intervalMs: 0, size: 0 })));
        mark('traffic stopped');
        let final: DynStatus[] = [];
        await waitUntil(
          async () => {
            const s = await agreeOnView(live());
            if (s === null) return false;
            final = s;
            return s.every(
              (x) => x.blockedReasons.length === 0 && !x.flowBlocked && x.pendingSends === 0 && x.count === s[0]!.count && x.digest === s[0]!.digest,
            );
          },
          { timeoutMs: VIEW_TIMEOUT_MS, what: 'the live members to settle on one view and one state', detail: () => describeStatus(live()) },
        );
        mark('settled');

        // --- the final view: exactly the live processes, the resumed one under its new id
        const liveIds = final.map((s) => s.memberId).sort();
        assert.equal(liveIds.length, INITIAL, `${INITIAL} live members (5 - killed + 6th)`);
        const finalView = final[0]!.view;
        assert.deepEqual([...finalView.members].sort(), liveIds, 'the final view holds exactly the live members');
        assert.ok(!finalView.members.includes(coordinatorId), 'the killed coordinator is gone');
        assert.ok(!finalView.members.includes(pausedId), 'the paused member is not back under its old id');
        assert.ok(finalView.members.includes(rejoinedId), 'the paused member is in under its new id');
        assert.match(rejoinedId, /~\d+$/, 'a rejoined member id is nodeId~n');
        for (const s of final) assert.deepEqual(s.errors, [], `${s.memberId} reported errors`);
        for (const m of members) assert.deepEqual(m.fatal, [], `member ${m.index} reported a fatal error`);

        // --- the merged history
        const events = mergeHistoryFiles(files);
        const violations = checkVirtualSynchrony(events, GROUP);
        checkOrder(events, GROUP, violations);
        const count = (k: HistoryEvent['k']): number => events.filter((e) => e.k === k).length;
        const views = new Set(events.filter((e) => e.k === 'view').map((e) => (e as { view: number }).view));
        const stateEvents = events.filter((e): e is Extract<HistoryEvent, { k: 'state' }> => e.k === 'state');
        t.diagnostic(marks.join(' | '));
        t.diagnostic(
          `history (${ORDERS.join('/')} traffic): ${events.length} events, ${count('send')} sends, ${count('deliver')} deliveries, ${views.size} views (last ${finalView.id}), ` +
            `${stateEvents.length} state transfers (${stateEvents.map((e) => e.count).join(', ')} messages), final state ${final[0]!.count} messages`,
        );
        assert.deepEqual(violations.items, [], `${violations.total} virtual synchrony violations`);
        // Liveness in the final view: whatever was sent in it reached every live member.
        const sentFinal = events.filter((e) => e.k === 'send' && e.view === finalView.id).map((e) => (e as { msg: string }).msg);
        for (const id of liveIds) {
          const got = new Set(events.filter((e) => e.k === 'deliver' && e.node === id && e.view === finalView.id).map((e) => (e as { msg: string }).msg));
          const missing = sentFinal.filter((m) => !got.has(m));
          assert.deepEqual(missing.slice(0, 5), [], `${id} never delivered ${missing.length} of the ${sentFinal.length} messages sent in the final view`);
        }
        // Four initial joiners, the rejoin, the sixth: each recorded its state at its first view.
        assert.ok(stateEvents.length >= INITIAL + 1, `state events: ${stateEvents.length}`);
        assert.ok(
          stateEvents.some((e) => e.node === rejoinedId && e.count > 0),
          'the rejoined member got state',
        );
        t.diagnostic(`whole test ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        ok = true;
      } finally {
        // SIGKILL everything (a stopped process too); histories were flushed by the last status calls.
        await Promise.all(members.map((m) => m.close(0)));
        if (ok) rmSync(dir, { recursive: true, force: true });
        else t.diagnostic(`histories kept in ${dir}; ${marks.join(' | ')}`);
      }
    },
  );
});
