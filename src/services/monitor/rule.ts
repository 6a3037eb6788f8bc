/**
 * A monitor rule, after Meta/Lomita: `when AGG(METRIC) OP NUMBER [for DURATION] then ACTION [ARGS...]`,
 * e.g. `when avg(queue_len) > 100 for 10s then page oncall`. AGG combines the latest fresh sample of
 * each reporter: avg, min, max, sum, count or last (the newest). DURATION: `500ms`, `10s`, `2m`.
 */
import { HorusError } from '../../core/errors.js';

export type Aggregate = 'avg' | 'min' | 'max' | 'sum' | 'count' | 'last';
export type Comparison = '>' | '>=' | '<' | '<=' | '==' | '!=';

export interface Rule {
  /** The rule's text, normalised (its identity). */
  text: string;
  agg: Aggregate;
  metric: string;
  op: Comparison;
  threshold: number;
  forMs: number;
  action: string;
  args: string[];
}

export const MAX_RULE_CHARS = 1024;
export const MAX_METRIC_CHARS = 128;

const RULE =
  /^when\s+(avg|min|max|sum|count|last)\(\s*([A-Za-z_][\w.:-]*)\s*\)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*(?:for\s+(\d+(?:\.\d+)?)\s*(ms|s|m)\s+)?then\s+([A-Za-z_][\w.:-]*)((?:\s+\S+)*)\s*$/i;

export function parseRule(text: unknown): Rule {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_RULE_CHARS)
    throw new HorusError('ERR_INVALID_ARGUMENT', `a rule is a string of 1 to ${MAX_RULE_CHARS} characters`);
  const m = RULE.exec(text.trim());
  if (!m) throw new HorusError('ERR_INVALID_ARGUMENT', `not a rule (want: when avg(metric) > 100 for 10s then action): ${text.slice(0, 80)}`);
  const [, agg, metric, op, num, dur, unit, action, rest] = m;
  if (metric!.length > MAX_METRIC_CHARS) throw new HorusError('ERR_INVALID_ARGUMENT', `a metric name has at most ${MAX_METRIC_CHARS} characters`);
  const threshold = Number(num);
  const forMs = dur === undefined ? 0 : Number(dur) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000);
  if (!Number.isFinite(threshold) || !Number.isFinite(forMs) || forMs > 86_400_000)
    throw new HorusError('ERR_INVALID_ARGUMENT', 'threshold and duration must be finite (duration at most a day)');
  const args = (rest ?? '').trim() === '' ? [] : rest!.trim().split(/\s+/);
  const norm = `when ${agg!.toLowerCase()}(${metric}) ${op} ${num}${dur !== undefined ? ` for ${dur}${unit}` : ''} then ${[action, ...args].join(' ')}`;
  return { text: norm, agg: agg!.toLowerCase() as Aggregate, metric: metric!, op: op as Comparison, threshold, forMs, action: action!, args };
}

/** The aggregate of `values` (newest last), or null when there is none. */
export function aggregate(agg: Aggregate, values: readonly number[]): number | null {
  if (agg === 'count') return values.length;
  if (values.length === 0) return null;
  switch (agg) {
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'min':
      return Math.min(...values);
    case 'max':
      return Math.max(...values);
    case 'last':
      return values[values.length - 1]!;
  }
}

export function holds(op: Comparison, a: number, b: number): boolean {
  switch (op) {
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
}
