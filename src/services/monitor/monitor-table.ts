/**
 * The monitor's replicated state: rules, the latest sample of each metric from each reporter, each
 * rule's condition episode, and the history of firings. Every replica applies the same operations
 * (rules, samples, clock ticks, views, action outcomes) in the one total order and evaluates every
 * rule after each, so all agree on when an episode begins, that it fires once, and who runs its
 * action. Time is the largest wall-clock stamp the operations carried (it only grows); until the
 * first stamp arrives the group's clock has not started, and no rule is evaluated (a firing's time
 * is always a member's wall clock carried in the order, never 0).
 *
 * An episode: the condition holds (for the rule's duration) -> one firing -> the condition stops
 * holding -> the next episode may begin. A firing's action is run by one member, the executor (the
 * view's oldest member when it fired); if the executor leaves the view before it reports the
 * outcome, the next oldest takes it over (`attempt` + 1), with the same idempotency key.
 */
import { HorusError } from '../../core/errors.js';
import { aggregate, holds, parseRule, MAX_METRIC_CHARS, type Rule } from './rule.js';

export interface Firing {
  rule: string;
  episode: number;
  /** When it fired (table time) and the aggregate's value then. */
  at: number;
  value: number;
  executor: string | null;
  attempt: number;
  /** null: not done yet. */
  outcome: { ok: boolean; detail: string; at: number } | null;
}

interface RuleState {
  rule: Rule;
  state: 'ok' | 'pending' | 'firing';
  since: number;
  episodes: number;
}

export interface MonitorTableOptions {
  /** Samples older than this (table time) are left out of aggregates (default 30 s). */
  staleMs?: number;
  /** Firings kept in the history (default 1000). */
  maxHistory?: number;
}

export const MAX_RULES = 256;
export const MAX_METRICS = 1024;
export const MAX_REPORTERS_PER_METRIC = 1024;

/** The reporter of the built-in `members` metric (the view's size). */
export const GROUP_REPORTER = '(group)';

interface Snapshot {
  v: 1;
  rules: RuleState[];
  samples: [string, [string, number, number][]][];
  firings: Firing[];
  now: number;
  members: string[];
}

export class MonitorTable {
  private readonly rules = new Map<string, RuleState>();
  /** metric -> reporter -> [value, at]. */
  private readonly samples = new Map<string, Map<string, [number, number]>>();
  private firings: Firing[] = [];
  private now = 0;
  private members: string[] = [];
  private readonly staleMs: number;
  private readonly maxHistory: number;
  private readonly listeners: ((fired: Firing[]) => void)[] = [];

  constructor(opts: MonitorTableOptions = {}) {
    this.staleMs = opts.staleMs ?? 30_000;
    this.maxHistory = opts.maxHistory ?? 1000;
  }

  /** Hear of every change, with the firings that need their executor's action now (new or taken over). */
  onChange(fn: (toRun: Firing[]) => void): void {
    this.listeners.push(fn);
  }

  get time(): number {
    return this.now;
  }

  history(): Firing[] {
    return this.firings.map((f) => ({ ...f }));
  }

  ruleStates(): { rule: string; state: string; since: number; episodes: number }[] {
    return [...this.rules.values()].map((r) => ({ rule: r.rule.text, state: r.state, since: r.since, episodes: r.episodes }));
  }

  /** The firings not done yet. */
  open(): Firing[] {
    return this.firings.filter((f) => f.outcome === null);
  }

