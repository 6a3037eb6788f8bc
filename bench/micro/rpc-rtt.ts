// Round trip between two processes on loopback, one call at a time: wall time (p50/p99) and CPU per
// call on both sides, with the idle CPU of each side taken off. Three modes:
//   --mode raw     plain Node TCP ping-pong of length-prefixed frames (the floor on this machine)
//   --mode raw2    the same, but each side sends on a connection of its own (as the transport does)
//   --mode rpc     group.call to the other member (what the tools bench's RPC case measures)
//   --mode send    group.send there and a group.send back (the direct channel without the call layer)
//   --mode fbcast  a multicast there and one back (abcast likewise): the bench's rtt-* cases with two members
// --groups N makes both members join N-1 more idle groups (the tools bench's members are in four).
// --prof DIR writes a V8 CPU profile of each side, over the measured calls only, into DIR; with --heap
// a sampling heap profile instead (every allocation, collected or not: bytes allocated per call by site).
// --warmup N round trips before the measured ones (default 10000: V8 optimises the path only after
// several thousand; with --warmup 300 the figures are those of a freshly started process).
// --window N adds p50 and CPU per call of each N measured calls: the warm-up curve.
//
//   npx tsx bench/micro/rpc-rtt.ts [--mode rpc] [--calls 3000] [--size 100] [--groups 1] [--prof DIR]
//                                  [--warmup 10000] [--window 1000]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pickFreePorts, scriptCommand } from '../../src/cli/spawn.js';
import { createNode, type Group } from '../../src/index.js';
import { pinoLogger } from '../../src/obs/pino-logger.js';
import { cpuTimesOf } from '../lib/proc-cpu.js';
import { percentile, round } from '../lib/stats.js';
import { sleep, waitUntil } from '../lib/wait.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

const mode = arg('mode', 'rpc');
const calls = Number(arg('calls', '3000'));
const size = Number(arg('size', '100'));
const groups = Number(arg('groups', '1'));
const prof = arg('prof', '');
const role = arg('role', 'caller');
const windowCalls = Number(arg('window', '0'));
const warmup = Number(arg('warmup', '10000'));

const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function cpuSecondsOf(pid: number): number {
  const t = ticksOf(pid);
  return t.user + t.system;
}

/** User and system CPU seconds of a process, from /proc (Linux); throws where there is none. */
function ticksOf(pid: number): { user: number; system: number } {
  const t = cpuTimesOf(pid);
  if (t === null) throw new Error(`no CPU times for process ${pid} (/proc/${pid}/stat)`);
  return t;
}

/** Context switches of a process so far (voluntary: it slept; involuntary: it was preempted). */
function switchesOf(pid: number): { voluntary: number; involuntary: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const v = /voluntary_ctxt_switches:\s+(\d+)/.exec(st);
  const n = /nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st);
  return { voluntary: Number(v?.[1] ?? 0), involuntary: Number(n?.[1] ?? 0) };
}

let session: Session | null = null;

/** --heap: the sampling heap profiler (every allocation sampled, collected or not) instead of the CPU profiler. */
const heap = process.argv.includes('--heap');

async function profStart(): Promise<void> {
  session = new Session();
  session.connect();
  if (heap) {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return;
  }
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
}

async function profStop(file: string): Promise<void> {
  if (!session) return;
  const { profile } = heap ? await session.post('HeapProfiler.stopSampling') : await session.post('Profiler.stop');
  session.disconnect();
  session = null;
  writeFileSync(heap ? file.replace(/\.cpuprofile$/, '.heapprofile') : file, JSON.stringify(profile));
}

// --- the callee (child process) -------------------------------------------------------------------------

