import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Message, MsgFlag, type HeaderType } from '../../../src/core/message.js';
import { FD, relayRoundsOf, relaysOf } from '../../../src/layers/FD.js';
import { encodeRelayDown, FD_RELAY_HEADER, RELAY_DOWN } from '../../../src/layers/fd/relay-beat.js';
import { framesIn, loseFrames, simGroup } from '../../helpers/sim-group.js';
import { dropped, forged, layerOf } from './hostile-peer.js';

// leaseMs = 400 − 2 × 25 − 100 = 250; fastDetection off, so only beats (direct or relayed) tell life from death.
const fdStack = (relayFrom: number) => [
  { name: 'FD', options: { heartbeatIntervalMs: 25, suspectTimeoutMs: 400, fastDetection: false, relayFrom } },
  'NAK',
  'COM',
];

/** The view index of the first relay: the coordinator (index 0) is none. */
const RELAY_0 = 1;

/** From now on, per relay (view indices 1-3), how many tables it multicasts (the array fills as they go). */
function tablesSent(s: ReturnType<typeof simGroup>): number[] {
  const tables = [0, 0, 0];
  for (let j = 0; j < 3; j++) {
    const fd = layerOf(s.groups[RELAY_0 + j]!, FD) as unknown as { below: { down(m: { dest: string | null }): void } };
    const below = fd.below;
    const down = below.down.bind(below);
    below.down = (m) => {
      if (m.dest === null) tables[j]!++;
      down(m);
    };
  }
  return tables;
}

const total = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * After `dead` crashed: for `ms`, sampled every 5 ms, every survivor holds its lease (one lost even
 * for a moment would show); then each suspects exactly the dead, and the group idles at about 2n
 * frames an interval of 100 ms (not the n² of direct beats).
 */
function survivorsCarryOn(s: ReturnType<typeof simGroup>, dead: readonly number[], ms: number): void {
  const n = s.groups.length;
  const victims = dead.map((i) => s.groups[i]!.localId).sort();
  for (let t = 0; t < ms; t += 5) {
    s.world.runFor(5);
    for (let i = 0; i < n; i++) if (!dead.includes(i)) assert.equal(layerOf(s.groups[i]!, FD).holdsLease, true, `member ${i} at +${t + 5} ms`);
  }
  for (let i = 0; i < n; i++) if (!dead.includes(i)) assert.deepEqual([...layerOf(s.groups[i]!, FD).suspectedMembers].sort(), victims, `member ${i}`);
  const perInterval = framesIn(s, 2000) / 20;
  assert.ok(perInterval <= 2.5 * n, `after the crash: ${perInterval} per interval`);
}

