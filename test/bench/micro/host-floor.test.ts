import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHostFloorArgs, runHostFloor } from '../../../bench/micro/host-floor.js';

describe('host-floor probe (bench/micro/host-floor.ts)', () => {
  it('measures the mesh, a state stream and fresh memory with real processes and sockets', async () => {
    const r = await runHostFloor({
      only: new Set(['mesh', 'state', 'memory']),
      members: 3,
      size: 64,
      fractions: [0.25],
      seconds: 0.5,
      stateMiB: 4,
      runs: 1,
      idleMembers: 8,
      relays: 2,
    });
    assert.ok(r.machine.cpus >= 1);

    const mesh = r.mesh!;
    assert.equal(mesh.members, 3);
    assert.ok(mesh.saturatedPerMember > 0);
    const [load] = mesh.loads;
    assert.equal(load!.fraction, 0.25);
    assert.equal(load!.deliveredPerMember.length, 3);
    // A quarter of the saturated rate is sustained: each receiver got most of what two senders offered.
    for (const d of load!.deliveredPerMember) assert.ok(d > load!.offeredPerMember * 0.5, `delivered ${d} of ${load!.offeredPerMember}`);
    assert.ok(load!.samples > 0);
    assert.ok(load!.p50Ms >= 0 && load!.p50Ms <= load!.p99Ms && load!.p99Ms <= load!.maxMs);

    const state = r.state!;
    assert.equal(state.bytes, 4 * 1024 * 1024);
    assert.equal(state.copyIntoFreshMBps.length, 1);
    assert.ok(state.copyIntoFreshMBps[0]! > 0 && state.keepReadsMBps[0]! > 0);

    const mem = r.memory!;
    assert.ok(mem.firstTouchMsPerMB > 0 && mem.secondTouchMsPerMB > 0);
  });

  it('takes its defaults and refuses bad arguments with the option named', () => {
    const d = parseHostFloorArgs([]);
    assert.deepEqual([...d.only].sort(), ['memory', 'mesh', 'state']);
    assert.equal(d.members, 3);
    assert.deepEqual(d.fractions, [0.25, 0.5]);
    assert.throws(() => parseHostFloorArgs(['--only', 'mesh,disk']), /--only takes mesh, state, memory, idle; not disk/);
    assert.equal(d.idleMembers, 64);
    assert.equal(d.relays, 3);
    assert.throws(() => parseHostFloorArgs(['--seconds', '-1']), /--seconds must be a positive number/);
    assert.throws(() => parseHostFloorArgs(['--fractions', '0.5,2']), /--fractions are between 0 and 1/);
  });

  it('refuses a mesh of one and frames too small to carry a send time', async () => {
    const base = { only: new Set(['mesh'] as const), members: 3, size: 64, fractions: [0.25], seconds: 0.2, stateMiB: 1, runs: 1, idleMembers: 8, relays: 2 };
    await assert.rejects(runHostFloor({ ...base, members: 1 }), /--members must be at least 2/);
    await assert.rejects(runHostFloor({ ...base, size: 4 }), /--size must be at least 8/);
    await assert.rejects(runHostFloor({ ...base, only: new Set(['idle'] as const), relays: 7 }), /--relays must be at least 1 and leave members/);
  });

  it("runs a group's idle relay traffic in a full mesh and reports each role's CPU", async () => {
    const r = await runHostFloor({
      only: new Set(['idle']),
      members: 3,
      size: 64,
      fractions: [0.5],
      seconds: 0.5,
      stateMiB: 1,
      runs: 1,
      idleMembers: 8,
      relays: 2,
    });
    const idle = r.idle!;
    assert.equal(idle.members, 8);
    assert.equal(idle.relays, 2);
    assert.equal(idle.relaysPct.length, 2);
    for (const x of [idle.coordinatorPct, ...idle.relaysPct, idle.othersMedianPct, idle.othersMaxPct]) assert.ok(Number.isFinite(x) && x >= 0, `${x}`);
    assert.ok(idle.othersMedianPct <= idle.othersMaxPct);
    assert.equal(r.mesh, undefined);
  });
});