async function callee(): Promise<void> {
  const listen = arg('listen', '');
  // Profiling commands from the caller, one a line on stdin.
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'prof-start') void profStart().then(() => console.log('prof-started'));
    else if (l.startsWith('prof-stop ')) void profStop(l.slice(10)).then(() => console.log('prof-stopped'));
  });
  if (mode === 'raw' || mode === 'raw2') {
    // raw2: the echo goes back over a connection of its own, as Horus's transport sends (one
    // outbound connection per peer, used only for sending).
    let back: net.Socket | null = null;
    if (mode === 'raw2') {
      const [h, p] = arg('seed', '').split(':') as [string, string];
      back = net.connect(Number(p), h);
      back.setNoDelay(true);
    }
    const server = net.createServer((sock) => {
      sock.setNoDelay(true);
      sock.on('data', (d) => (back ?? sock).write(d)); // one frame at a time in flight: echo what came
    });
    await new Promise<void>((r) => server.listen(Number(listen.split(':')[1]), '127.0.0.1', r));
    console.log('ready raw');
    return;
  }
  const node = await createNode({ listen, seeds: [arg('seed', '')], logger: pinoLogger({ level: 'error' }) });
  const g = await node.join('rpc');
  g.onCall((d) => d.payload);
  g.on('direct', (d) => void g.send(d.sender, d.payload));
  g.on('message', (d) => {
    if (d.sender !== g.localId) void g.cast(d.order, d.raw);
  });
  for (let k = 1; k < groups; k++) await node.join(`idle-${k}`);
  console.log(`ready ${g.localId}`);
}

// --- the caller -----------------------------------------------------------------------------------------

