import { z } from 'zod';
import type { Env, Timer } from '../core/env.js';
import { HorusError, type HorusErrorCode } from '../core/errors.js';
import { InputGuard, MAX_ID_BYTES, wire } from '../core/input-guard.js';
import { nodeOfMember } from '../core/member-id.js';
import { endpointOf, type NodeId } from '../core/node-id.js';
import type { MemoryMetrics } from '../obs/metrics.js';
import { decodePayload, encodePayload, pack, unpack } from '../codec/payload.js';
import { MAX_GROUP_NAME_BYTES } from '../codec/frame.js';
import { PayloadEncoding } from './app-header.js';
import type { GroupInfo } from './directory.js';
import type { Group } from './group.js';
import { checkPayload } from './payload-check.js';

/** True if `node` (a transport id) runs `member` (a member id, or a fixed group's endpoint). */
const runs = (node: string, member: string): boolean => endpointOf(nodeOfMember(member)) === endpointOf(node);

/** First byte of a node-level client frame (group frames start with 'H', directory frames with 'D'). */
export const FRAME_KIND_CLIENT = 0x43; // 'C'

/** A request from a client outside the group, as a member's `onRequest` handler sees it. */
export interface ClientRequest {
  /** The client's node id (its transport identity: it cannot claim another's). */
  readonly client: NodeId;
  /** The client's number for this request: a retry (after a failover) carries the same one. */
  readonly id: number;
  /** Every request of this client numbered at most this has its answer: a reply cache may forget them. */
  readonly acked: number;
  readonly payload: unknown;
}

/** Answers client requests: its value (or what its promise resolves to) is the reply; a HorusError it throws reaches the client with its code. */
export type RequestHandler = (req: ClientRequest) => unknown;

export interface ClientOptions {
  /** A request gives up after this long in all (ERR_TIMEOUT; default 10,000 ms). */
  timeoutMs?: number;
  /** One member has this long to answer before the client tries another (default 1000 ms). */
  attemptTimeoutMs?: number;
  /** How long to ask the seeds about the group (default 1000 ms). */
  lookupTimeoutMs?: number;
  /** Requests of this client waiting for replies, at most (more fail with ERR_BACKPRESSURE; default 10,000). */
  maxPending?: number;
}

/** What a member node holds for clients. */
export interface ClientServeLimits {
  /** Requests being handled for one client at once (more are refused with ERR_BACKPRESSURE; default 1024). */
  maxInFlightPerClient: number;
  /** Requests being handled for all clients at once (default 16,384). */
  maxInFlight: number;
  /** Bytes of one client frame, in and out (default 1 MiB). */
  maxFrameBytes: number;
}

export const DEFAULT_CLIENT_SERVE_LIMITS: ClientServeLimits = { maxInFlightPerClient: 1024, maxInFlight: 16_384, maxFrameBytes: 1024 * 1024 };

type ClientFrame =
  | { t: 'req'; group: string; id: number; acked: number; e: number; p: Uint8Array }
  | { t: 'rep'; group: string; id: number; ok: boolean; e: number; p: Uint8Array; members?: string[]; code?: string };

const groupName = z
  .string()
  .min(1)
  .refine((s) => Buffer.byteLength(s) <= MAX_GROUP_NAME_BYTES);
const frameSchema: z.ZodType<ClientFrame> = z.discriminatedUnion('t', [
  z.object({ t: z.literal('req'), group: groupName, id: wire.int.min(1), acked: wire.int, e: z.number().int().min(0).max(1), p: z.instanceof(Uint8Array) }),
  z.object({
    t: z.literal('rep'),
    group: groupName,
    id: wire.int.min(1),
    ok: z.boolean(),
    e: z.number().int().min(0).max(1),
    p: z.instanceof(Uint8Array),
    members: z.array(z.string().max(MAX_ID_BYTES)).max(1024).optional(),
    code: z.string().max(64).optional(),
  }),
]) as z.ZodType<ClientFrame>;

/** What the endpoint needs from its node. */
export interface ClientHost {
  readonly env: Env;
  readonly metrics: MemoryMetrics;
  group(name: string): Group | undefined;
  lookup(name: string, timeoutMs?: number): Promise<GroupInfo | null>;
}

interface Outstanding {
  payload: { e: number; p: Buffer };
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  deadline: Timer;
  attempt: Timer | null;
  target: NodeId | null;
  /** Members tried and found wanting for this request. */
  tried: Set<NodeId>;
}

