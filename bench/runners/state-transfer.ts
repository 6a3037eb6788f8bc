// Join with state transfer: members that hold the same blob keep multicasting while new processes join.
import type { StateTransferCase } from '../cases.js';
import { forkMember, type MemberHandle } from '../lib/member-handle.js';
import type { StateTransferResult } from '../lib/results.js';
import { median, MiB, round } from '../lib/stats.js';
import { profileStart, profileStop, type RunContext } from './context.js';

const JOIN_TIMEOUT_MS = 120_000;

export async function runStateTransfer(c: StateTransferCase, ctx: RunContext): Promise<StateTransferResult> {
  const bytes = Math.max(1024, Math.round(c.stateBytes * Math.min(1, ctx.scale)));
  const state = c.handlers === 'stream' ? 'blob-stream' : 'blob';
  const t0 = performance.now();
  const procs: MemberHandle[] = [];
  const spawn = (): MemberHandle => {
    const m = forkMember(procs.length, ctx.execArgv);
    procs.push(m);
    return m;
  };
  try {
    // The group forms while the state is still empty, then every member makes the same bytes.
    const holders = Array.from({ length: c.members }, spawn);
    await holders[0]!.listen({ statsIntervalMs: 100 });
    await holders[0]!.request<'djoin'>({ cmd: 'djoin', group: 'state', state, create: true, timeoutMs: JOIN_TIMEOUT_MS });
    for (const h of holders.slice(1)) {
      await h.listen({ statsIntervalMs: 100, seeds: [holders[0]!.endpoint] });
      await h.request<'djoin'>({ cmd: 'djoin', group: 'state', state, create: false, timeoutMs: JOIN_TIMEOUT_MS });
    }
    // What a join costs without state (lookup, view change), measured the same way: the rest of a join with state is the transfer.
    const probe = spawn();
    await probe.listen({ statsIntervalMs: 100, seeds: holders.map((h) => h.endpoint) });
    const empty = await probe.request<'djoin'>({ cmd: 'djoin', group: 'state', state, create: false, timeoutMs: JOIN_TIMEOUT_MS });
    await probe.close();
    ctx.log(`${c.id}: a join without state took ${Math.round(empty.elapsedMs)} ms`);
    ctx.log(`${c.id}: ${c.members} members; making ${(bytes / MiB).toFixed(1)} MiB of state in each`);
    const blobs = await Promise.all(holders.map((h) => h.request<'blob'>({ cmd: 'blob', bytes })));
    const sha = blobs[0]!.sha256;
    // The group keeps delivering while the state moves.
    await Promise.all(holders.map((h) => h.request<'traffic'>({ cmd: 'traffic', intervalMs: c.trafficIntervalMs, size: 100 })));
    await profileStart(holders, ctx);
    const samples: number[] = [];
    const rssBefore: number[] = [];
    const rssPeak: number[] = [];
    const joinerCpu: number[] = [];
    const joinerSys: number[] = [];
    const joinerMain: number[] = [];
    const providerCpu: number[] = [];
    let verified = true;
    let transferMs = 0;
    let deliveredDuring = 0;
    for (let j = 0; j < c.joins; j++) {
      const joiner = spawn();
      await joiner.listen({ statsIntervalMs: 100, seeds: holders.map((h) => h.endpoint) });
      await profileStart([joiner], ctx);
      const before = await Promise.all(holders.map((h) => h.request<'status'>({ cmd: 'status' })));
      const tj = performance.now();
      // Through the public join(): it resolves with the first view, after the state is in.
      const r = await joiner.request<'djoin'>({ cmd: 'djoin', group: 'state', state, create: false, timeoutMs: JOIN_TIMEOUT_MS });
      const dt = performance.now() - tj;
      await profileStop([joiner], ctx, c.id);
      const after = await Promise.all(holders.map((h) => h.request<'status'>({ cmd: 'status' })));
      transferMs += dt;
      deliveredDuring += median(after.map((s, i) => s.delivered - before[i]!.delivered));
      joinerCpu.push(r.cpuMs);
      joinerSys.push(r.sysCpuMs);
      if (r.mainThreadCpuMs !== null) joinerMain.push(r.mainThreadCpuMs);
      // The provider is the old member that worked most during the join (it also keeps up the traffic, as the others do).
      providerCpu.push(Math.max(...after.map((s, i) => s.cpuMs - before[i]!.cpuMs)));
      const good = r.stateSize === bytes && r.stateSha256 === sha;
      if (!good) ctx.log(`${c.id}: join ${j + 1}: state of ${r.stateSize} bytes, sha256 ${r.stateSha256} (want ${bytes}, ${sha})`);
      verified &&= good;
      samples.push(r.elapsedMs);
      rssBefore.push(r.rssBefore);
      rssPeak.push(r.maxRss);
      ctx.log(
        `${c.id}: join ${j + 1}/${c.joins}: ${Math.round(r.elapsedMs)} ms, peak RSS ${Math.round(r.maxRss / MiB)} MiB, CPU joiner ${Math.round(r.cpuMs)} ms (kernel ${Math.round(r.sysCpuMs)}, JavaScript thread ${r.mainThreadCpuMs ?? '?'}; ${r.minorFaults} page faults), provider ${Math.round(providerCpu[j]!)} ms, ${good ? 'state verified' : 'STATE MISMATCH'}`,
      );
      // The joiner leaves again, so every join is from the same group size.
      await joiner.close();
    }
    await profileStop(holders, ctx, c.id);
    await Promise.all(holders.map((h) => h.request<'traffic'>({ cmd: 'traffic', intervalMs: 0, size: 0 })));
    const med = median(samples);
    return {
      kind: 'state-transfer',
      id: c.id,
      op: c.op,
      members: c.members,
      stateBytes: bytes,
      joins: c.joins,
      samplesMs: samples.map((x) => Math.round(x)),
      medianMs: Math.round(med),
      maxMs: Math.round(Math.max(...samples)),
      mbPerSec: round(bytes / 1e6 / (med / 1000), 1),
      mibPerSec: round(bytes / MiB / (med / 1000), 1),
      emptyJoinMs: Math.round(empty.elapsedMs),
      streamMbPerSec: med > empty.elapsedMs ? round(bytes / 1e6 / ((med - empty.elapsedMs) / 1000), 1) : null,
      verified,
      joinerRssBeforeMiB: Math.round(Math.max(...rssBefore) / MiB),
      joinerPeakRssMiB: Math.round(Math.max(...rssPeak) / MiB),
      joinerCpuMsPerMB: round(median(joinerCpu) / (bytes / 1e6), 2),
      joinerSysCpuMsPerMB: round(median(joinerSys) / (bytes / 1e6), 2),
      joinerMainThreadCpuMsPerMB: joinerMain.length === joinerCpu.length ? round(median(joinerMain) / (bytes / 1e6), 2) : null,
      providerCpuMsPerMB: round(median(providerCpu) / (bytes / 1e6), 2),
      deliveredPerSecDuringTransfer: Math.round(deliveredDuring / (transferMs / 1000)),
      durationS: round((performance.now() - t0) / 1000),
    };
  } finally {
    await Promise.all(procs.map((m) => m.close(0)));
  }
}
