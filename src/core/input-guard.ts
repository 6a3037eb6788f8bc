import { z } from 'zod';
import type { Logger, LogFields } from './logger.js';
import type { Counter, Metrics } from './metrics.js';
import type { NodeId } from './node-id.js';

/** Longest member or node id accepted from the network (`host:port/incarnation~n`). */
export const MAX_ID_BYTES = 256;
/** Largest view id, sequence number or counter accepted from the network: a u32, so arithmetic stays exact. */
export const MAX_WIRE_INT = 0xffff_ffff;

/** Schemas for values every layer reads from peers: reuse them so the same field is checked the same way. */
export const wire = {
  /** A member or node id. */
  id: z.string().min(1).max(MAX_ID_BYTES),
  /** A view id, sequence number or counter. */
  int: z.number().int().min(0).max(MAX_WIRE_INT),
  /** Bytes as MessagePack gives them back (Buffer or Uint8Array). */
  bytes: z.custom<Uint8Array>((v) => v instanceof Uint8Array),
};

/** Peers whose last drop was logged; bounded so a flood of forged sources cannot grow it. */
const MAX_LOGGED_PEERS = 1024;

/**
 * What a layer does with input from the network that it will not act on: count it in
 * `horus_<layer>_dropped_total` and log it at most once per peer per interval. Every byte from the
 * network is hostile: a layer validates each field before state changes, and on failure calls `drop`.
 */
export class InputGuard {
  private readonly dropped: Counter;
  private readonly lastLogged = new Map<string, number>();
  /** Total drops since start (for tests and the dashboard). */
  count = 0;
  constructor(
    private readonly ctx: { readonly log: Logger; readonly metrics: Metrics; readonly env: { now(): number } },
    layer: string,
    private readonly intervalMs = 10_000,
  ) {
    this.dropped = ctx.metrics.counter(
      `horus_${layer.toLowerCase()}_dropped_total`,
      `messages from the network the ${layer} layer dropped (malformed, not from who they name, or over a limit)`,
    );
  }

  drop(from: NodeId, reason: string, fields?: LogFields): void {
    this.count++;
    this.dropped.inc();
    const now = this.ctx.env.now();
    const last = this.lastLogged.get(from);
    if (last !== undefined && now - last < this.intervalMs) return;
    if (last === undefined && this.lastLogged.size >= MAX_LOGGED_PEERS) this.lastLogged.clear();
    this.lastLogged.set(from, now);
    this.ctx.log.warn('dropped input', { from: String(from).slice(0, MAX_ID_BYTES), reason, ...fields });
  }

  /** `schema.parse(value)`, or null after a drop. */
  check<T>(schema: z.ZodType<T>, value: unknown, from: NodeId, what: string): T | null {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    this.drop(from, `malformed ${what}`, { issue: r.error.issues[0]?.message ?? 'invalid' });
    return null;
  }
}
