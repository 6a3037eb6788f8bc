/** Our metrics interface: a plain in-memory registry, exported to Prometheus by an adapter. The interfaces are the core's. */
import type { Counter, Gauge, Metrics } from '../core/metrics.js';
export type { Counter, Gauge, Metrics };

/** Keeps values in memory; `snapshot()` feeds /metrics and the dashboard. */
export class MemoryMetrics implements Metrics {
  private readonly counters = new Map<string, { help: string; value: number }>();
  private readonly gauges = new Map<string, { help: string; value: number }>();
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
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = { help, value: 0 }));
    const cell = g;
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
    for (const [k, v] of this.gauges) gauges[k] = v.value;
    return { counters, gauges };
  }
  /** Prometheus text exposition format. */
  toPrometheus(labels: Record<string, string> = {}): string {
    const lbl = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
      .join(',');
    const l = lbl ? `{${lbl}}` : '';
    const out: string[] = [];
    for (const [k, v] of this.counters) out.push(`# HELP ${k} ${v.help}`, `# TYPE ${k} counter`, `${k}${l} ${v.value}`);
    for (const [k, v] of this.gauges) out.push(`# HELP ${k} ${v.help}`, `# TYPE ${k} gauge`, `${k}${l} ${v.value}`);
    return out.join('\n') + '\n';
  }
}
