// Attacks over real sockets against a 3-node dynamic group with traffic (issue #8): forged leave,
// forged gbcast, phantom joins, a malformed cut and flush reply, slow partial frames, 5,000
// connections and 64 MiB of future-view NAK data. The attacker has nothing but the project's codec
// and a TCP socket (test/helpers/attacker.ts). After each attack: every node is up, its RSS is within
// 100 MiB of its value before the attacks, no view lost a real member or gained a phantom, and
// messages sent after the attack reach every member. HORUS_ATTACKS=name,name runs only those.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HistoryEvent } from '../../src/core/history.js';
import { messageName } from '../../src/core/history.js';
import { nodeOfMember } from '../../src/core/member-id.js';
import { parseEndpoint } from '../../src/core/node-id.js';
import {
  GmsKind,
  closedWithin,
  forgedGbcastBody,
  gmsMessage,
  groupFrame,
  lengthPrefix,
  nakDataMessage,
  openMany,
  rawConnect,
  writeAll,
} from '../helpers/attacker.js';
import { forkMember, waitUntil, type Member } from '../helpers/cluster.js';
import type { DynStatus, Summary } from '../helpers/member-process.js';
import { wallNow } from '../../src/obs/wall-clock.js';

const GROUP = 'atk';
const SIZE = 3;
const MiB = 1024 * 1024;
const RSS_SLACK = 100 * MiB;
const TRAFFIC = { intervalMs: 20, size: 64 };
/** Messages each member sends after an attack that must reach every member. */
const PROBE = 5;
const DELIVERY_TIMEOUT_MS = 10_000;
const VIEW_TIMEOUT_MS = 15_000;
/** An id the attacker announces: nothing listens on port 7, so replies the node sends it fail fast. */
const ATTACKER_ID = '127.0.0.2:7/attacker';

const mib = (n: number): string => `${(n / MiB).toFixed(0)} MiB`;
const portOf = (m: Member): number => parseEndpoint(m.endpoint).port;

/** One member's history file, read as it grows. */
class HistoryTail {
  private offset = 0;
  private rest = '';
  /** Sends in order: [wall-clock ms, message name]. */
  readonly sends: [number, string][] = [];
  readonly delivered = new Set<string>();
  faults = 0;
  constructor(readonly file: string) {}
  poll(): void {
    const fd = openSync(this.file, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.rest + buf.toString('utf8', 0, n);
        const lines = text.split('\n');
        this.rest = lines.pop()!;
        for (const line of lines) {
          if (line === '') continue;
          const e = JSON.parse(line) as HistoryEvent;
          if (e.k === 'send') this.sends.push([e.at, e.msg]);
          else if (e.k === 'deliver') this.delivered.add(e.msg);
          else if (e.k === 'fault') this.faults++;
        }
      }
    } finally {
      closeSync(fd);
    }
  }
}

interface Snapshot {
  summary: Summary;
  status: DynStatus;
}

interface AttackContext {
  members: Member[];
  /** The member that coordinates the current view, and the others. */
  coordinator: Member;
  others: Member[];
  status: DynStatus[];
  /** Lines for the report: what the attacker did and saw. */
  note(line: string): void;
}

interface Attack {
  name: string;
  run(ctx: AttackContext): Promise<void>;
  /** Checks specific to the attack, after the common ones. */
  check?(ctx: AttackContext, tails: HistoryTail[]): void;
}

// --- the attacks -------------------------------------------------------------------------------------

const FORGED_APP_ID = 987_654_321;