async function caller(): Promise<void> {
  const [myPort, peerPort] = (await pickFreePorts(2)) as [number, number];
  const me = `127.0.0.1:${myPort}`;
  const peer = `127.0.0.1:${peerPort}`;
  const { command, args } = scriptCommand(fileURLToPath(import.meta.url), [
    '--role',
    'callee',
    '--mode',
    mode,
    '--listen',
    peer,
    '--seed',
    me,
    '--groups',
    String(groups),
    ...(heap ? ['--heap'] : []),
  ]);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let acked: (() => void) | null = null;
  const ready = new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /^ready (\S+)/.exec(l);
      if (m) resolve(m[1]!);
      if (/^prof-(started|stopped)/.test(l)) acked?.();
    }),
  );
  const childProf = (cmd: string): Promise<void> =>
    new Promise<void>((r) => {
      acked = r;
      child.stdin!.write(cmd + '\n');
    });
  let one: () => Promise<void>;
  let close: () => Promise<void>;
  if (mode === 'raw' || mode === 'raw2') {
    let inbound: Promise<net.Socket> | null = null;
    if (mode === 'raw2') {
      const server = net.createServer();
      inbound = new Promise((r) => server.once('connection', r));
      await new Promise<void>((r) => server.listen(myPort, '127.0.0.1', r));
    }
    await ready;
    const sock = net.connect(peerPort, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const rx = inbound ? await inbound : sock;
    const frame = Buffer.alloc(size + 4);
    frame.writeUInt32BE(size, 0);
    let got = 0;
    let done: (() => void) | null = null;
    rx.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= frame.length && done) {
        got -= frame.length;
        const f = done;
        done = null;
        f();
      }
    });
    one = () =>
      new Promise<void>((r) => {
        done = r;
        sock.write(frame);
      });
    close = async () => {
      sock.destroy();
      rx.destroy();
    };
  } else {
    const node = await createNode({ listen: me, seeds: [peer], logger: pinoLogger({ level: 'error' }) });
    const target = await ready;
    const g: Group = await node.join('rpc');
    for (let k = 1; k < groups; k++) await node.join(`idle-${k}`);
    await waitUntil(() => g.view.members.includes(target), { timeoutMs: 30_000, what: 'the callee in the view', pollMs: 20 });
    const payload = Buffer.alloc(size, 7);
    if (mode === 'rpc') one = async () => void (await g.call(target, payload));
    else if (mode === 'fbcast' || mode === 'abcast') {
      const order = mode === 'fbcast' ? 'fifo' : 'total';
      let done: (() => void) | null = null;
      g.on('message', (d) => {
        if (d.sender === target && done) {
          const f = done;
          done = null;
          f();
        }
      });
      one = () =>
        new Promise<void>((r) => {
          done = r;
          void g.cast(order, payload);
        });
    } else {
      let done: (() => void) | null = null;
      g.on('direct', (d) => {
        if (d.sender === target && done) {
          const f = done;
          done = null;
          f();
        }
      });
      one = () =>
        new Promise<void>((r) => {
          done = r;
          g.send(target, payload);
        });
    }
    close = () => node.close();
  }
  for (let i = 0; i < warmup; i++) await one();
  // Idle CPU of both sides over one second, taken off the CPU per call.
  await sleep(200);
  const i0 = [cpuSeconds(), cpuSecondsOf(child.pid!)] as const;
  const it0 = performance.now();
  await sleep(1000);
  const idleSecs = (performance.now() - it0) / 1000;
  const idle = [(cpuSeconds() - i0[0]) / idleSecs, (cpuSecondsOf(child.pid!) - i0[1]) / idleSecs] as const;
  if (prof) {
    await childProf('prof-start');
    await profStart();
  }
  const rtts: number[] = [];
  const c0 = [cpuSeconds(), cpuSecondsOf(child.pid!)] as const;
  const pids = [process.pid, child.pid!] as const;
  const t0s = pids.map(ticksOf);
  const s0s = pids.map(switchesOf);
  const t0 = performance.now();
  const windows: { calls: number; p50Us: number; callerCpuUs: number; calleeCpuUs: number }[] = [];
  let w0 = { i: 0, cpu: [c0[0], c0[1]] as const };
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await one();
    rtts.push((performance.now() - t) * 1000);
    if (windowCalls > 0 && (i + 1) % windowCalls === 0) {
      const cpu = [cpuSeconds(), cpuSecondsOf(child.pid!)] as const;
      windows.push({
        calls: i + 1,
        p50Us: round(percentile(rtts.slice(w0.i), 50), 1),
        callerCpuUs: round(((cpu[0] - w0.cpu[0]) * 1e6) / windowCalls, 1),
        calleeCpuUs: round(((cpu[1] - w0.cpu[1]) * 1e6) / windowCalls, 1),
      });
      w0 = { i: i + 1, cpu };
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const callerCpu = ((cpuSeconds() - c0[0] - idle[0] * secs) * 1e6) / calls;
  const calleeCpu = ((cpuSecondsOf(child.pid!) - c0[1] - idle[1] * secs) * 1e6) / calls;
  const split = pids.map((pid, k) => {
    const t = ticksOf(pid);
    const w = switchesOf(pid);
    return {
      userUs: round(((t.user - t0s[k]!.user) * 1e6) / calls, 1),
      sysUs: round(((t.system - t0s[k]!.system) * 1e6) / calls, 1),
      switches: round((w.voluntary - s0s[k]!.voluntary + w.involuntary - s0s[k]!.involuntary) / calls, 2),
    };
  });
  if (prof) {
    await profStop(join(prof, `caller-${mode}.cpuprofile`));
    await childProf(`prof-stop ${join(prof, `callee-${mode}.cpuprofile`)}`);
  }
  await close();
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
  console.log(
    JSON.stringify({
      mode,
      size,
      groups,
      warmup,
      calls,
      p50Us: round(percentile(rtts, 50), 1),
      p99Us: round(percentile(rtts, 99), 1),
      callsPerS: Math.round(calls / secs),
      callerCpuUsPerCall: round(callerCpu, 1),
      calleeCpuUsPerCall: round(calleeCpu, 1),
      perCall: { caller: split[0], callee: split[1] },
      ...(windows.length > 0 ? { windows } : {}),
      idleCpu: { caller: round(idle[0], 3), callee: round(idle[1], 3) },
      load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    }),
  );
}

if (role === 'callee') {
  await callee();
  process.once('SIGINT', () => process.exit(0));
} else await caller();
