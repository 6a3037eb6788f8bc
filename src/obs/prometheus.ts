import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MemoryMetrics } from './metrics.js';
import type { NodeObserver } from './node-observer.js';

/**
 * The Prometheus side of a node: prom-client's process metrics, the observer's per-group figures,
 * and the node's own MemoryMetrics (retransmissions, buffered bytes, ...), as one exposition text.
 * prom-client stays behind this file (CONVENTIONS: adapters behind our own interfaces).
 */
export class PrometheusExporter {
  private readonly registry = new Registry();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly observer: NodeObserver,
    private readonly metrics: () => { memory: MemoryMetrics; labels: Record<string, string>; transport?: Record<string, number> } | null,
  ) {
    collectDefaultMetrics({ register: this.registry });
    const obs = observer;
    const groups = () =>
      obs
        .groupNames()
        .map((n) => obs.groupStatus(n)!)
        .filter((g) => !g.left);
    const registers = [this.registry];

    // Values live in the observer; each collect() copies them in at scrape time.
    new Counter({
      name: 'horus_group_views_installed_total',
      help: 'views installed at this node',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) this.inc({ group: g.name }, g.viewsInstalled);
      },
    });
    new Gauge({
      name: 'horus_group_view_id',
      help: 'id of the current view',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) this.set({ group: g.name }, g.view.id);
      },
    });
    new Gauge({
      name: 'horus_group_view_members',
      help: 'members in the current view',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) this.set({ group: g.name }, g.view.members.length);
      },
    });
    new Counter({
      name: 'horus_group_messages_sent_total',
      help: 'messages this member multicast',
      labelNames: ['group', 'order'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) for (const [order, n] of Object.entries(g.sentByOrder)) this.inc({ group: g.name, order }, n);
      },
    });
    new Counter({
      name: 'horus_group_messages_delivered_total',
      help: 'messages delivered to the application here',
      labelNames: ['group', 'order'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) for (const [order, n] of Object.entries(g.deliveredByOrder)) this.inc({ group: g.name, order }, n);
      },
    });
    new Counter({
      name: 'horus_group_delivered_from_total',
      help: 'messages delivered here, by sender',
      labelNames: ['group', 'sender'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) for (const m of g.members) this.inc({ group: g.name, sender: m.id }, m.delivered);
      },
    });
    new Gauge({
      name: 'horus_group_blocked',
      help: '1 while sends are held back (flow control, or a blocked view)',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) this.set({ group: g.name }, g.blocked ? 1 : 0);
      },
    });
    new Gauge({
      name: 'horus_group_pending_sends',
      help: 'sends accepted but not yet handed to the stack',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) this.set({ group: g.name }, g.pendingSends);
      },
    });

    // A flush, as the application sees it: from 'blocked (flush)' to the next view or unblock.
    const flush = new Histogram({
      name: 'horus_group_flush_seconds',
      help: 'time sends were held for a view change (flush) at this member',
      labelNames: ['group'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const flushStart = new Map<string, number>();
    this.unsubscribe = observer.onEvent((ev) => {
      if (ev.type === 'blocked' && ev.reason === 'flush') {
        if (!flushStart.has(ev.group)) flushStart.set(ev.group, ev.at);
      } else if (ev.type === 'view' || ev.type === 'unblocked') {
        const t0 = flushStart.get(ev.group);
        if (t0 !== undefined) {
          flushStart.delete(ev.group);
          flush.observe({ group: ev.group }, (ev.at - t0) / 1000);
        }
      }
    });
  }

  close(): void {
    this.unsubscribe();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async text(): Promise<string> {
    const own = await this.registry.metrics();
    const m = this.metrics();
    return m ? own + m.memory.toPrometheus(m.labels) + (m.transport ? transportText(m.transport, m.labels) : '') : own;
  }
}

/**
 * The transport's counters (connections refused, slow frames, drops, ...) as `horus_tcp_<name>`:
 * gauges for what is open or queued now, counters for the rest.
 */
function transportText(stats: Record<string, number>, labels: Record<string, string>): string {
  const lbl = Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');
  const out: string[] = [];
  for (const [key, value] of Object.entries(stats)) {
    if (typeof value !== 'number') continue;
    const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const gauge = /^(open|queued|partial)/.test(key);
    const name = gauge || snake.endsWith('_total') ? `horus_tcp_${snake}` : `horus_tcp_${snake}_total`;
    out.push(`# TYPE ${name} ${gauge ? 'gauge' : 'counter'}`, `${name}${lbl ? `{${lbl}}` : ''} ${value}`);
  }
  return out.join('\n') + '\n';
}
