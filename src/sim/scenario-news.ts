import { HorusNode } from '../api/node.js';
import { NewsClient, type ClientSubscription } from '../services/news/news-client.js';
import { NewsService } from '../services/news/news-service.js';
import type { Published } from '../services/news/news-store.js';
import type { Posting } from '../services/news/posting.js';
import { checkNews, type NewsEvent, type NewsPostingRecord } from './checkers/news.js';
import { ViolationList, type Violation } from './checkers/violation.js';
import { SimWorld } from './sim-world.js';
// The tools scenario's stack (fast timeouts, leases that do not lapse between heartbeats) and its settling step.
import { TOOLS_SIM_STACK as STACK } from './scenario-tools.js';
import { CrashOrIsolate, drawWorkloadNetwork, settleWith, stepperOf, workloadSeed, workloadReport, type WorkloadSeedOutcome } from './workload-kit.js';

export interface NewsScenarioOptions {
  seed: number;
  /** Member nodes (default: drawn per seed, 3..5); two more nodes are clients. */
  nodes?: number;
  /** Virtual ms of workload and faults before the system must settle (default 6000). */
  durationMs?: number;
  /** Frame loss probability (default: drawn per seed, up to 3%). */
  loss?: number;
  verbose?: boolean;
}

export interface NewsScenarioResult {
  seed: number;
  nodes: number;
  faults: string[];
  events: number;
  postings: number;
  violations: Violation[];
  violationCount: number;
  /** sha256 of the recorded events: equal for equal seeds. */
  historyHash: string;
  virtualMs: number;
}

const SUBJECTS = ['t.0', 't.1', 't.2', 'u.a.b', 'u.c'];
const PATTERNS = ['>', 't.*', 't.0', 'u.>', '*.c'];
/**
 * Back issues kept per subject: as many as a subscriber asks for at most (3), so that old ones are
 * dropped during a run; the stream window (its default, 10,000) keeps every posting of a run, so
 * the final member holds the whole order.
 */
const BACK_ISSUES = 3;

const record = (p: Posting | Published): NewsPostingRecord => ({ pos: p.pos, subject: p.subject, seq: p.seq, publisher: p.publisher, id: p.id });

/** One member process: a News member that subscribes to one pattern once it is in the group. */
class NewsMember {
  readonly node: HorusNode;
  readonly news: NewsService;
  readonly sub: string;
  alive = true;
  subscribed = false;
  private position = () => 0;

  constructor(
    readonly endpoint: string,
    world: SimWorld,
    incarnation: number,
    contacts: string[],
    log: (e: NewsEvent) => void,
    pattern: string,
    back: number,
  ) {
    const sim = world.addNode(endpoint, String(incarnation));
    this.node = new HorusNode(sim.env);
    this.news = new NewsService({ backIssues: BACK_ISSUES }, () => world.now());
    this.sub = `${endpoint}/${incarnation}`;
    const group = this.node.joinNow('news', { contacts, stack: STACK, state: this.news.state });
    this.news.attach(group, this.node);
    void group.ready.then(
      () => {
        if (!this.alive) return;
        const s = this.news.subscribe(pattern, (p) => log({ k: 'deliver', at: world.now(), sub: this.sub, p: record(p) }), { back });
        this.subscribed = true;
        this.position = () => s.position;
        log({ k: 'sub-start', at: world.now(), sub: this.sub, pattern, back, start: s.position });
      },
      () => {},
    );
  }

  /** The subscription has been given everything this member applied. */
  get caughtUp(): boolean {
    return !this.subscribed || this.position() >= this.news.head;
  }
}

/**
 * News under faults: 3–5 member nodes each run the News service and subscribe to a pattern (a
 * restarted member subscribes again, late, with back issues); two client nodes outside the group
 * publish and subscribe through members (one from the start, closing and resuming its subscription
 * midway as a reconnecting client would; one late, with back issues). Members and clients publish
 * to five subjects while a nemesis crashes members (restarted as new incarnations that rejoin with
 * state) and isolates one for a while, over a lossy network. Once the run settles, the checker
 * compares every subscriber's deliveries and every acknowledged publish with the total order a
 * member of the final view holds.
 */
