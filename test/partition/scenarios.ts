// The real-partition scenarios of issue #9: each starts real processes in network namespaces, cuts
// and heals links, and returns its timings and every check that failed (none: the scenario passed).
import { loadavg } from 'node:os';
import type { HistoryEvent } from '../../src/core/history.js';
import type { CutMode } from '../../bench/lib/netns.js';
import { PartitionLab, sleep, wallNow, type AgreedView } from './harness.js';

export interface ScenarioOptions {
  cut?: CutMode;
  /** Keep the directory of histories and logs even when the scenario passed. */
  keep?: boolean;
  logLevel?: 'warn' | 'info' | 'debug';
  /** primary-isolated: how long the primary is cut off (ms). */
  cutMs?: number;
  /** flapping: the seed of the partition sequence (default: random, printed). */
  seed?: number;
  /** flapping, together: how many hosts. */
  hosts?: number;
  /** Members run under `nice -n <nice>` (see LabOptions.nice). */
  nice?: number;
  /** A line of progress (default: none). */
  log?: (line: string) => void;
}

export interface ScenarioResult {
  scenario: string;
  ok: boolean;
  failures: string[];
  /** ms; null: not reached. */
  timings: Record<string, number | null>;
  info: Record<string, unknown>;
  marks: string[];
  /** Histories and member logs (kept when the scenario failed, or with `keep`). */
  dir: string | null;
  seconds: number;
}

/** Bounds on waits (a loaded 2-core machine is slow, not stuck); going past one is a failure. */
const FORM_MS = 90_000;
const CUT_REACTION_MS = 15_000;
const HEAL_BOUND_MS = 30_000;
/** After the traffic stops, every message sent in the final view must be delivered everywhere. */
const DELIVERY_BOUND_MS = 15_000;

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
const round = (x: number | null): number | null => (x === null ? null : Math.round(x));

interface Ctx {
  lab: PartitionLab;
  res: ScenarioResult;
  fail(what: string): void;
  log(line: string): void;
}

async function scenario(name: string, hosts: number, o: ScenarioOptions, body: (c: Ctx) => Promise<void>): Promise<ScenarioResult> {
  const t0 = performance.now();
  const res: ScenarioResult = { scenario: name, ok: false, failures: [], timings: {}, info: {}, marks: [], dir: null, seconds: 0 };
  const log = (line: string): void => o.log?.(`[${name}] ${line}`);
  const lab = await PartitionLab.create({
    hosts,
    ...(o.cut !== undefined ? { cut: o.cut } : {}),
    ...(o.logLevel !== undefined ? { logLevel: o.logLevel } : {}),
    ...(o.nice !== undefined ? { nice: o.nice } : {}),
  });
  // Real-time behaviour depends on the machine: a load far above the core count starves heartbeats.
  res.info['loadAtStart'] = Math.round(loadavg()[0]! * 10) / 10;
  const c: Ctx = {
    lab,
    res,
    fail: (what) => {
      res.failures.push(what);
      log(`FAIL ${what}`);
    },
    log,
  };
  try {
    try {
      await body(c);
    } catch (err) {
      c.fail(`aborted: ${err instanceof Error ? err.message : String(err)}`);
    }
    await finalChecks(c);
  } finally {
    res.marks = lab.marks;
    res.info['loadAtEnd'] = Math.round(loadavg()[0]! * 10) / 10;
    res.ok = res.failures.length === 0;
    const keep = !res.ok || o.keep === true;
    res.dir = keep ? lab.dir : null;
    await lab.close(keep);
    res.seconds = Math.round((performance.now() - t0) / 100) / 10;
    const info = Object.fromEntries(Object.entries(res.info).filter(([, v]) => typeof v === 'number'));
    log(`${res.ok ? 'ok' : 'FAILED'} in ${res.seconds} s ${JSON.stringify(res.timings)} ${JSON.stringify(info)}${keep ? ` (kept ${lab.dir})` : ''}`);
  }
  return res;
}

