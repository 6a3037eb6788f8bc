// Fast crash detection with real processes on loopback (default stack and timeouts):
// - kill -9 of a member (coordinator and junior member in turn): the survivors' view without it
//   comes from the transport's proof that the process is gone (its port refuses), not from the
//   heartbeat timeout: the median over the rounds stays well under the timeout;
// - a member whose connections are reset (root: `ss -K`) but which reconnects is not excluded;
// - a SIGSTOPped member does not look dead: it is excluded only after the normal timeout.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { forkMember, median, waitUntil, type Member } from '../helpers/cluster.js';
import type { DynStatus } from '../helpers/member-process.js';
import type { LogLevel } from '../../src/core/logger.js';
import { ContainedEnv } from '../../src/stack/contained-env.js';
import { wallNow } from '../../src/obs/wall-clock.js';

const GROUP = 'fd';
const TIMEOUT_MS = 20_000;
/** FD's default suspectTimeoutMs: what the fast path must beat, and what a paused member must wait out. */
const SUSPECT_TIMEOUT_MS = 1000;
const ROUNDS = Number(process.env.HORUS_FD_ROUNDS ?? 10);
/** The members' log level (HORUS_FD_LOG=debug shows when each learnt what). */
const LOG = (process.env.HORUS_FD_LOG ?? 'error') as LogLevel;

async function statuses(ms: readonly Member[]): Promise<DynStatus[]> {
  return Promise.all(ms.map((m) => m.request<'status'>({ cmd: 'status' })));
}

/** All of `ms` in one view whose members are exactly them. */
async function waitForAgreedView(ms: readonly Member[], what: string): Promise<DynStatus[]> {
  let st: DynStatus[] = [];
  await waitUntil(
    async () => {
      st = await statuses(ms);
      const v = st[0]!.view;
      return (
        v.id > 0 &&
        st.every((s) => s.view.id === v.id && s.view.members.join() === v.members.join()) &&
        [...v.members].sort().join() ===
          st
            .map((s) => s.memberId)
            .sort()
            .join()
      );
    },
    { timeoutMs: TIMEOUT_MS, what, pollMs: 20, detail: () => JSON.stringify(st.map((s) => [s.memberId, s.view.id, s.view.members])) },
  );
  return st;
}

async function startGroup(n: number, spawn: () => Member): Promise<Member[]> {
  const ms = Array.from({ length: n }, spawn);
  await ms[0]!.listen({ logLevel: LOG });
  await ms[0]!.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'none' });
  await Promise.all(ms.slice(1).map((m) => m.listen({ logLevel: LOG, seeds: [ms[0]!.endpoint] })));
  for (const m of ms.slice(1)) await m.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'none', create: false, timeoutMs: TIMEOUT_MS });
  await waitForAgreedView(ms, `${n} members in one view`);
  return ms;
}

/** Wall-clock ms from `since` to each of `ms` installing a view without `gone`, once all have. */
async function installsWithout(ms: readonly Member[], seen: readonly number[], gone: string, since: number): Promise<number[]> {
  const installs: number[] = [];
  await waitUntil(
    () => {
      installs.length = 0;
      ms.forEach((m, i) => {
        const v = m.views.slice(seen[i]).find((x) => !x.view.members.includes(gone));
        if (v !== undefined) installs.push(v.t - since);
      });
      return installs.length === ms.length;
    },
    { timeoutMs: TIMEOUT_MS, what: `the survivors' view without ${gone}`, pollMs: 5 },
  );
  return installs;
}

/** The stack's env hands the transport's peer events to FD (the fast path needs it). */
const stackSeesPeerEvents = typeof (ContainedEnv.prototype as { watchPeers?: unknown }).watchPeers === 'function';

/** `ss -K` (root, and a kernel with socket destroy) kills the TCP connections on a port. */
function resetConnections(port: number): number | null {
  try {
    const out = execFileSync('ss', ['-K', '-t', '-n', 'state', 'established', `( sport = :${port} or dport = :${port} )`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return out.split('\n').filter((l) => l.includes(`:${port}`)).length;
  } catch {
    return null;
  }
}

const portOf = (endpoint: string): number => Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));