/**
 * A client of a group it is not a member of: `node.client('orders')`. It finds the members through
 * the name service and sends each request to one of them (the same one while it answers). When
 * that member does not answer within `attemptTimeoutMs`, its connection drops, or it says it is no
 * longer a member, the request goes to another (asking the name service again when it knows of no
 * other), with the same request id: a group that keeps a reply cache in its replicated state
 * (ReplicatedService) applies it once and answers a retry from the cache.
 */
export class GroupClient {
  private members: NodeId[] = [];
  private preferred: NodeId | null = null;
  private nextId = 1;
  private readonly outstanding = new Map<number, Outstanding>();
  private closed = false;
  private refreshing: Promise<void> | null = null;
  private readonly timeoutMs: number;
  private readonly attemptMs: number;
  private readonly maxPending: number;

  /** @internal from ClientEndpoint.client */
  constructor(
    readonly group: string,
    info: GroupInfo,
    private readonly endpoint: ClientEndpoint,
    private readonly lookupMs: number,
    opts: ClientOptions,
  ) {
    this.members = [...info.members];
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.attemptMs = opts.attemptTimeoutMs ?? 1000;
    this.maxPending = opts.maxPending ?? 10_000;
    for (const [k, v] of Object.entries({ timeoutMs: this.timeoutMs, attemptTimeoutMs: this.attemptMs, maxPending: this.maxPending }))
      if (!(v > 0) || !Number.isFinite(v)) throw new HorusError('ERR_INVALID_ARGUMENT', `${k} must be a positive number, got ${v}`);
  }

  /** The members this client knows of (from the name service and the replies). */
  get knownMembers(): readonly NodeId[] {
    return this.members;
  }

  /** The member requests go to now (null before the first request). */
  get target(): NodeId | null {
    return this.preferred;
  }

  /** Requests waiting for replies. */
  get pending(): number {
    return this.outstanding.size;
  }

