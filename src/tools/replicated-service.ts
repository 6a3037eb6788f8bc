import type { ClientRequest } from '../api/client.js';
import type { Group, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
import { HorusError, type HorusErrorCode } from '../core/errors.js';
import { OrderedOps } from './ordered-ops.js';
import { joinTool } from './join-tool.js';

/** The application's deterministic state machine behind a ReplicatedService. */
export interface ServiceMachine {
  /**
   * Apply one request (the same on every replica: from the state and the request alone) and
   * return the reply. A throw is the reply too (a failure, with its HorusError code if it has one),
   * so it must leave the state as it was.
   */
  apply(request: unknown, client: string): unknown;
  /** The machine's state, for joiners. */
  snapshot(): unknown;
  restore(snapshot: unknown): void;
}

export interface ReplicatedServiceOptions {
  /** Replies kept per client for retries (the oldest go first; default 1024). */
  maxCachedPerClient?: number;
  /** Clients whose replies are kept (the least recently heard from go first; default 10,000). */
  maxClients?: number;
}

/** A kept reply: ok, the value (or failure text), and a failure's code. */
type Cached = [boolean, unknown, string?];

interface ClientEntry {
  acked: number;
  replies: Map<number, Cached>;
}

const TAG = 'horus.svc';

type Op = ['req', string, number, number, unknown];

const isSeq = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function parseOp(raw: unknown): Op {
  if (Array.isArray(raw) && raw.length === 5 && raw[0] === 'req' && typeof raw[1] === 'string' && raw[1].length <= 512 && isSeq(raw[2]) && isSeq(raw[3]))
    return raw as Op;
  throw new HorusError('ERR_MALFORMED', 'unknown service operation');
}

/**
 * Serves clients outside the group (`node.client(name)`) with exactly-once effect: every member
 * takes requests, each goes through the total order, and every replica applies it to its copy of
 * the application's state machine, keyed by (client, request id) in a reply cache that is part of
 * the replicated state (and of the snapshot joiners get). A request retried after a failover —
 * applied already, or not — is applied at most once and answered from the cache. Entries a client
 * has acknowledged (its requests below the lowest still waiting) are forgotten.
 */
export class ReplicatedService {
  private readonly clients = new Map<string, ClientEntry>();
  private ops: OrderedOps | null = null;
  private readonly maxPerClient: number;
  private readonly maxClients: number;
  /** Retried requests answered from the reply cache on this replica. */
  cacheHits = 0;

  static join(
    node: HorusNode,
    name: string,
    machine: ServiceMachine,
    opts: Omit<JoinOptions, 'state'> & ReplicatedServiceOptions = {},
  ): Promise<ReplicatedService> {
    const { maxCachedPerClient, maxClients, ...joinOpts } = opts;
    const s = new ReplicatedService(machine, { ...(maxCachedPerClient ? { maxCachedPerClient } : {}), ...(maxClients ? { maxClients } : {}) });
    return joinTool(node, name, s, joinOpts);
  }

  constructor(
    private readonly machine: ServiceMachine,
    opts: ReplicatedServiceOptions = {},
  ) {
    this.maxPerClient = opts.maxCachedPerClient ?? 1024;
    this.maxClients = opts.maxClients ?? 10_000;
  }

  readonly state: SnapshotStateHandlers = {
    get: () => ({ m: this.machine.snapshot(), c: [...this.clients].map(([id, e]) => [id, e.acked, [...e.replies]]) }),
    set: (snap: unknown) => {
      const s = snap as { m?: unknown; c?: unknown };
      if (!s || typeof s !== 'object' || !Array.isArray(s.c)) throw new HorusError('ERR_STATE_TRANSFER', 'not a service snapshot');
      this.machine.restore(s.m);
      this.clients.clear();
      for (const [id, acked, replies] of s.c as [string, number, [number, Cached][]][]) this.clients.set(id, { acked, replies: new Map(replies) });
    },
  };

  attach(group: Group): this {
    if (this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'this service is attached to a group already');
    // Safe delivery: a member answers a client only once every member holds the request, so an
    // answered request survives that member being cut off right after it answered.
    const ops = new OrderedOps(group, TAG, { apply: (op) => this.apply(parseOp(op)) }, undefined, true);
    this.ops = ops;
    group.onRequest(async (req: ClientRequest) => {
      const [ok, value, code] = (await ops.submit(['req', req.client, req.id, req.acked, req.payload])) as Cached;
      if (ok) return value;
      throw new HorusError((code ?? 'ERR_REMOTE') as HorusErrorCode, String(value));
    });
    return this;
  }

  get group(): Group {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'attach the service to a group first');
    return this.ops.group;
  }

  /** Clients whose replies this replica keeps. */
  get cachedClients(): number {
    return this.clients.size;
  }

  private apply(op: Op): Cached {
    const [, client, id, acked, request] = op;
    let e = this.clients.get(client);
    if (e) {
      // Most recently heard from goes last: the first is the one to forget.
      this.clients.delete(client);
      this.clients.set(client, e);
    } else {
      this.clients.set(client, (e = { acked: 0, replies: new Map() }));
      if (this.clients.size > this.maxClients) this.clients.delete(this.clients.keys().next().value!);
    }
    if (acked > e.acked) {
      e.acked = acked;
      for (const k of [...e.replies.keys()]) if (k <= acked) e.replies.delete(k);
    }
    const cached = e.replies.get(id);
    if (cached) {
      this.cacheHits++;
      return cached;
    }
    if (id <= e.acked) return [false, `request ${id} was acknowledged already: its reply is gone`, 'ERR_INVALID_ARGUMENT'];
    let result: Cached;
    try {
      result = [true, this.machine.apply(request, client)];
    } catch (err) {
      result = [false, (err as Error)?.message ?? String(err), err instanceof HorusError ? err.code : 'ERR_REMOTE'];
    }
    e.replies.set(id, result);
    if (e.replies.size > this.maxPerClient) e.replies.delete(e.replies.keys().next().value!);
    return result;
  }
}