  /** Add a rule; `at`: the adding member's wall clock (a client's request carries none). */
  addRule(text: unknown, at?: unknown): string {
    const rule = parseRule(text);
    if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at))) throw new HorusError('ERR_MALFORMED', 'a rule operation carries its time');
    if (!this.rules.has(rule.text)) {
      if (this.rules.size >= MAX_RULES) throw new HorusError('ERR_BACKPRESSURE', `${MAX_RULES} rules already`);
      if (at !== undefined && at > this.now) this.now = at;
      this.rules.set(rule.text, { rule, state: 'ok', since: this.now, episodes: 0 });
      this.evaluate();
    }
    return rule.text;
  }

  removeRule(text: unknown): boolean {
    const rule = parseRule(text);
    const had = this.rules.delete(rule.text);
    this.changed([]);
    return had;
  }

  /** `reporter` says `metric` is `value` at `at` (its wall clock). */
  sample(reporter: string, metric: unknown, value: unknown, at: unknown): void {
    if (typeof metric !== 'string' || metric.length === 0 || metric.length > MAX_METRIC_CHARS || !/^[A-Za-z_][\w.:-]*$/.test(metric))
      throw new HorusError('ERR_INVALID_ARGUMENT', 'a metric name is a word of at most 128 characters (letters, digits, _ . : -)');
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new HorusError('ERR_INVALID_ARGUMENT', 'a sample is a finite number');
    if (typeof at !== 'number' || !Number.isFinite(at)) throw new HorusError('ERR_MALFORMED', 'a sample carries its time');
    if (metric === 'members') throw new HorusError('ERR_INVALID_ARGUMENT', 'members is the built-in metric (the view size)');
    let m = this.samples.get(metric);
    if (!m) {
      if (this.samples.size >= MAX_METRICS) throw new HorusError('ERR_BACKPRESSURE', `${MAX_METRICS} metrics already`);
      this.samples.set(metric, (m = new Map()));
    }
    if (!m.has(reporter) && m.size >= MAX_REPORTERS_PER_METRIC)
      throw new HorusError('ERR_BACKPRESSURE', `${MAX_REPORTERS_PER_METRIC} reporters of ${metric} already`);
    m.delete(reporter); // newest last
    m.set(reporter, [value, at]);
    this.advance(at);
  }

  /** Time passes (a member's clock tick). */
  tick(at: unknown): void {
    if (typeof at !== 'number' || !Number.isFinite(at)) throw new HorusError('ERR_MALFORMED', 'a tick carries its time');
    this.advance(at);
  }

  /** The executor of a firing reports its action's outcome; only the current executor's report counts. */
  done(member: string, rule: unknown, episode: unknown, attempt: unknown, ok: unknown, detail: unknown, at: unknown): boolean {
    const f = this.firings.find((x) => x.rule === rule && x.episode === episode);
    if (!f || f.outcome !== null || f.executor !== member || f.attempt !== attempt) return false;
    f.outcome = {
      ok: ok === true,
      detail: typeof detail === 'string' ? detail.slice(0, 512) : '',
      at: typeof at === 'number' && Number.isFinite(at) ? at : this.now,
    };
    this.changed([]);
    return true;
  }

  viewChanged(members: readonly string[]): void {
    const live = new Set(members);
    // The samples of members that left stop counting (clients' samples age out instead).
    const gone = this.members.filter((m) => !live.has(m));
    for (const m of this.samples.values()) for (const r of gone) m.delete(r);
    this.members = [...members];
    let m = this.samples.get('members');
    if (!m) this.samples.set('members', (m = new Map()));
    m.set(GROUP_REPORTER, [members.length, this.now]);
    this.evaluate(this.takeOver(live));
  }

  /**
   * The open firings whose executor left the view go to the oldest member, as their next attempt.
   * (Protected so that the simulator can run a purpose-broken monitor against its checker.)
   */
  protected takeOver(live: ReadonlySet<string>): Firing[] {
    const takenOver: Firing[] = [];
    for (const f of this.firings) {
      if (f.outcome !== null || (f.executor !== null && live.has(f.executor))) continue;
      f.executor = this.members[0] ?? null;
      f.attempt++;
      takenOver.push(f);
    }
    return takenOver;
  }

  snapshot(): Snapshot {
    return {
      v: 1,
      rules: [...this.rules.values()],
      samples: [...this.samples].map(([k, m]) => [k, [...m].map(([r, [v, at]]) => [r, v, at] as [string, number, number])]),
      firings: this.firings,
      now: this.now,
      members: this.members,
    };
  }

  restore(raw: unknown): void {
    const s = raw as Partial<Snapshot> | null;
    if (!s || s.v !== 1 || !Array.isArray(s.rules) || !Array.isArray(s.samples) || !Array.isArray(s.firings) || typeof s.now !== 'number')
      throw new HorusError('ERR_STATE_TRANSFER', 'not a monitor snapshot');
    this.rules.clear();
    for (const r of s.rules) this.rules.set(r.rule.text, { ...r, rule: parseRule(r.rule.text) });
    this.samples.clear();
    for (const [k, list] of s.samples) this.samples.set(k, new Map(list.map(([r, v, at]) => [r, [v, at] as [number, number]])));
    this.firings = s.firings;
    this.now = s.now;
    this.members = Array.isArray(s.members) ? s.members : [];
    this.changed([]);
  }

  private advance(at: number): void {
    if (at > this.now) this.now = at;
    this.evaluate();
  }

  private valueOf(rule: Rule): number | null {
    const m = this.samples.get(rule.metric);
    const fresh: number[] = [];
    for (const [r, [v, at]] of m ?? []) if (r === GROUP_REPORTER || this.now - at <= this.staleMs) fresh.push(v);
    return aggregate(rule.agg, fresh);
  }

  private evaluate(extra: Firing[] = []): void {
    const toRun = [...extra];
    // No stamped operation yet: the group's clock has not started (no time to fire at, and a
    // duration measured from 0 would be over at the first stamp).
    if (this.now <= 0) return this.changed(toRun);
    for (const r of this.rules.values()) {
      const value = this.valueOf(r.rule);
      const cond = value !== null && holds(r.rule.op, value, r.rule.threshold);
      if (!cond) {
        if (r.state !== 'ok') {
          r.state = 'ok';
          r.since = this.now;
        }
        continue;
      }
      if (r.state === 'ok') {
        r.state = 'pending';
        r.since = this.now;
      }
      if (r.state === 'pending' && this.now - r.since >= r.rule.forMs) {
        r.state = 'firing';
        r.episodes++;
        const f: Firing = { rule: r.rule.text, episode: r.episodes, at: this.now, value: value, executor: this.members[0] ?? null, attempt: 1, outcome: null };
        this.firings.push(f);
        toRun.push(f);
        // Forget the oldest finished firings beyond the cap.
        while (this.firings.length > this.maxHistory) {
          const i = this.firings.findIndex((x) => x.outcome !== null);
          if (i < 0) break;
          this.firings.splice(i, 1);
        }
      }
    }
    this.changed(toRun);
  }

  private changed(toRun: Firing[]): void {
    for (const fn of this.listeners) fn(toRun);
  }
}