/** Every process listens (each given all the others as seeds); #0 founds the group, the rest join it. */
async function formGroup(c: Ctx, o: { batch?: number } = {}): Promise<AgreedView> {
  const { lab } = c;
  const all = range(0, lab.size);
  await Promise.all(all.map((i) => lab.listen(i)));
  await lab.join(0, { create: true });
  const batch = o.batch ?? lab.size;
  // Forming the group is not what these scenarios test: a joiner that found nobody (its seeds still
  // connecting on a loaded machine), or that was not admitted within the join timeout (15 processes
  // on a loaded 2-core machine: flush after flush), asks again, and the retries are counted.
  let retries = 0;
  const joinOne = async (i: number): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await lab.join(i, { create: false, timeoutMs: FORM_MS, lookupTimeoutMs: 3000 });
        return;
      } catch (err) {
        if (attempt >= 4 || !/nobody knows|let us in/.test(String(err))) throw err;
        retries++;
        await sleep(500);
      }
    }
  };
  // Joiners in batches: one view change admits a batch (all at once, on a loaded machine, every
  // member of a large view starts without leases and the view takes long to settle).
  const joiners = all.slice(1);
  for (let k = 0; k < joiners.length; k += batch) await Promise.all(joiners.slice(k, k + batch).map(joinOne));
  c.res.info['formRetries'] = retries;
  const v = await lab.waitOneView(all, FORM_MS, `all ${lab.size}`);
  lab.mark(`all ${lab.size} in view ${v.id}`);
  c.log(`group formed: view ${v.id} of ${v.members.length}`);
  return v;
}

/** Polls until `f` gives a value (or the bound passes: null). */
async function within<T>(ms: number, f: () => T | null): Promise<T | null> {
  const until = performance.now() + ms;
  for (;;) {
    const v = f();
    if (v !== null) return v;
    if (performance.now() > until) return null;
    await sleep(50);
  }
}

/**
 * After a cut, waits for the majority's view without the minority and for every minority member's
 * 'minority' block; records cut → block (the last minority member) and cut → view (the first
 * majority member), and fails if the block did not come first.
 */
async function cutReaction(c: Ctx, cutAt: number, majority: number[], minority: number[], prefix: string): Promise<void> {
  const { lab, res } = c;
  const views = await within(CUT_REACTION_MS, () => {
    const v = majority.map((i) => lab.viewWithoutAt(i, cutAt, minority));
    return v.every((x) => x !== null) ? v.map((x) => x!.at) : null;
  });
  const blocks = await within(views === null ? 0 : 2000, () => {
    const b = minority.map((i) => lab.blockedAt(i, cutAt) ?? (lab.blockedAtTime(i, cutAt) ? cutAt : null));
    return b.every((x) => x !== null) ? b.map((x) => x!) : null;
  });
  res.timings[`${prefix}MajorityViewMs`] = views === null ? null : round(Math.min(...views) - cutAt);
  res.timings[`${prefix}MajorityViewAllMs`] = views === null ? null : round(Math.max(...views) - cutAt);
  res.timings[`${prefix}MinorityBlockMs`] = blocks === null ? null : round(Math.max(...blocks) - cutAt);
  if (views === null)
    c.fail(
      `${prefix}: the majority (${majority.join(',')}) installed no view without ${minority.join(',')} within ${CUT_REACTION_MS} ms: ${await lab.describe()}`,
    );
  if (blocks === null) {
    const missing = minority.filter((i) => lab.blockedAt(i, cutAt) === null && !lab.blockedAtTime(i, cutAt));
    c.fail(`${prefix}: minority members ${missing.join(',')} never blocked as 'minority' after the cut`);
  }
  if (views !== null && blocks !== null) {
    const margin = Math.min(...views) - Math.max(...blocks);
    res.timings[`${prefix}BlockBeforeViewMs`] = round(margin);
    if (margin <= 0) c.fail(`${prefix}: the minority blocked ${Math.round(-margin)} ms AFTER the majority installed its view (two primaries)`);
  }
  // The minority installs nothing while cut off.
  for (const i of minority) {
    const v = lab.viewsBetween(i, cutAt, wallNow());
    const bad = v.filter((x) => x.members.length * 2 <= lab.size && x.members.length > 0);
    if (bad.length > 0) {
      const first = bad[0]!;
      c.fail(`${prefix}: minority member #${i} installed view ${first.view} [${first.members.length} members] while cut off`);
    }
  }
}