  /** Send a request to the group; resolves with the reply of the member that handled it. */
  request(payload: unknown): Promise<unknown> {
    if (this.closed) return Promise.reject(new HorusError('ERR_CLOSED', `client of ${this.group} was closed`));
    if (this.outstanding.size >= this.maxPending)
      return Promise.reject(new HorusError('ERR_BACKPRESSURE', `${this.outstanding.size} requests to ${this.group} are already waiting (maxPending)`));
    let enc;
    try {
      if (!(payload instanceof Uint8Array)) checkPayload(payload);
      enc = encodePayload(payload);
    } catch (err) {
      return Promise.reject(err instanceof HorusError ? err : new HorusError('ERR_INVALID_ARGUMENT', `payload cannot be encoded: ${(err as Error).message}`));
    }
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const o: Outstanding = {
        payload: { e: enc.encoding, p: enc.bytes },
        resolve,
        reject,
        target: null,
        attempt: null,
        tried: new Set(),
        deadline: this.endpoint.env.setTimer(this.timeoutMs, () =>
          this.finish(id, new HorusError('ERR_TIMEOUT', `no member of ${this.group} answered request ${id} within ${this.timeoutMs} ms`)),
        ),
      };
      this.outstanding.set(id, o);
      this.attempt(id);
    });
  }

  /** Every request numbered at most this has settled. */
  private get acked(): number {
    let min = this.nextId;
    for (const id of this.outstanding.keys()) if (id < min) min = id;
    return min - 1;
  }

  private attempt(id: number): void {
    const o = this.outstanding.get(id);
    if (!o || this.closed) return;
    o.attempt?.cancel();
    o.attempt = null;
    const target = this.pick(o);
    if (target === null) {
      // Nobody left to try: ask the name service again, then start over with what it says.
      o.tried.clear();
      o.attempt = this.endpoint.env.setTimer(Math.min(this.attemptMs, 250), () => {
        void this.refresh().then(() => this.attempt(id));
      });
      return;
    }
    o.target = target;
    this.preferred = target;
    o.attempt = this.endpoint.env.setTimer(this.attemptMs, () => this.failover(target));
    this.endpoint.send(nodeOfMember(target), { t: 'req', group: this.group, id, acked: this.acked, e: o.payload.e, p: o.payload.p });
  }

  private pick(o: Outstanding): NodeId | null {
    if (this.preferred !== null && this.members.includes(this.preferred) && !o.tried.has(this.preferred)) return this.preferred;
    return this.members.find((m) => !o.tried.has(m)) ?? null;
  }

  /** `member` failed us (no answer, connection gone, not a member): every request waiting on it moves on. */
  failover(member: NodeId): void {
    if (this.preferred === member) this.preferred = null;
    for (const [id, o] of this.outstanding) {
      if (o.target !== member) continue;
      o.tried.add(member);
      o.target = null;
      this.attempt(id);
    }
  }

  /** @internal a peer's node is gone or its connection closed. */
  peerLost(node: NodeId): void {
    for (const m of [...new Set([...this.outstanding.values()].map((o) => o.target))]) if (m !== null && runs(node, m)) this.failover(m);
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.endpoint
      .lookup(this.group, this.lookupMs)
      .then((info) => {
        if (info && info.members.length > 0) this.members = [...info.members];
      })
      .catch(() => {})
      .finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** @internal a reply from `from`. */
  onReply(from: NodeId, m: Extract<ClientFrame, { t: 'rep' }>): void {
    const o = this.outstanding.get(m.id);
    // Only the member asked last may answer (an earlier one's late answer is as good, but not a stranger's).
    if (!o || o.target === null || !runs(from, o.target)) return this.endpoint.dropped(from, 'reply to no request of ours');
    if (m.members && m.members.length > 0) this.members = m.members;
    if (!m.ok && (m.code === 'ERR_NOT_MEMBER' || m.code === 'ERR_CLOSED' || m.code === 'ERR_BACKPRESSURE' || m.code === 'ERR_NOT_PRIMARY')) {
      // This member cannot serve now: another may.
      return this.failover(o.target);
    }
    let value: unknown;
    try {
      value = decodePayload(Buffer.from(m.p), m.e as PayloadEncoding);
    } catch {
      return this.finish(m.id, new HorusError('ERR_MALFORMED', `the reply to request ${m.id} does not decode`));
    }
    if (m.ok) this.finish(m.id, null, value);
    else this.finish(m.id, new HorusError((m.code ?? 'ERR_REMOTE') as HorusErrorCode, `request ${m.id} to ${this.group} failed: ${String(value)}`));
  }

  private finish(id: number, err: Error | null, value?: unknown): void {
    const o = this.outstanding.get(id);
    if (!o) return;
    this.outstanding.delete(id);
    o.deadline.cancel();
    o.attempt?.cancel();
    if (err) o.reject(err);
    else o.resolve(value);
  }

  /** Stop: waiting requests fail with ERR_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.outstanding.keys()]) this.finish(id, new HorusError('ERR_CLOSED', `client of ${this.group} was closed`));
    this.endpoint.forget(this);
  }
}

/** Codes a failed handler may pass to a client as they are; anything else arrives as ERR_REMOTE. */
const PASSED_CODES = new Set<string>([
  'ERR_NOT_HOLDER',
  'ERR_NO_SUCH_KEY',
  'ERR_INVALID_ARGUMENT',
  'ERR_BACKPRESSURE',
  'ERR_TIMEOUT',
  'ERR_NOT_MEMBER',
  'ERR_CLOSED',
  'ERR_NOT_PRIMARY',
  'ERR_TOO_LARGE',
]);

/**
 * A node's side of client traffic: its own clients' requests and replies, and requests from
 * clients of the groups it is a member of (handed to each group's `onRequest` handler, within
 * per-client and total bounds counted in horus_client_dropped_total).
 */
export class ClientEndpoint {
  private readonly clients = new Set<GroupClient>();
  private readonly inFlight = new Map<NodeId, number>();
  private inFlightTotal = 0;
  private readonly guard: InputGuard;
  private unwatch: (() => void) | null = null;

  constructor(
    private readonly host: ClientHost,
    private readonly limits: ClientServeLimits = DEFAULT_CLIENT_SERVE_LIMITS,
  ) {
    this.guard = new InputGuard({ log: host.env.log, metrics: host.metrics, env: host.env }, 'CLIENT');
  }

  get env(): Env {
    return this.host.env;
  }

  lookup(name: string, timeoutMs: number): Promise<GroupInfo | null> {
    return this.host.lookup(name, timeoutMs);
  }

  /** A client of `name`: ERR_UNKNOWN_GROUP when no seed knows a group of that name. */
  async client(name: string, opts: ClientOptions = {}): Promise<GroupClient> {
    const lookupMs = opts.lookupTimeoutMs ?? 1000;
    const info = await this.host.lookup(name, lookupMs);
    if (!info || info.members.length === 0)
      throw new HorusError('ERR_UNKNOWN_GROUP', `no node this one can reach knows a group named ${JSON.stringify(name.slice(0, 64))}`);
    const c = new GroupClient(name, info, this, lookupMs, opts);
    this.clients.add(c);
    this.unwatch ??=
      this.host.env.watchPeers?.((ev) => {
        if (ev.type === 'closed' || ev.type === 'gone') for (const cl of this.clients) cl.peerLost(ev.peer);
      }) ?? null;
    return c;
  }

  /** @internal */
  forget(c: GroupClient): void {
    this.clients.delete(c);
  }

  /** @internal */
  dropped(from: string, reason: string): void {
    this.guard.drop(from, reason);
  }

  /** @internal */
  send(to: string, m: ClientFrame): void {
    const frame = Buffer.concat([Buffer.of(FRAME_KIND_CLIENT), pack(m)]);
    if (frame.length > this.limits.maxFrameBytes) {
      this.guard.drop(to, 'client frame over maxFrameBytes, not sent', { bytes: frame.length });
      return;
    }
    this.host.env.transport.send(to, frame);
  }

  onFrame(from: NodeId, frame: Buffer): void {
    if (frame.length > this.limits.maxFrameBytes) return this.guard.drop(from, 'client frame over maxFrameBytes', { bytes: frame.length });
    let raw: unknown;
    try {
      raw = unpack(frame.subarray(1));
    } catch {
      return this.guard.drop(from, 'client frame does not unpack');
    }
    const m = this.guard.check(frameSchema, raw, from, 'client frame');
    if (!m) return;
    if (m.t === 'rep') {
      for (const c of this.clients) if (c.group === m.group) return c.onReply(from, m);
      return this.guard.drop(from, 'reply for no client of ours');
    }
    this.serve(from, m);
  }

  private serve(from: NodeId, m: Extract<ClientFrame, { t: 'req' }>): void {
    const g = this.host.group(m.group);
    const fail = (code: string, text: string, members?: string[]): void => {
      const enc = encodePayload(text);
      this.send(from, { t: 'rep', group: m.group, id: m.id, ok: false, e: enc.encoding, p: enc.bytes, code, ...(members ? { members } : {}) });
    };
    const handler = g?.requestHandler;
    if (!g || g.isClosed || !g.view.members.includes(g.localId)) return fail('ERR_NOT_MEMBER', `this node is not a member of ${m.group}`);
    if (!handler) return fail('ERR_REMOTE', `group ${m.group} serves no client requests here (group.onRequest)`, [...g.view.members]);
    const mine = this.inFlight.get(from) ?? 0;
    if (mine >= this.limits.maxInFlightPerClient || this.inFlightTotal >= this.limits.maxInFlight) {
      this.guard.drop(from, 'client request over the in-flight limit');
      return fail('ERR_BACKPRESSURE', 'too many requests in flight', [...g.view.members]);
    }
    let payload: unknown;
    try {
      payload = decodePayload(Buffer.from(m.p), m.e as PayloadEncoding);
    } catch {
      this.guard.drop(from, 'client request payload does not decode');
      return fail('ERR_MALFORMED', 'the request does not decode');
    }
    this.inFlight.set(from, mine + 1);
    this.inFlightTotal++;
    const done = (ok: boolean, value: unknown, code?: string): void => {
      const left = (this.inFlight.get(from) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(from);
      else this.inFlight.set(from, left);
      this.inFlightTotal--;
      let enc;
      try {
        if (!(value instanceof Uint8Array)) checkPayload(value);
        enc = encodePayload(value);
      } catch (err) {
        ok = false;
        code = 'ERR_REMOTE';
        enc = encodePayload(`the reply cannot be sent: ${(err as Error).message}`);
      }
      const members = g.isClosed ? undefined : [...g.view.members];
      this.send(from, { t: 'rep', group: m.group, id: m.id, ok, e: enc.encoding, p: enc.bytes, ...(code ? { code } : {}), ...(members ? { members } : {}) });
    };
    const failed = (err: unknown): void => {
      const code = err instanceof HorusError && PASSED_CODES.has(err.code) ? err.code : 'ERR_REMOTE';
      done(false, (err as Error)?.message ?? String(err), code);
    };
    try {
      const r = handler({ client: from, id: m.id, acked: m.acked, payload });
      if (r instanceof Promise) r.then((v: unknown) => done(true, v), failed);
      else done(true, r);
    } catch (err) {
      failed(err);
    }
  }

  close(): void {
    for (const c of [...this.clients]) c.close();
    this.unwatch?.();
    this.unwatch = null;
  }
}