export async function runNewsScenarioAsync(opts: NewsScenarioOptions): Promise<NewsScenarioResult> {
  const world = new SimWorld(opts.seed, { verbose: opts.verbose ?? false });
  const rng = world.rng;
  const n = opts.nodes ?? rng.int(3, 5);
  const duration = opts.durationMs ?? 6000;
  drawWorkloadNetwork(world, rng, opts.loss);
  const events: NewsEvent[] = [];
  const log = (e: NewsEvent): void => void events.push(e);
  const faults: string[] = [];
  const endpoints = Array.from({ length: n }, (_, i) => `n${i + 1}:7000`);
  const incarnations = new Map<string, number>();
  const members = new Map<string, NewsMember>();
  const choice = world.forkRng('subscribers');
  const start = (ep: string): NewsMember => {
    const inc = (incarnations.get(ep) ?? 0) + 1;
    incarnations.set(ep, inc);
    const contacts = [...members.values()].filter((m) => m.alive && m.endpoint !== ep).map((m) => m.endpoint);
    const pattern = PATTERNS[choice.int(0, PATTERNS.length - 1)]!;
    const m = new NewsMember(ep, world, inc, contacts, log, pattern, inc === 1 ? 0 : choice.int(0, 3));
    members.set(ep, m);
    return m;
  };
  const step = stepperOf(world);
  for (const ep of endpoints) {
    start(ep);
    await step(250);
  }
  await step(1000);
  const clientNodes = ['c1:7000', 'c2:7000'].map((ep) => new HorusNode(world.addNode(ep, '1').env, undefined, endpoints));
  const clients: (NewsClient | null)[] = [];
  for (const node of clientNodes) {
    try {
      clients.push(await settleWith(step, NewsClient.connect(node, { attemptTimeoutMs: 800, timeoutMs: 120_000 })));
    } catch {
      clients.push(null);
    }
  }
  const clientSubs: { sub: string; s: ClientSubscription; pattern: string; closed: boolean }[] = [];
  const subscribeClient = (c: NewsClient, sub: string, pattern: string, back: number, after?: number): ClientSubscription => {
    const s = c.subscribe(pattern, (p) => log({ k: 'deliver', at: world.now(), sub, p: record(p) }), {
      back,
      ...(after !== undefined ? { after } : { onStart: (pos: number) => log({ k: 'sub-start', at: world.now(), sub, pattern, back, start: pos }) }),
    });
    clientSubs.push({ sub, s, pattern, closed: false });
    return s;
  };
  let c1Sub: ClientSubscription | null = clients[0] ? subscribeClient(clients[0], 'c1', '>', 0) : null;
  /** Publishes made, with the member that made them (null: a client, which never crashes). */
  const pending: { owner: NewsMember | null; done: boolean }[] = [];
  const track = (owner: NewsMember | null, p: Promise<Published>): void => {
    const e = { owner, done: false };
    pending.push(e);
    void p.then(
      (r) => {
        e.done = true;
        log({ k: 'acked', at: world.now(), p: record(r) });
      },
      () => (e.done = true),
    );
  };
  const t0 = world.now();
  const wl = world.forkRng('workload');
  const nemesis = world.forkRng('nemesis');
  const strike = new CrashOrIsolate(world, nemesis, faults, { restartMs: [400, 1200], healMs: [400, 1600] });
  let nextFault = t0 + 300 + nemesis.int(0, 1200);
  let lateDone = false;
  let resumeDone = false;
  while (world.now() - t0 < duration) {
    if (world.now() >= nextFault) {
      nextFault = world.now() + 700 + nemesis.int(0, 1800);
      const live = [...members.values()].filter((m) => m.alive);
      const down = n - live.length + (strike.isolated ? 1 : 0);
      if (down < Math.max(1, Math.floor((n - 1) / 2))) {
        const victim = live[nemesis.int(0, live.length - 1)]!;
        if (nemesis.float() < 0.6 || strike.isolated !== null) {
          const ep = victim.endpoint;
          strike.crash(
            ep,
            () => start(ep),
            () => {
              victim.alive = false;
              if (victim.subscribed) log({ k: 'sub-end', at: world.now(), sub: victim.sub });
            },
          );
        } else {
          strike.isolate(victim.endpoint);
        }
      }
    }
    const elapsed = world.now() - t0;
    if (!lateDone && elapsed >= duration * 0.4 && clients[1]) {
      lateDone = true;
      subscribeClient(clients[1], 'c2', 't.*', 3);
    }
    if (!resumeDone && elapsed >= duration * 0.6 && clients[0] && c1Sub) {
      // A client that reconnects: its subscription stops and starts again after the last position it saw.
      resumeDone = true;
      c1Sub.close();
      for (const e of clientSubs) if (e.s === c1Sub) e.closed = true;
      c1Sub = subscribeClient(clients[0], 'c1', '>', 0, c1Sub.position);
    }
    for (const m of members.values()) {
      if (!m.alive || m.news.group.view.id === 0 || wl.float() > 0.25) continue;
      track(m, m.news.publish(SUBJECTS[wl.int(0, SUBJECTS.length - 1)]!, wl.int(0, 1_000_000)));
    }
    for (const c of clients) if (c && wl.float() < 0.3) track(null, c.publish(SUBJECTS[wl.int(0, SUBJECTS.length - 1)]!, wl.int(0, 1_000_000)));
    await step(50);
  }
  // Settle: faults are over; restarts due run; every publish gets its answer and every subscriber catches up.
  world.heal();
  const final = (): NewsMember[] => [...members.values()].filter((m) => m.alive && m.news.group.view.members.includes(m.news.group.localId));
  const head = (): number => Math.max(0, ...final().map((m) => m.news.head));
  const unsettled = (): number =>
    pending.filter((e) => !e.done && (e.owner === null || e.owner.alive)).length +
    // A live member out of the view (excluded, rejoining) is waited for: its subscriber stays up.
    [...members.values()].filter((m) => m.alive && !final().includes(m)).length +
    final().filter((m) => !m.caughtUp || m.news.head < head()).length +
    clientSubs.filter((c) => !c.closed && c.s.position < head()).length;
  let waited = 0;
  await step(500);
  while (unsettled() > 0 && waited < 60_000) {
    await step(100);
    waited += 100;
  }
  const left = unsettled();
  const v = new ViolationList();
  if (left > 0)
    v.add('news-liveness', `${left} publishes, member subscribers or client subscribers did not settle or catch up within 60 s after the faults stopped`);
  const truthFrom = final()[0];
  if (truthFrom) {
    const postings: NewsPostingRecord[] = [];
    truthFrom.news.subscribe('>', (p) => postings.push(record(p)), { after: 0 }).close();
    log({ k: 'truth', at: world.now(), postings });
  }
  for (const c of clients) c?.close();
  checkNews(events, v);
  return {
    ...workloadReport(opts.seed, n, faults, events, v, world),
    postings: head(),
  };
}

/** One seed of the news workload as the seed runner reports it (plain data; never throws). */
export function runNewsSeed(seed: number, opts: Omit<NewsScenarioOptions, 'seed'> = {}): Promise<WorkloadSeedOutcome> {
  return workloadSeed(seed, () => runNewsScenarioAsync({ ...opts, seed }));
}