/** Stops traffic, waits for one quiet view of all live processes, runs the checkers. */
async function finalChecks(c: Ctx): Promise<void> {
  const { lab, res } = c;
  const live = lab.live().filter((i) => !lab.members[i]!.stopped);
  let final: AgreedView | null = null;
  try {
    await Promise.all(live.map((i) => lab.members[i]!.request<'traffic'>({ cmd: 'traffic', intervalMs: 0, size: 0 })));
    await sleep(1000);
    final = await lab.waitOneView(live, HEAL_BOUND_MS, 'the live processes at the end');
  } catch (err) {
    if (res.failures.length === 0) c.fail(`end: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const e of await lab.processErrors()) c.fail(`process error: ${e}`);
  let events: HistoryEvent[] = [];
  try {
    const checked = lab.check();
    events = checked.events;
    res.info['events'] = events.length;
    res.info['sends'] = events.filter((e) => e.k === 'send').length;
    res.info['deliveries'] = events.filter((e) => e.k === 'deliver').length;
    res.info['violations'] = checked.violations.total;
    for (const v of checked.violations.items.slice(0, 8)) c.fail(`checker ${v.property}: ${v.detail}`);
    if (checked.violations.total > 8) c.fail(`checker: ${checked.violations.total - 8} more violations`);
  } catch (err) {
    c.fail(`history: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (final !== null) {
    res.info['finalView'] = { id: final.id, members: final.members.length };
    // Liveness in the final view: whatever was sent in it reaches every live member, within a bound.
    const fv = final.id;
    const missing = (): string[] => {
      const evs = live.flatMap((i) => lab.events(i));
      const sent = evs.filter((e) => e.k === 'send' && e.view === fv).map((e) => (e as { msg: string }).msg);
      return final.members.flatMap((id) => {
        const got = new Set(evs.filter((e) => e.k === 'deliver' && e.node === id && e.view === fv).map((e) => (e as { msg: string }).msg));
        const miss = sent.filter((m) => !got.has(m));
        if (miss.length === 0) return [];
        const from = [...new Set(miss.map((m) => m.split('#')[0]!.split(':')[0]))].join(' ');
        return [`${id} has not delivered ${miss.length} of the ${sent.length} messages sent in the final view (from ${from})`];
      });
    };
    const t0 = performance.now();
    let left = missing();
    while (left.length > 0 && performance.now() - t0 < DELIVERY_BOUND_MS) {
      await sleep(250);
      await lab.status(live).catch(() => []); // flushes the histories
      left = missing();
    }
    res.timings['endAllDeliveredMs'] = left.length === 0 ? round(performance.now() - t0) : null;
    for (const l of left) c.fail(`liveness: ${l} ${DELIVERY_BOUND_MS} ms after the traffic stopped: ${await lab.describe(live)}`);
  }
}

/** Heals, then the group must reach one view of all live processes within the bound. */
async function healAndWait(c: Ctx, prefix = 'heal'): Promise<void> {
  const { lab, res } = c;
  const healAt = await lab.heal();
  try {
    const v = await lab.waitOneView(lab.live(), HEAL_BOUND_MS, `all ${lab.live().length} after the heal`);
    res.timings[`${prefix}OneViewMs`] = round(v.at - healAt);
    lab.mark(`one view ${v.id} of ${v.members.length} ${Math.round(v.at - healAt)} ms after the heal`);
    res.info['viewsAfterHeal'] = v.id;
  } catch (err) {
    res.timings[`${prefix}OneViewMs`] = null;
    c.fail(`${prefix}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The seed's 15 sites: split 5/5/5 (no majority anywhere: all block), then 10/5, then healed. */
export function sites15(o: ScenarioOptions = {}): Promise<ScenarioResult> {
  return scenario('sites-15', 15, o, async (c) => {
    const { lab, res } = c;
    await formGroup(c, { batch: 3 });
    await lab.traffic(range(0, 15), { intervalMs: 250, orders: ['fifo', 'total'] });
    await sleep(2000);
    const [a, b, d] = [range(0, 5), range(5, 10), range(10, 15)];
    const cut1 = await lab.partition([a, b, d]);
    res.info['blockedBeforeCut'] = range(0, 15).filter((i) => lab.blockedAtTime(i, cut1)).length;
    const blocks = await within(CUT_REACTION_MS, () => {
      // A member already blocked as a minority when the cut came counts as blocked at the cut.
      const x = range(0, 15).map((i) => lab.blockedAt(i, cut1) ?? (lab.blockedAtTime(i, cut1) ? cut1 : null));
      return x.every((t) => t !== null) ? x.map((t) => t!) : null;
    });
    res.timings['split555BlockFirstMs'] = blocks === null ? null : round(Math.min(...blocks) - cut1);
    res.timings['split555BlockAllMs'] = blocks === null ? null : round(Math.max(...blocks) - cut1);
    if (blocks === null) c.fail(`5/5/5: not every member blocked as 'minority' within ${CUT_REACTION_MS} ms: ${await lab.describe()}`);
    await sleep(Math.max(0, cut1 + 6000 - wallNow()));
    for (const i of range(0, 15)) {
      const v = lab.viewsBetween(i, cut1, wallNow());
      if (v.length > 0) c.fail(`5/5/5: #${i} installed view ${v[0]!.view} of ${v[0]!.members.length} with no majority anywhere`);
    }
    const cut2 = await lab.partition([[...a, ...b], d]);
    // The 5 were blocked since the 5/5/5 split: they must still be, and install nothing.
    for (const i of d) if (!lab.blockedAtTime(i, cut2)) c.fail(`10/5: minority member #${i} was not blocked when the 10/5 split began`);
    await cutReaction(c, cut2, [...a, ...b], d, 'split105');
    await sleep(Math.max(0, cut2 + 8000 - wallNow()));
    await healAndWait(c);
  });
}

/**
 * A 3-member group whose primary (the senior member, #0) is cut off from its two backups for `cutMs`
 * while all three abcast (every third one safe); then healed. No two primaries; no safe trade lost,
 * and no trade the primary delivered after the backups moved on.
 */
export function primaryIsolated(o: ScenarioOptions = {}): Promise<ScenarioResult> {
  const cutMs = o.cutMs ?? 15_000;
  return scenario(cutMs === 15_000 ? 'primary-isolated' : `primary-isolated-${cutMs / 1000}s`, 3, o, async (c) => {
    const { lab, res } = c;
    const v = await formGroup(c);
    const primary = lab.memberIdOf(0);
    if (v.members[0] !== primary) c.fail(`#0 (${primary}) is not the senior member of ${v.members.join(' ')}`);
    await lab.traffic([0, 1, 2], { intervalMs: 20, orders: ['total'], safeEvery: 3 });
    await sleep(2000);
    const cutAt = await lab.partition([[0], [1, 2]]);
    await cutReaction(c, cutAt, [1, 2], [0], 'cut');
    await sleep(Math.max(0, cutAt + cutMs - wallNow()));
    await healAndWait(c);
    await sleep(1500);
    // Trades the primary (under its id at the cut) delivered that neither backup ever delivered.
    const events = lab.merged();
    const safe = new Set(events.flatMap((e) => (e.k === 'send' && e.safe === true ? [e.msg] : [])));
    const backups = new Set(events.flatMap((e) => (e.k === 'deliver' && !e.node.startsWith(lab.endpoint(0)) ? [e.msg] : [])));
    const majorityView = res.timings['cutMajorityViewMs'];
    const movedOn = majorityView === null || majorityView === undefined ? Infinity : cutAt + majorityView;
    const lost = events.filter((e): e is Extract<HistoryEvent, { k: 'deliver' }> => e.k === 'deliver' && e.node === primary && !backups.has(e.msg));
    const lostSafe = lost.filter((e) => safe.has(e.msg));
    const lostAfter = lost.filter((e) => e.at >= movedOn);
    res.info['tradesLost'] = lost.length;
    res.info['tradesLostSafe'] = lostSafe.length;
    res.info['tradesLostAfterMajorityView'] = lostAfter.length;
    res.info['tradesLostNote'] = 'non-safe abcasts the isolated primary delivered before it blocked (allowed: it does not survive the view)';
    if (lostSafe.length > 0) c.fail(`${lostSafe.length} safe trades delivered by the isolated primary were never delivered by the backups`);
    if (lostAfter.length > 0) c.fail(`${lostAfter.length} trades delivered by the isolated primary after the backups installed their view`);
  });
}

/** mulberry32: a small seeded generator for the partition sequence (printed, so a run can be replayed). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Partitions that change every 0.5–4 s, several times, while everyone sends; then healed. */
export function flapping(o: ScenarioOptions = {}): Promise<ScenarioResult> {
  const hosts = o.hosts ?? 5;
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  return scenario('flapping', hosts, o, async (c) => {
    const { lab, res } = c;
    const r = rng(seed);
    res.info['seed'] = seed;
    await formGroup(c);
    await lab.traffic(range(0, hosts), { intervalMs: 100, orders: ['fifo', 'total'] });
    await sleep(1500);
    const steps: string[] = [];
    for (let k = 0; k < 8; k++) {
      const nSets = 2 + Math.floor(r() * 2);
      const sets: number[][] = Array.from({ length: nSets }, () => []);
      for (let h = 0; h < hosts; h++) sets[Math.floor(r() * nSets)]!.push(h);
      const holdMs = Math.round(500 + r() * 3500);
      await lab.partition(sets.filter((s) => s.length > 0));
      steps.push(`${sets.map((s) => s.join(',')).join('|')} ${holdMs}ms`);
      await sleep(holdMs);
    }
    res.info['steps'] = steps;
    await healAndWait(c);
  });
}

/** Nodes started together, each given the others as seeds before they listen: one group must result. */
export function together(o: ScenarioOptions = {}): Promise<ScenarioResult> {
  const hosts = o.hosts ?? 3;
  return scenario('together', hosts, o, async (c) => {
    const { lab, res } = c;
    const all = range(0, hosts);
    // Every process has loaded (it answers), so the start is the nodes', not the loader's.
    await lab.status(all, 60_000);
    const t0 = wallNow();
    // Each joins as soon as its own node listens, whoever else is up: join() with its defaults.
    await Promise.all(
      all.map(async (i) => {
        await lab.listen(i);
        await lab.join(i, { create: true, api: 'join', timeoutMs: FORM_MS });
      }),
    );
    const v = await lab.waitOneView(all, HEAL_BOUND_MS, `all ${hosts} started together`);
    res.timings['startOneViewMs'] = round(v.at - t0);
    // Who founded a group (a first view holding only itself): more than one means two groups met.
    const founders = all.filter((i) => {
      const first = lab.events(i).find((e) => e.k === 'view');
      return first !== undefined && first.k === 'view' && first.members.length === 1;
    });
    res.info['founders'] = founders.length;
    lab.mark(`one view ${v.id} of ${hosts}; ${founders.length} founder(s)`);
  });
}

/**
 * The primary (#0) is stopped (SIGSTOP) for 3 s while all three abcast, then continued: the backups
 * move on without it; the resumed primary must block before it delivers anything in its old view
 * and rejoin. The harness records 'pause'/'resume' around the signals, so the two-primaries checker
 * counts the time between SIGCONT and the member's own 'minority' block as live time.
 */
export function primaryPaused(o: ScenarioOptions = {}): Promise<ScenarioResult> {
  return scenario('primary-paused', 3, o, async (c) => {
    const { lab, res } = c;
    await formGroup(c);
    await lab.traffic([0, 1, 2], { intervalMs: 20, orders: ['total'], safeEvery: 3 });
    await sleep(2000);
    const primary = lab.memberIdOf(0);
    const stopAt = wallNow();
    await lab.pause(0);
    const moved = await within(CUT_REACTION_MS, () => {
      const v = [1, 2].map((i) => lab.viewWithoutAt(i, stopAt, [0]));
      return v.every((x) => x !== null) ? Math.min(...v.map((x) => x!.at)) : null;
    });
    res.timings['pauseMajorityViewMs'] = moved === null ? null : round(moved - stopAt);
    if (moved === null) c.fail(`the backups installed no view without the paused primary within ${CUT_REACTION_MS} ms`);
    await sleep(Math.max(0, stopAt + 3000 - wallNow()));
    const contAt = wallNow();
    await lab.resume(0);
    // After SIGCONT: what the old member did in its old view before blocking or learning it was excluded.
    await sleep(1500);
    const evs = lab.events(0).filter((e) => e.at >= contAt && 'node' in e && e.node === primary);
    const stop = evs.find((e) => (e.k === 'blocked' && (e.reason === 'minority' || e.reason === 'flush')) || e.k === 'ended');
    res.timings['resumeToBlockMs'] = stop === undefined ? null : round(stop.at - contAt);
    const delivered = evs.filter((e) => e.k === 'deliver' && (stop === undefined || e.at <= stop.at));
    res.info['deliveredAfterResume'] = delivered.length;
    if (delivered.length > 0) c.fail(`the resumed primary delivered ${delivered.length} messages in its old view before it blocked`);
    try {
      const v = await lab.waitOneView([0, 1, 2], HEAL_BOUND_MS, 'all 3 after the resume');
      res.timings['resumeOneViewMs'] = round(v.at - contAt);
    } catch (err) {
      res.timings['resumeOneViewMs'] = null;
      c.fail(`resume: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

/** The scenarios of issue #9, run by default. */
export const SCENARIOS: Record<string, (o: ScenarioOptions) => Promise<ScenarioResult>> = {
  'sites-15': sites15,
  'primary-isolated': primaryIsolated,
  flapping,
  together,
};

/** More, run with --only. */
export const EXTRA_SCENARIOS: Record<string, (o: ScenarioOptions) => Promise<ScenarioResult>> = {
  'primary-paused': primaryPaused,
};