describe('FD relayed heartbeats (large views)', () => {
  it('beats through relays from relayFrom members up: O(n) frames per interval where all-to-all costs n²', () => {
    const n = 24;
    const relayed = simGroup(n, fdStack(16));
    const direct = simGroup(n, fdStack(1000));
    relayed.world.runFor(500);
    direct.world.runFor(500);
    assert.equal(layerOf(relayed.groups[5]!, FD).isRelayed, true);
    assert.equal(layerOf(direct.groups[5]!, FD).isRelayed, false);
    const perIntervalRelayed = framesIn(relayed, 1000) / 40;
    const perIntervalDirect = framesIn(direct, 1000) / 40;
    assert.ok(perIntervalDirect >= n * (n - 1) * 0.9, `all-to-all: ${perIntervalDirect} per interval`);
    // Each member answers each round with its beat to the relay whose turn is next, and that relay
    // multicasts to n − 1: about 2n (2.5n with a standby beat every 4th interval, 6n in all before).
    assert.ok(perIntervalRelayed <= 2.3 * n, `relayed: ${perIntervalRelayed} per interval`);
    for (const g of relayed.groups) {
      const fd = layerOf(g, FD);
      assert.equal(fd.holdsLease, true, 'every member renews its lease through the relays');
      assert.deepEqual(fd.suspectedMembers, [], 'nobody suspected in a quiet relayed group');
    }
  });

  it('leaves a view below relayFrom exactly as before: the same frames as with relaying off', () => {
    const s = simGroup(5, fdStack(16));
    const off = simGroup(5, fdStack(1000));
    s.world.runFor(1000);
    off.world.runFor(1000);
    for (const g of s.groups) assert.equal(layerOf(g, FD).isRelayed, false);
    assert.deepEqual(s.world.stats, off.world.stats);
  });

  it('a tick that runs two intervals late does not fall back to direct beats; an on-time tick with no table for three intervals does', () => {
    const s = simGroup(20, fdStack(16));
    s.world.runFor(500);
    type Inside = { lastTick: number; lastDownAt: number; tick(): void; heartbeat(to?: string | null): void; env: { now(): number } };
    const fd = layerOf(s.groups[10]!, FD) as unknown as Inside;
    // Count the beats to the whole view (direct beats) this member sends.
    let direct = 0;
    const heartbeat = fd.heartbeat.bind(fd);
    fd.heartbeat = (to: string | null = null): void => {
      if (to === null) direct++;
      heartbeat(to);
    };
    const now = fd.env.now();
    // Starved: this tick is 5 intervals late, and no table was read meanwhile (they wait behind it).
    fd.lastTick = now - 5 * 25;
    fd.lastDownAt = now - 5 * 25;
    fd.tick();
    assert.equal(direct, 0, 'a late tick beats the relays only');
    // On time, and still no table for 5 intervals: the relays are gone for us, beat the view directly.
    fd.lastTick = now - 25;
    fd.tick();
    assert.equal(direct, 1, 'an on-time tick falls back');
  });

  it('a crashed member is suspected by every other one, through the relays, within the suspect timeout', () => {
    const s = simGroup(20, fdStack(16));
    s.world.runFor(500);
    s.world.crash(s.endpoints[10]!);
    s.world.runFor(400 + 100);
    const victim = s.groups[10]!.localId;
    for (let i = 0; i < 20; i++) {
      if (i === 10) continue;
      assert.deepEqual(layerOf(s.groups[i]!, FD).suspectedMembers, [victim], `member ${i}`);
    }
  });

  it('when a relay crashes, the others take its turns: nobody else suspected, no lease lost, no fallback to direct beats', () => {
    // The default timing (leaseMs 700: 7 intervals): the leases held through the first relay's last
    // tables run out about 4 intervals after its crash; the next relay's acknowledged tables must
    // be there before that (they came ~50 ms late before standby relays went quiet, ~5 ms late
    // with the standby quiet but no early takeover).
    const n = 20;
    const s = simGroup(n, [{ name: 'FD', options: { heartbeatIntervalMs: 100, suspectTimeoutMs: 1000, fastDetection: false, relayFrom: 16 } }, 'NAK', 'COM']);
    s.world.runFor(2000);
    s.world.crash(s.endpoints[RELAY_0]!);
    // The two live relays' rounds (n − 2 frames each) and the survivors' beats: about 2n, not the fallback's n².
    survivorsCarryOn(s, [RELAY_0], 1500);
  });

  it('a member cut off from the majority loses its lease within leaseMs; the majority keeps its own', () => {
    const s = simGroup(20, fdStack(16));
    s.world.runFor(500);
    const cut = s.endpoints[12]!;
    s.world.partition([[cut], s.endpoints.filter((e) => e !== cut)]);
    s.world.runFor(250 + 30);
    assert.equal(layerOf(s.groups[12]!, FD).holdsLease, false, 'out of lease at most leaseMs after the cut');
    for (const i of [0, 1, 5, 19]) assert.equal(layerOf(s.groups[i]!, FD).holdsLease, true, `member ${i}`);
    s.world.heal();
    s.world.runFor(300);
    assert.equal(layerOf(s.groups[12]!, FD).holdsLease, true, 'lease back after the heal');
  });

  it('a minority that holds the relays blocks, and the majority keeps its lease by beating directly', () => {
    const s = simGroup(20, fdStack(16));
    s.world.runFor(500);
    const minority = s.endpoints.slice(0, 5); // the coordinator, the three relays (view indices 1-3) and one more
    s.world.partition([minority, s.endpoints.slice(5)]);
    s.world.runFor(600);
    for (let i = 0; i < 5; i++) assert.equal(layerOf(s.groups[i]!, FD).holdsLease, false, `minority member ${i}`);
    for (let i = 5; i < 20; i++) assert.equal(layerOf(s.groups[i]!, FD).holdsLease, true, `majority member ${i}`);
  });

  it('a revoked member loses its lease once a majority revokes it, though its beats still flow', () => {
    const s = simGroup(20, fdStack(16));
    s.world.runFor(500);
    const target = s.groups[15]!.localId;
    const untils: (number | null)[] = [];
    for (let i = 0; i < 11; i++) {
      const ev = { type: 'LEASE_REVOKE' as const, members: [target], until: null as number | null };
      layerOf(s.groups[i]!, FD).downEvent(ev);
      untils.push(ev.until);
    }
    const now = s.world.now();
    for (const u of untils) assert.ok(u !== null && u > now && u <= now + 250 * 1.02 + 1, `wait until ${u} (now ${now})`);
    // Asked again later (GMS retries), the wait stays put: relay tables that keep arriving renew nothing.
    s.world.runFor(100);
    const again = { type: 'LEASE_REVOKE' as const, members: [target], until: null as number | null };
    layerOf(s.groups[0]!, FD).downEvent(again);
    assert.equal(again.until, untils[0]);
    const latest = Math.max(...untils.map((u) => u!));
    s.world.runFor(Math.max(0, latest - s.world.now()));
    assert.equal(layerOf(s.groups[15]!, FD).holdsLease, false, 'no lease once the revokers’ grants ran out');
    assert.equal(layerOf(s.groups[16]!, FD).holdsLease, true, 'the others keep theirs');
  });
  it('a relay round spans as many intervals as the lease allows: 3 with a 3 s suspicion, 1 at the default timing', () => {
    assert.equal(relayRoundsOf({ heartbeatIntervalMs: 100, suspectTimeoutMs: 1000 }), 1);
    assert.equal(relayRoundsOf({ heartbeatIntervalMs: 100, suspectTimeoutMs: 3000 }), 3);
    assert.equal(relayRoundsOf({ heartbeatIntervalMs: 100, suspectTimeoutMs: 3000, relayRounds: 1 }), 1);
    // 7 rounds must fit in the lease (relay failover), 4 in the suspicion timeout.
    assert.equal(relayRoundsOf({ heartbeatIntervalMs: 10, suspectTimeoutMs: 3000, leaseMs: 700 }), 10);
    assert.equal(relayRoundsOf({ heartbeatIntervalMs: 10, suspectTimeoutMs: 200, leaseMs: 80 }), 1);
  });

  it('names the relays of a view: none below relayFrom, the members after the coordinator, or from it on with none to spare', () => {
    const view = (n: number): string[] => Array.from({ length: n }, (_, i) => `h:${i}/x`);
    assert.deepEqual(relaysOf(view(15)), [], 'the default relayFrom is 16');
    assert.deepEqual(relaysOf(view(64)), view(4).slice(1));
    assert.deepEqual(relaysOf(view(20), { relayFrom: 16, relayCount: 8 }), view(9).slice(1));
    assert.deepEqual(relaysOf(view(3), { relayFrom: 2, relayCount: 3 }), view(3), 'no member to spare: the coordinator relays too');
    // FD itself relays through exactly these members.
    const s = simGroup(20, fdStack(16));
    for (const g of s.groups) {
      const fd = layerOf(g, FD) as unknown as { relays: string[] };
      assert.deepEqual(fd.relays, relaysOf(g.view.members));
      assert.equal(fd.relays.length, 3);
    }
  });

  it('with longer rounds the active relay sends and receives that many times fewer frames, and every lease holds', () => {
    const n = 24;
    // leaseMs = 3000 − 200 − 100 = 2700: rounds of 3 intervals.
    const stack = (relayRounds?: number) => [
      { name: 'FD', options: { heartbeatIntervalMs: 100, suspectTimeoutMs: 3000, fastDetection: false, relayFrom: 16, relayRounds } },
      'NAK',
      'COM',
    ];
    const long = simGroup(n, stack());
    const short = simGroup(n, stack(1));
    long.world.runFor(2000);
    short.world.runFor(2000);
    const perIntervalLong = framesIn(long, 6000) / 60;
    const perIntervalShort = framesIn(short, 6000) / 60;
    // About one round an interval: each relay's turn comes on its own timer, within an interval of its due time.
    assert.ok(perIntervalShort >= 1.8 * n, `rounds of one interval: ${perIntervalShort} per interval`);
    assert.ok(perIntervalLong <= perIntervalShort / 2.5, `rounds of three: ${perIntervalLong} per interval (one: ${perIntervalShort})`);
    for (let t = 0; t < 3000; t += 5) {
      long.world.runFor(5);
      for (let i = 0; i < n; i++) assert.equal(layerOf(long.groups[i]!, FD).holdsLease, true, `member ${i} at +${t + 5} ms`);
    }
    for (const g of long.groups) assert.deepEqual(layerOf(g, FD).suspectedMembers, []);
    // A crash is still suspected by all within the suspect timeout (and a round).
    long.world.crash(long.endpoints[20]!);
    long.world.runFor(3000 + 300);
    for (let i = 0; i < n; i++) if (i !== 20) assert.deepEqual(layerOf(long.groups[i]!, FD).suspectedMembers, [long.groups[20]!.localId], `member ${i}`);
  });

  it('the coordinator is no relay: the next three members relay, and its crash changes no relay', () => {
    const s = simGroup(20, fdStack(16));
    s.world.runFor(500);
    type Inside = { relays: string[]; hub: unknown };
    const ids = s.groups.map((g) => g.localId);
    for (const g of s.groups) assert.deepEqual((layerOf(g, FD) as unknown as Inside).relays, ids.slice(1, 4));
    assert.equal((layerOf(s.groups[0]!, FD) as unknown as Inside).hub, null, 'the coordinator keeps no relay table');
    s.world.crash(s.endpoints[0]!);
    s.world.runFor(400 + 100);
    for (let i = 1; i < 20; i++) {
      const fd = layerOf(s.groups[i]!, FD);
      assert.deepEqual(fd.suspectedMembers, [ids[0]], `member ${i}`);
      assert.equal(fd.holdsLease, true, `member ${i}`);
    }
  });

  it('with rounds of 3 intervals, when the active relay crashes the next one takes over: no lease lost, nobody else suspected', () => {
    const n = 20;
    const s = simGroup(n, [{ name: 'FD', options: { heartbeatIntervalMs: 100, suspectTimeoutMs: 3000, fastDetection: false, relayFrom: 16 } }, 'NAK', 'COM']);
    s.world.runFor(3000);
    const relay = RELAY_0;
    s.world.crash(s.endpoints[relay]!);
    const victim = s.groups[relay]!.localId;
    for (let t = 0; t < 4000; t += 5) {
      s.world.runFor(5);
      for (let i = 0; i < n; i++) if (i !== relay) assert.equal(layerOf(s.groups[i]!, FD).holdsLease, true, `member ${i} at +${t + 5} ms`);
    }
    for (let i = 0; i < n; i++) if (i !== relay) assert.deepEqual(layerOf(s.groups[i]!, FD).suspectedMembers, [victim], `member ${i}`);
  });

  it('the relays take turns: each multicasts about a third of the rounds and takes a third of the beats', () => {
    const n = 24;
    const s = simGroup(n, fdStack(16));
    s.world.runFor(500);
    // Count, per relay, the tables it multicasts and the beats it receives.
    const tables = tablesSent(s);
    const beats = [0, 0, 0];
    for (let j = 0; j < 3; j++) {
      const fd = layerOf(s.groups[RELAY_0 + j]!, FD) as unknown as { up(m: { src: string; payload: Buffer }): void };
      const up = fd.up.bind(fd);
      fd.up = (m) => {
        beats[j]!++;
        up(m);
      };
    }
    s.world.runFor(2000); // about 80 rounds of 25 ms
    const rounds = total(tables);
    assert.ok(rounds >= 60, `${rounds} rounds in 80 intervals`);
    for (let j = 0; j < 3; j++) {
      assert.ok(tables[j]! >= rounds / 4 && tables[j]! <= rounds / 2.5, `relay ${j}: ${tables[j]} of ${rounds} rounds`);
      // Its own turns' beats (n − 1 each) and the other relays' tables: well under the n − 1 a round one relay took alone.
      assert.ok(beats[j]! <= 0.5 * (n - 1) * rounds, `relay ${j}: ${beats[j]} frames received in ${rounds} rounds`);
    }
    for (const g of s.groups) {
      assert.equal(layerOf(g, FD).holdsLease, true);
      assert.deepEqual(layerOf(g, FD).suspectedMembers, []);
    }
  });

  it('when two of the three relays crash at once, the last one takes every turn: no lease lost, no fallback to direct beats', () => {
    const n = 20;
    const s = simGroup(n, [{ name: 'FD', options: { heartbeatIntervalMs: 100, suspectTimeoutMs: 1000, fastDetection: false, relayFrom: 16 } }, 'NAK', 'COM']);
    s.world.runFor(2000);
    const dead = [RELAY_0, RELAY_0 + 1];
    for (const i of dead) s.world.crash(s.endpoints[i]!);
    survivorsCarryOn(s, dead, 1500);
  });

  it('drops (and counts) a relay table out of turn or from a member that is no relay; a late turn renews nothing', () => {
    const s = simGroup(20, fdStack(16));
    s.world.runFor(500);
    const target = s.groups[10]!;
    const fd = layerOf(target, FD) as unknown as { up(m: Message): void; viewId: number; feed: { lastRound: number } };
    const before = dropped(s.nodes[10]!, 'FD');
    const table = (round: number) => encodeRelayDown({ round, ts: new Array<number>(20).fill(1), acks: new Array<number>(20).fill(0), except: [] });
    const send = (fromIdx: number, round: number) => {
      const m = forged(
        null,
        table(round),
        [[FD_RELAY_HEADER as HeaderType<never>, { viewId: fd.viewId, kind: RELAY_DOWN }]],
        MsgFlag.Multicast | MsgFlag.Unreliable,
      );
      m.src = s.groups[fromIdx]!.localId;
      fd.up(m);
    };
    const last = fd.feed.lastRound;
    // Round last + 3 is the turn of the relay that sent round last; relay 1 (view index 1) sends rounds 1, 4, 7, ...
    const notTurn = [1, 2, 3].map((i) => last + i).find((r) => (r - 1) % 3 !== 0)!;
    send(RELAY_0, notTurn);
    send(7, last + 1); // not a relay
    assert.equal(dropped(s.nodes[10]!, 'FD') - before, 2);
    assert.equal(fd.feed.lastRound, last, 'neither was read');
    // A round past the wire's range is dropped; a far one in range (a relay's lie) costs no loop per skipped round.
    send(RELAY_0, 3 * 2 ** 40 + 1);
    assert.equal(dropped(s.nodes[10]!, 'FD') - before, 3);
    assert.equal(fd.feed.lastRound, last);
    // A turn that comes after a later round was read: ignored, not an error.
    const old = Math.max(1, last - 3);
    send(RELAY_0 + ((old - 1) % 3), old);
    assert.equal(dropped(s.nodes[10]!, 'FD') - before, 3);
    assert.equal(fd.feed.lastRound, last);
    const t0 = performance.now();
    send(RELAY_0, 3 * 2 ** 30 + 1);
    assert.equal(fd.feed.lastRound, 3 * 2 ** 30 + 1, 'read: a relay may lie about its round (it is trusted for liveness only)');
    assert.ok(performance.now() - t0 < 50, 'no loop over the rounds it skipped');
  });

  it('a relay that missed another’s rounds takes its turns only until one of its rounds arrives, late or not: no lasting double rounds', () => {
    const n = 24;
    const s = simGroup(n, fdStack(16));
    s.world.runFor(500);
    const [b, c] = [s.endpoints[RELAY_0 + 1]!, s.endpoints[RELAY_0 + 2]!];
    // The second relay's frames to the third are lost for three rounds: the third takes its turns.
    let dropUntil = s.world.now() + 80;
    loseFrames(s.world, (from, to) => from === b && to === c && s.world.now() < dropUntil);
    s.world.runFor(500);
    dropUntil = -1;
    const counted = tablesSent(s);
    s.world.runFor(1000); // 40 intervals: about 40 rounds
    const tables = total(counted);
    assert.ok(tables <= 44, `${tables} rounds in 40 intervals`);
    for (const g of s.groups) assert.equal(layerOf(g, FD).holdsLease, true);
  });

  it('a relay paused for a while and resumed: the others keep their leases meanwhile, and after it the rounds go on one at a time', () => {
    const n = 24;
    const s = simGroup(n, [{ name: 'FD', options: { heartbeatIntervalMs: 100, suspectTimeoutMs: 1000, fastDetection: false, relayFrom: 16 } }, 'NAK', 'COM']);
    s.world.runFor(2000);
    const paused = RELAY_0 + 1;
    s.world.pause(s.endpoints[paused]!);
    // 500 ms: under the suspicion timeout, so it stays in the view; its turns are taken meanwhile.
    for (let t = 0; t < 500; t += 5) {
      s.world.runFor(5);
      for (let i = 0; i < n; i++) if (i !== paused) assert.equal(layerOf(s.groups[i]!, FD).holdsLease, true, `member ${i} at +${t + 5} ms`);
    }
    s.world.resume(s.endpoints[paused]!);
    s.world.runFor(1000);
    const counted = tablesSent(s);
    s.world.runFor(2000); // 20 intervals of 100 ms: about 20 rounds
    const tables = total(counted);
    assert.ok(tables >= 17 && tables <= 22, `${tables} rounds in 20 intervals`);
    for (const g of s.groups) {
      assert.equal(layerOf(g, FD).holdsLease, true);
      assert.deepEqual(layerOf(g, FD).suspectedMembers, []);
    }
  });
});