const attacks: Attack[] = [
  {
    name: 'slow partial frames',
    async run({ others, note }) {
      const target = others[0]!;
      const sockets: net.Socket[] = [];
      for (let i = 0; i < 20; i++) {
        const s = await rawConnect(portOf(target), { localAddress: '127.0.0.2', hello: `127.0.0.2:${10 + i}/slow${i}` });
        // A 16 MiB frame announced, 64 KiB of it sent, then 16 bytes every 100 ms: never idle.
        s.write(Buffer.concat([lengthPrefix(16 * MiB), Buffer.alloc(64 * 1024, 0x5a)]));
        sockets.push(s);
      }
      const trickle = setInterval(() => {
        for (const s of sockets) if (!s.destroyed) s.write(Buffer.alloc(16, 0x5a));
      }, 100);
      const t0 = performance.now();
      try {
        const closed = await Promise.all(sockets.map((s) => closedWithin(s, 15_000)));
        const ms = performance.now() - t0;
        note(`20 trickling connections to ${target.endpoint}: ${closed.filter(Boolean).length} closed by the node within ${(ms / 1000).toFixed(1)} s`);
        assert.ok(
          closed.every((c) => c),
          `${closed.filter((c) => !c).length} of 20 trickling connections still open after 15 s`,
        );
      } finally {
        clearInterval(trickle);
        for (const s of sockets) s.destroy();
      }
    },
  },
  {
    name: '5,000 connections',
    async run({ coordinator, note }) {
      const target = coordinator;
      const addresses = Array.from({ length: 20 }, (_, i) => `127.0.0.${i + 2}`);
      const t0 = performance.now();
      // Half announce themselves (they would hold a connection slot), half stay silent (a handshake slot).
      const { sockets, failed } = await openMany(portOf(target), 5000, addresses, (i) =>
        i % 2 === 0 ? `127.0.0.${(i % 20) + 2}:${1 + (i % 6)}/flood${i}` : null,
      );
      await sleep(500);
      // While the flood holds its connections, a newcomer from another address still gets its HELLO answered.
      const newcomer = await rawConnect(portOf(target), { localAddress: '127.0.0.1', hello: '127.0.0.1:5/newcomer' });
      const answered = await Promise.race([once(newcomer, 'data').then(() => true), sleep(3000).then(() => false)]);
      newcomer.destroy();
      const during = (await target.summary()).transport!;
      const open = sockets.filter((s) => !s.destroyed).length;
      note(
        `5,000 connections from 20 addresses in ${((performance.now() - t0) / 1000).toFixed(1)} s (${failed} failed to connect); ` +
          `the node held ${during.openInbound} inbound (${during.openUnauthenticated} in handshake), ${open} still open on the attacker's side`,
      );
      for (const s of sockets) s.destroy();
      assert.ok(during.openInbound <= 1024, `the node holds ${during.openInbound} inbound connections`);
      assert.ok(answered, 'a newcomer from another address got no HELLO answer during the flood');
    },
  },
  {
    name: '64 MiB of future-view NAK data',
    async run({ others, status, note }) {
      const target = others[0]!;
      const viewId = status[0]!.view.id;
      const s = await rawConnect(portOf(target), { localAddress: '127.0.0.2', hello: ATTACKER_ID });
      const payload = Buffer.alloc(655, 0x42);
      let seq = 0;
      let bytes = 0;
      const t0 = performance.now();
      // 1,024 frames of 100 messages of 655 bytes: 64 MiB, numbered in a view far ahead.
      for (let f = 0; f < 1024 && !s.destroyed; f++) {
        const msgs = [];
        for (let i = 0; i < 100; i++) msgs.push(nakDataMessage(viewId + 1000, ++seq, payload));
        const frame = groupFrame(GROUP, msgs);
        bytes += frame.length;
        await writeAll(s, frame);
      }
      note(
        `${mib(bytes)} in ${seq} NAK data messages for view ${viewId + 1000} sent to ${target.endpoint} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      await sleep(500);
      s.destroy();
    },
  },
  {
    name: 'forged gbcast',
    async run({ coordinator, others, note }) {
      const victim = others[0]!;
      const s = await rawConnect(portOf(coordinator), { localAddress: '127.0.0.2', hello: ATTACKER_ID });
      const body = forgedGbcastBody(victim.memberId, 999_999, FORGED_APP_ID, Buffer.from('forged by a stranger'));
      s.write(groupFrame(GROUP, [gmsMessage(coordinator.memberId, GmsKind.Gbcast, body)]));
      note(`a Gbcast keyed ${body.key} (a message "from" ${victim.memberId}) sent to the coordinator ${coordinator.memberId}`);
      // A gbcast is delivered at the next view change, which the coordinator starts at once.
      await sleep(2000);
      s.destroy();
    },
    check({ others }, tails) {
      const forged = messageName(others[0]!.memberId, FORGED_APP_ID);
      const at = tails.flatMap((t, i) => (t.delivered.has(forged) ? [i] : []));
      assert.deepEqual(at, [], `members ${at.join(', ')} delivered the forged gbcast ${forged}`);
    },
  },
  {
    name: 'forged leave',
    async run({ coordinator, others, note }) {
      const victim = others[0]!;
      const s = await rawConnect(portOf(coordinator), { localAddress: '127.0.0.2', hello: ATTACKER_ID });
      s.write(groupFrame(GROUP, [gmsMessage(coordinator.memberId, GmsKind.LeaveReq, { member: victim.memberId })]));
      note(`a LeaveReq naming ${victim.memberId} sent to the coordinator ${coordinator.memberId}`);
      await sleep(1500);
      s.destroy();
    },
  },
  {
    name: 'malformed cut and flush reply',
    async run({ members, status, note }) {
      const viewId = status[0]!.view.id;
      // The right view id, so the message is not dropped as stale; every other field of the wrong type.
      const cut = { view: viewId, a: { n: 2 ** 31, coord: ATTACKER_ID }, p: { members: 'everyone', cut: 7, holders: { x: 1 }, gb: 'no' } };
      const flushOk = { view: viewId, a: 'attempt', digest: 42, accepted: { a: 1, p: 'proposal' }, hasState: 'yes' };
      const sockets: net.Socket[] = [];
      for (const m of members) {
        const s = await rawConnect(portOf(m), { localAddress: '127.0.0.2', hello: ATTACKER_ID });
        s.write(groupFrame(GROUP, [gmsMessage(m.memberId, GmsKind.Cut, cut), gmsMessage(m.memberId, GmsKind.FlushOk, flushOk)]));
        sockets.push(s);
      }
      note(`a Cut and a FlushOk for view ${viewId} with fields of the wrong types sent to all ${members.length} members`);
      await sleep(1500);
      for (const s of sockets) s.destroy();
    },
  },
  {
    name: 'phantom joins',
    async run({ coordinator, note }) {
      const phantoms = Array.from({ length: 5 }, (_, i) => `127.0.0.9:${2000 + i}/phantom${i}`);
      const s = await rawConnect(portOf(coordinator), { localAddress: '127.0.0.2', hello: ATTACKER_ID });
      s.write(
        groupFrame(
          GROUP,
          phantoms.map((p) => gmsMessage(coordinator.memberId, GmsKind.JoinReq, { member: p })),
        ),
      );
      note(`one frame with ${phantoms.length} JoinReq for processes that do not exist sent to the coordinator ${coordinator.memberId}`);
      await sleep(1500);
      s.destroy();
    },
  },
];

const only = (process.env['HORUS_ATTACKS'] ?? '')
  .split(',')
  .map((s) => s.trim().toLowerCase())
  .filter((s) => s !== '');
const selected = only.length === 0 ? attacks : attacks.filter((a) => only.some((o) => a.name.toLowerCase().replace(',', '').includes(o)));

/** Counters worth reporting: what a node dropped, refused or closed, and the view changes it made. */
const INTERESTING = /dropped|malformed|refused|evicted|timeout|slow|closed|unknown_group|views_total|flushes_total|handlerErrors/i;

function counterDeltas(before: Summary, after: Summary): string {
  const out: string[] = [];
  const flat = (s: Summary): Record<string, number> => {
    const r: Record<string, number> = { ...s.metrics.counters };
    for (const [k, v] of Object.entries(s.transport ?? {})) if (typeof v === 'number') r[`tcp.${k}`] = v;
    return r;
  };
  const a = flat(before);
  const b = flat(after);
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d !== 0 && INTERESTING.test(k)) out.push(`${k.replace(/^horus_/, '')} +${d}`);
  }
  return out.length > 0 ? out.join(', ') : 'no drop counters moved';
}

describe('attacks over real sockets against a 3-node dynamic group', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'horus-attacks-'));
  const members: Member[] = [];
  const tails: HistoryTail[] = [];
  let realNodes: string[] = [];
  let baselineRss: number[] = [];
  let started = 0;

  const statusOf = (): Promise<DynStatus[]> => Promise.all(members.map((m) => m.request<'status'>({ cmd: 'status' })));
  const describeStatus = async (): Promise<string> =>
    (await statusOf()).map((s) => `${s.memberId} view ${s.view.id} [${s.view.members.join(' ')}] blocked [${s.blockedReasons}]`).join('; ');

  /** All members in one view, with one member per real node and nothing else. */
  const agreed = async (): Promise<DynStatus[] | null> => {
    const st = await statusOf();
    const v = st[0]!.view;
    const same = st.every((s) => s.view.id === v.id && s.view.members.join() === v.members.join());
    const nodes = v.members.map((m) => nodeOfMember(m)).sort();
    return same && nodes.join() === realNodes.join() ? st : null;
  };

  before(async () => {
    started = performance.now();
    for (let i = 0; i < SIZE; i++) members.push(forkMember(i));
    const files = members.map((m) => join(dir, `member-${m.index}.jsonl`));
    const [founder, ...joiners] = members as [Member, ...Member[]];
    await founder.listen({ logLevel: 'error', historyFile: files[0]! });
    founder.memberId = (await founder.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'names' })).memberId;
    await Promise.all(joiners.map((m) => m.listen({ logLevel: 'error', seeds: [founder.endpoint], historyFile: files[m.index]! })));
    for (const m of joiners) {
      m.memberId = (await m.request<'djoin'>({ cmd: 'djoin', group: GROUP, state: 'names', create: false, timeoutMs: VIEW_TIMEOUT_MS })).memberId;
    }
    realNodes = members.map((m) => nodeOfMember(m.memberId)).sort();
    await waitUntil(async () => (await agreed()) !== null, { timeoutMs: VIEW_TIMEOUT_MS, what: 'all three in one view', detail: describeStatus });
    await Promise.all(members.map((m) => m.request<'traffic'>({ cmd: 'traffic', ...TRAFFIC })));
    for (const f of files) tails.push(new HistoryTail(f));
    await sleep(1000);
    baselineRss = (await Promise.all(members.map((m) => m.summary()))).map((s) => s.rss);
  });

  after(async () => {
    process.stderr.write(`attacks: ${selected.length} in ${((performance.now() - started) / 1000).toFixed(1)} s with the cluster start\n`);
    await Promise.all(members.map((m) => m.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every member delivers PROBE messages of every member sent after `since`. */
  async function assertDelivering(since: number): Promise<number> {
    return waitUntil(
      () => {
        for (const t of tails) t.poll();
        return tails.every((sender) => {
          const fresh = sender.sends.filter(([at]) => at > since).slice(0, PROBE);
          return fresh.length === PROBE && tails.every((receiver) => fresh.every(([, msg]) => receiver.delivered.has(msg)));
        });
      },
      {
        timeoutMs: DELIVERY_TIMEOUT_MS,
        what: `${PROBE} messages from every member, sent after the attack, delivered at every member`,
        pollMs: 100,
        detail: async () => {
          const per = tails.map((s, i) => `member ${i} sent ${s.sends.filter(([at]) => at > since).length} since`).join(', ');
          return `${per}; ${await describeStatus()}`;
        },
      },
    );
  }

  for (const attack of selected) {
    it(attack.name, async (t: TestContext) => {
      const status = await statusOf();
      // Member ids change when a member is excluded and rejoins: keep the handles current.
      status.forEach((s, i) => (members[i]!.memberId = s.memberId));
      const coordIndex = members.findIndex((m) => m.memberId === status[0]!.view.members[0]);
      const coordinator = members[coordIndex] ?? members[0]!;
      const ctx: AttackContext = {
        members,
        coordinator,
        others: members.filter((m) => m !== coordinator),
        status,
        note: (line) => t.diagnostic(line),
      };
      const viewsBefore = members.map((m) => m.views.length);
      const before: Snapshot[] = await Promise.all(members.map(async (m, i) => ({ summary: await m.summary(), status: status[i]! })));
      const t0 = performance.now();

      let attackError: unknown = null;
      try {
        await attack.run(ctx);
      } catch (err) {
        attackError = err;
      }
      const since = wallNow();
      const attackMs = performance.now() - t0;

      // Let a view change the attack may have started finish before judging the views.
      let delivery: unknown = null;
      let deliveredMs = 0;
      try {
        deliveredMs = await assertDelivering(since);
      } catch (err) {
        delivery = err;
      }
      const up = members.map((m) => m.alive && m.fatal.length === 0);
      const afterSummaries = await Promise.all(members.map((m, i) => (up[i] ? m.summary() : Promise.resolve(null))));
      const newViews = members.flatMap((m, i) => m.views.slice(viewsBefore[i]!).map((v) => ({ at: i, view: v.view })));
      const finalStatus = await statusOf().catch(() => null);

      t.diagnostic(
        `${attack.name}: attack ${(attackMs / 1000).toFixed(1)} s, then ${delivery === null ? `delivering again within ${(deliveredMs / 1000).toFixed(1)} s` : 'NOT delivering'}`,
      );
      members.forEach((m, i) => {
        const a = afterSummaries[i];
        const role = m === coordinator ? 'coordinator' : 'member';
        if (a === null || a === undefined) {
          t.diagnostic(`  node ${i} (${role}) DOWN: ${m.fatal.join('; ').slice(0, 300)}`);
          return;
        }
        t.diagnostic(
          `  node ${i} (${role}): RSS ${mib(before[i]!.summary.rss)} -> ${mib(a.rss)} (baseline ${mib(baselineRss[i]!)}); ${counterDeltas(before[i]!.summary, a)}` +
            (tails[i]!.faults > 0 ? `; ${tails[i]!.faults} contained faults so far` : ''),
        );
      });
      for (const { at, view } of newViews) t.diagnostic(`  node ${at} installed view ${view.id} [${view.members.join(' ')}]`);

      // --- the verdict
      if (attackError !== null) throw attackError;
      assert.deepEqual(
        members.flatMap((m, i) => (up[i] ? [] : [`node ${i}: ${m.alive ? 'threw' : 'exited'} ${m.fatal.join('; ').slice(0, 300)}`])),
        [],
        'every node stays up',
      );
      members.forEach((_, i) => {
        const rss = afterSummaries[i]!.rss;
        assert.ok(rss - baselineRss[i]! <= RSS_SLACK, `node ${i}: RSS ${mib(rss)} is more than 100 MiB over its ${mib(baselineRss[i]!)} before the attacks`);
      });
      for (const { at, view } of newViews) {
        const nodes = view.members.map((m) => nodeOfMember(m));
        const lost = realNodes.filter((n) => !nodes.includes(n));
        const phantoms = nodes.filter((n) => !realNodes.includes(n));
        assert.deepEqual(lost, [], `node ${at} installed view ${view.id} without real members`);
        assert.deepEqual(phantoms, [], `node ${at} installed view ${view.id} with phantoms`);
      }
      if (delivery !== null) throw delivery;
      assert.ok(finalStatus !== null && (await agreed()) !== null, `the members do not agree on a view of the three: ${await describeStatus()}`);
      attack.check?.(ctx, tails);
    });
  }
});
