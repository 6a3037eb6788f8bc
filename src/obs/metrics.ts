/** Our metrics interface: a plain in-memory registry, exported to Prometheus by an adapter. The interfaces are the core's. */
import type { Counter, Gauge, Metrics } from '../core/metrics.js';
export type { Counter, Gauge, Metrics };

/** One gauge's series, one per group that sets it (the key: its group, '' for the node's own). */
interface GaugeFamily {
  help: string;
  series: Map<string, { value: number }>;
}

const escapeLabel = (v: string): string => v.replace(/["\\\n]/g, '_');

/**
 * Keeps values in memory; `snapshot()` feeds /metrics and the dashboard. Counters are the node's
 * (every group's stack adds to them). A gauge is a level, which groups cannot share: each group's
 * stack sets its own series (`forGroup`), exported with a `group` label, and the snapshot reports
 * their sum (bytes held, say, for the whole node). Before, every group wrote one value, and a node
 * in two groups reported whichever had set it last.
 */
export class MemoryMetrics implements Metrics {
  private readonly counters = new Map<string, { help: string; value: number }>();
  private readonly gauges = new Map<string, GaugeFamily>();
  counter(name: string, help: string): Counter {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = { help, value: 0 }));
    const cell = c;
    return {
      inc(n = 1) {
        cell.value += n;
      },
    };
  }
  gauge(name: string, help: string): Gauge {
    return this.series(name, help, '');
  }
  /** The metrics a group's stack counts through: the node's counters, and gauges of that group's own. */
  forGroup(group: string): Metrics {
    return { counter: (name, help) => this.counter(name, help), gauge: (name, help) => this.series(name, help, group) };
  }
  /** Drops a group's gauge series (it left): what it last set no longer counts. */
  forgetGroup(group: string): void {
    for (const f of this.gauges.values()) f.series.delete(group);
  }
  private series(name: string, help: string, group: string): Gauge {
    let f = this.gauges.get(name);
    if (!f) this.gauges.set(name, (f = { help, series: new Map() }));
    let s = f.series.get(group);
    if (!s) f.series.set(group, (s = { value: 0 }));
    const cell = s;
    return {
      set(v) {
        cell.value = v;
      },
    };
  }
  snapshot(): { counters: Record<string, number>; gauges: Record<string, number> } {
    const counters: Record<string, number> = {};
    const gauges: Record<string, number> = {};
    for (const [k, v] of this.counters) counters[k] = v.value;
    for (const [k, f] of this.gauges) {
      let sum = 0;
      for (const s of f.series.values()) sum += s.value;
      gauges[k] = sum;
    }
    return { counters, gauges };
  }
  /** Prometheus text exposition format: `labels` on every sample, and a gauge's group on its series. */
  toPrometheus(labels: Record<string, string> = {}): string {
    const base = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    const l = base.length > 0 ? `{${base.join(',')}}` : '';
    const out: string[] = [];
    for (const [k, v] of this.counters) out.push(`# HELP ${k} ${v.help}`, `# TYPE ${k} counter`, `${k}${l} ${v.value}`);
    for (const [k, f] of this.gauges) {
      out.push(`# HELP ${k} ${f.help}`, `# TYPE ${k} gauge`);
      for (const [group, s] of f.series) {
        const all = group === '' ? base : [...base, `group="${escapeLabel(group)}"`];
        out.push(`${k}${all.length > 0 ? `{${all.join(',')}}` : ''} ${s.value}`);
      }
    }
    return out.join('\n') + '\n';
  }
}
