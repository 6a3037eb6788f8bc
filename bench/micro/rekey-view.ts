// The wall time of a whole view change with re-key, in one process: n pki nodes on TCP loopback in
// an encrypted dynamic group, and one more node that joins and leaves, `changes` times; each change is
// timed from the request to the last member's install of the new view. The same group without
// `encrypt` beside it says what re-keying adds. One process instead of the bench's n + 1 (`npm run
// bench -- --filter rekey`) takes the scheduling of many processes on a loaded machine out of the
// figure: what remains is the protocol's rounds, its timers and the CPU of all members together.
// The CPU all members spend on a change (the process's user + system time over it) is printed beside
// the wall time: on a loaded machine the wall time is mostly waiting for a core, the CPU is not.
// Ensemble re-keys a 20-member group in about 100 ms. Quote the load beside the figures.
//
//   npx tsx bench/micro/rekey-view.ts [--members 5,9,20] [--changes 5] [--modes encrypt,plain] [--profile DIR] [--gap 200]
//
// --profile DIR: a V8 CPU profile of the changes alone (not the group's assembly), one file per size
// and mode (DIR/rekey-view-MODE-N.cpuprofile), for `npx tsx bench/flamegraph.ts` or Chrome's DevTools.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { createNode } from '../../src/api/create-node.js';
import type { Group } from '../../src/api/group.js';
import type { HorusNode } from '../../src/api/node.js';
import { silentLogger } from '../../src/core/logger.js';
import { signCertificate } from '../../src/security/certificate.js';
import { generateEd25519 } from '../../src/security/keys.js';
import type { SecurityOptions } from '../../src/security/security-config.js';
import { pkiCredentials, TrustStore } from '../../src/security/trust.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

const sizes = arg('members', '5,9,20').split(',').map(Number);
const changes = Number(arg('changes', '5'));
const modes = arg('modes', 'encrypt,plain').split(',') as ('encrypt' | 'plain')[];
const profileDir = arg('profile', '');
/** Pause before each join and each leave (ms): the group's idle work (heartbeats, gossip) runs in it. */
const gapMs = Number(arg('gap', '200'));
const GROUP = 'rekey';

const caKeys = generateEd25519();
const trust = new TrustStore({ ca: [caKeys.publicKey] });
function security(i: number): SecurityOptions {
  const keys = generateEd25519();
  const cert = signCertificate({ subject: `m${i}`, nodeKey: keys.publicKey, endpoints: ['127.0.0.1:*'], issuer: 'bench-ca', issuerKey: caKeys.privateKey });
  return { mode: 'pki', credentials: pkiCredentials(keys, cert, trust) };
}

/** Resolves with the time at which every group in `gs` shows a view that `pred` accepts. */
function allInstall(gs: readonly Group[], pred: (members: readonly string[]) => boolean, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no view change in time')), timeoutMs);
    const check = (): void => {
      if (!gs.every((g) => pred(g.view.members))) return;
      clearTimeout(timer);
      for (const g of gs) g.off('view', check);
      resolve(performance.now());
    };
    for (const g of gs) g.on('view', check);
    check();
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

async function once(
  n: number,
  encrypt: boolean,
): Promise<{ joinMs: number[]; leaveMs: number[]; joinCpuMs: number[]; leaveCpuMs: number[]; idleCpuMsPerS: number }> {
  const nodes: HorusNode[] = [];
  try {
    for (let i = 0; i <= n; i++) {
      const seeds = nodes.map((x) => x.endpoint);
      // Credentials already loaded are accepted as well as files (not in the public type).
      nodes.push(await createNode({ listen: '127.0.0.1:0', logger: silentLogger, seeds, security: security(i) as never }));
    }
    const groups: Group[] = [];
    for (let i = 0; i < n; i++) groups.push(await nodes[i]!.join(GROUP, { create: i === 0, ...(encrypt ? { encrypt: true } : {}) }));
    await allInstall(groups, (ms) => ms.length === n);
    const mover = nodes[n]!;
    // What the group spends doing nothing (heartbeats, pings, gossip) is part of any change's CPU.
    await new Promise((r) => setTimeout(r, 300));
    const ci = process.cpuUsage();
    const ti = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const idleCpuMsPerS = cpuMs(process.cpuUsage(ci)) / ((performance.now() - ti) / 1000);
    const joinMs: number[] = [];
    const leaveMs: number[] = [];
    const joinCpuMs: number[] = [];
    const leaveCpuMs: number[] = [];
    const session = profileDir === '' ? null : new Session();
    if (session !== null) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
    }
    for (let k = 0; k < changes; k++) {
      await new Promise((r) => setTimeout(r, gapMs));
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const g = await mover.join(GROUP, encrypt ? { encrypt: true } : {});
      const id = g.localId;
      joinMs.push((await allInstall([...groups, g], (ms) => ms.includes(id) && ms.length === n + 1)) - t0);
      joinCpuMs.push(cpuMs(process.cpuUsage(c0)));
      await new Promise((r) => setTimeout(r, gapMs));
      const t1 = performance.now();
      const c1 = process.cpuUsage();
      const left = allInstall(groups, (ms) => !ms.includes(id) && ms.length === n);
      await g.leave();
      leaveMs.push((await left) - t1);
      leaveCpuMs.push(cpuMs(process.cpuUsage(c1)));
    }
    if (session !== null) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(profileDir, `rekey-view-${encrypt ? 'encrypt' : 'plain'}-${n}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    }
    return { joinMs, leaveMs, joinCpuMs, leaveCpuMs, idleCpuMsPerS };
  } finally {
    for (const x of nodes.reverse()) await x.close();
  }
}

const out: Record<string, unknown> = { changes };
for (const n of sizes) {
  for (const m of modes) {
    const r = await once(n, m === 'encrypt');
    out[`${m}-${n}`] = {
      joinMedianMs: Math.round(median(r.joinMs)),
      leaveMedianMs: Math.round(median(r.leaveMs)),
      joinCpuMedianMs: Math.round(median(r.joinCpuMs)),
      leaveCpuMedianMs: Math.round(median(r.leaveCpuMs)),
      idleCpuMsPerS: Math.round(r.idleCpuMsPerS),
      joinMs: r.joinMs.map(Math.round),
      leaveMs: r.leaveMs.map(Math.round),
    };
    console.error(`${m}-${n}: ${JSON.stringify(out[`${m}-${n}`])}`);
  }
}
console.log(JSON.stringify(out));
