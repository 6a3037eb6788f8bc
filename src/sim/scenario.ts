import { createHash } from 'node:crypto';
import { HorusNode } from '../api/node.js';
import type { Group } from '../api/group.js';
import { MemoryHistory } from '../core/history.js';
import type { Rng } from '../core/rng.js';
import { checkFifoIntegrity } from './checkers/fifo-integrity.js';
import { ViolationList, type Violation } from './checkers/violation.js';
import { SimWorld } from './sim-world.js';

export interface ScenarioOptions {
  seed: number;
  /** Frame loss probability (default: drawn per seed up to 5%). */
  loss?: number;
  /** Group size (default: drawn per seed, 2..6). */
  nodes?: number;
  /** Messages per sender (default: drawn per seed). */
  messages?: number;
  /** Pauses, partitions and link breaks (default true). */
  faults?: boolean;
  verbose?: boolean;
}

export interface ScenarioResult {
  seed: number;
  nodes: number;
  sent: number;
  delivered: number;
  violations: Violation[];
  violationCount: number;
  /** sha256 of the recorded history: equal for equal seeds. */
  historyHash: string;
  /** sha256 of the network trace. */
  traceHash: string;
  virtualMs: number;
  history: MemoryHistory;
}

const GROUP = 'sim';

/**
 * One seeded run of the fixed-membership fbcast workload: concurrent senders, message loss,
 * duplication, link breaks, pauses longer than any timeout and partitions that heal. After the
 * faults stop the run continues until quiet, then the checker reads the history.
 */
export function runScenario(opts: ScenarioOptions): ScenarioResult {
  const world = new SimWorld(opts.seed, { verbose: opts.verbose ?? false });
  const rng = world.rng;
  const n = opts.nodes ?? rng.int(2, 6);
  const loss = opts.loss ?? rng.float() * 0.05;
  const faults = opts.faults ?? true;
  world.setNetwork({
    loss,
    duplicate: rng.float() * 0.02,
    jitterMs: rng.float() * 2,
    delayMs: 0.2 + rng.float() * 2,
    breakProbability: faults ? rng.float() * 0.002 : 0,
  });

  const history = new MemoryHistory();
  const endpoints = Array.from({ length: n }, (_, i) => `n${i + 1}:7000`);
  const sims = endpoints.map((e) => world.addNode(e, '1'));
  const nodes = sims.map((s) => new HorusNode(s.env, history));
  // Small windows and fragments so that flow control and fragmentation are exercised.
  const stack = [
    { name: 'STABLE', options: { gossipIntervalMs: 20 + rng.int(0, 80), maxBytes: 64 * 1024 } },
    { name: 'FC', options: { maxCredits: 16 * 1024 + rng.int(0, 256 * 1024) } },
    { name: 'FRAG', options: { fragSize: 1024 + rng.int(0, 8192) } },
    { name: 'NAK', options: { xmitIntervalMs: 5 + rng.int(0, 40) } },
    'COM',
  ];
  const groups: Group[] = nodes.map((node) => node.joinNow(GROUP, { stack, members: endpoints }));

  const perSender = opts.messages ?? rng.int(20, 200);
  const sendWindowMs = 2000;
  nodes.forEach((node, i) => {
    const g = groups[i]!;
    const srng: Rng = rng.fork(`sender:${i}`);
    for (let k = 0; k < perSender; k++) {
      node.env.setTimer(srng.float() * sendWindowMs, () => {
        // Mostly small messages, sometimes large enough to fragment.
        const size = srng.chance(0.05) ? srng.int(2000, 40000) : srng.int(0, 200);
        void g.fbcast(Buffer.alloc(size, k & 0xff));
      });
    }
  });

  if (faults) {
    const frng = rng.fork('nemesis');
    const faultCount = frng.int(0, 4);
    for (let f = 0; f < faultCount; f++) {
      const at = frng.float() * sendWindowMs;
      const kind = frng.int(0, 2);
      if (kind === 0) {
        const victim = endpoints[frng.int(0, n - 1)]!;
        const dur = 50 + frng.float() * 1500;
        world.scheduler.schedule(at, () => world.pause(victim));
        world.scheduler.schedule(at + dur, () => world.resume(victim));
      } else if (kind === 1) {
        const shuffled = endpoints.slice();
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = frng.int(0, i);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const cut = frng.int(1, Math.max(1, n - 1));
        const dur = 50 + frng.float() * 1500;
        world.scheduler.schedule(at, () => world.partition([shuffled.slice(0, cut), shuffled.slice(cut)]));
        world.scheduler.schedule(at + dur, () => world.heal());
      } else {
        const victim = endpoints[frng.int(0, n - 1)]!;
        const dur = 20 + frng.float() * 500;
        world.scheduler.schedule(at, () => world.isolate(victim));
        world.scheduler.schedule(at + dur, () => world.heal());
      }
    }
  }
  // Faults stop at the end of the send window (plus the longest fault); then the system must settle.
  world.runUntil(sendWindowMs + 2000);
  world.setNetwork({ loss: 0, duplicate: 0, breakProbability: 0 });
  world.heal();
  world.runFor(5000);

  const violations = new ViolationList();
  const live = new Set(endpoints);
  checkFifoIntegrity(history.events, GROUP, live, violations);
  // A stack failure contained by the node is still a bug in the simulator.
  for (const ev of history.events)
    if (ev.k === 'fault') violations.add('fault', `${ev.node} contained a failure of its ${ev.group} stack at ${ev.at}: ${ev.error}`);
  groups.forEach((g, i) => {
    if (g.pendingSends > 0) violations.add('liveness', `${endpoints[i]} still holds ${g.pendingSends} unsent messages after the faults stopped`);
  });
  for (const node of nodes) void node.close();

  const h = createHash('sha256');
  for (const ev of history.events) h.update(JSON.stringify(ev)).update('\n');
  return {
    seed: opts.seed,
    nodes: n,
    sent: history.events.filter((e) => e.k === 'send').length,
    delivered: history.events.filter((e) => e.k === 'deliver').length,
    violations: violations.items,
    violationCount: violations.total,
    historyHash: h.digest('hex'),
    traceHash: world.traceHash(),
    virtualMs: world.now(),
    history,
  };
}