describe('fast crash detection (real processes)', { timeout: 300_000 }, () => {
  it(`kill -9 to the survivors' new view over ${ROUNDS} rounds: median well under the heartbeat timeout`, { timeout: 240_000 }, async (t) => {
    if (!stackSeesPeerEvents) return t.skip('ContainedEnv does not pass watchPeers through yet: FD gets no peer events in a stack');
    const procs: Member[] = [];
    const spawn = (): Member => {
      const m = forkMember(procs.length);
      procs.push(m);
      return m;
    };
    try {
      let group = await startGroup(3, spawn);
      const last: number[] = [];
      const first: number[] = [];
      for (let k = 0; k < ROUNDS; k++) {
        const st = await waitForAgreedView(group, `3 members before round ${k + 1}`);
        const view = st[0]!.view;
        const role = k % 2 === 0 ? 'coordinator' : 'member';
        const victimId = role === 'coordinator' ? view.members[0]! : view.members.at(-1)!;
        const victim = group[st.findIndex((s) => s.memberId === victimId)]!;
        const survivors = group.filter((m) => m !== victim);
        // The replacement is started first, so no process start takes CPU while the crash is detected.
        const spare = spawn();
        await spare.listen({ logLevel: LOG, seeds: survivors.map((m) => m.endpoint) });
        await new Promise((r) => setTimeout(r, 300)); // heartbeats flowing, nothing pending
        const seen = survivors.map((m) => m.views.length);
        const killedAt = wallNow();
        victim.kill();
        const installs = await installsWithout(survivors, seen, victimId, killedAt);
        last.push(Math.max(...installs));
        first.push(Math.min(...installs));
        console.log(`round ${k + 1} (${role}): kill -9 -> view without it: ${installs.map((x) => Math.round(x)).join(' / ')} ms`);
        await victim.exited;
        await spare.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'none', create: false, timeoutMs: TIMEOUT_MS });
        group = [...survivors, spare];
      }
      const med = median(last);
      console.log(
        `kill -9 -> new view (last survivor), ms: median ${Math.round(med)}, max ${Math.round(Math.max(...last))}, first survivor median ${Math.round(median(first))}; samples ${last.map(Math.round).join(' ')}`,
      );
      // Generous for a loaded 2-core CI machine; the heartbeat path alone takes over 1000 ms.
      assert.ok(med < 600, `median kill -> view ${Math.round(med)} ms, expected < 600 ms`);
    } finally {
      await Promise.all(procs.map((m) => m.close(500)));
    }
  });

  it('a member whose connections are reset but which reconnects is not excluded', { timeout: 120_000 }, async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root (ss -K kills the connections)');
    const procs: Member[] = [];
    const spawn = (): Member => {
      const m = forkMember(procs.length);
      procs.push(m);
      return m;
    };
    try {
      const group = await startGroup(3, spawn);
      const before = await waitForAgreedView(group, '3 members');
      const target = group[2]!;
      let resets = 0;
      for (let i = 0; i < 3; i++) {
        const n = resetConnections(portOf(target.endpoint));
        if (n === null) return t.skip('ss -K is not available (kernel without socket destroy)');
        resets += n;
        await new Promise((r) => setTimeout(r, 200));
      }
      if (resets === 0) return t.skip('ss -K killed no connection here');
      console.log(`reset ${resets} connections of ${target.endpoint} in 3 bursts`);
      // Longer than the heartbeat timeout and the lease: an exclusion would have happened by now.
      await new Promise((r) => setTimeout(r, 2 * SUSPECT_TIMEOUT_MS + 500));
      const after = await waitForAgreedView(group, 'the same 3 members');
      assert.equal(after[0]!.view.id, before[0]!.view.id, 'no view change: nobody was excluded');
      assert.equal(target.exclusions.length, 0);
    } finally {
      await Promise.all(procs.map((m) => m.close(500)));
    }
  });

  it('a SIGSTOPped member is excluded only after the normal timeout', { timeout: 120_000 }, async () => {
    const procs: Member[] = [];
    const spawn = (): Member => {
      const m = forkMember(procs.length);
      procs.push(m);
      return m;
    };
    try {
      const group = await startGroup(3, spawn);
      const st = await waitForAgreedView(group, '3 members');
      const pausedId = st[0]!.view.members.at(-1)!;
      const paused = group[st.findIndex((s) => s.memberId === pausedId)]!;
      const others = group.filter((m) => m !== paused);
      await new Promise((r) => setTimeout(r, 300));
      const seen = others.map((m) => m.views.length);
      const stoppedAt = wallNow();
      paused.signal('SIGSTOP');
      const installs = await installsWithout(others, seen, pausedId, stoppedAt);
      console.log(`SIGSTOP -> view without it: ${installs.map(Math.round).join(' / ')} ms`);
      paused.signal('SIGCONT');
      // Suspected no sooner than suspectTimeoutMs after it was last heard (at most a heartbeat before the stop).
      assert.ok(Math.min(...installs) >= SUSPECT_TIMEOUT_MS - 200, `excluded after ${Math.round(Math.min(...installs))} ms: before the timeout`);
    } finally {
      await Promise.all(procs.map((m) => m.close(500)));
    }
  });
});
