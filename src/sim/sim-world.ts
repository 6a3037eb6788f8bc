import { createHash, type Hash } from 'node:crypto';
import type { Env, FrameHandler, PeerEvent, PeerIdentity, PiecedFrameHandler, Timer, Transport, Unwatch } from '../core/env.js';
import { HorusError } from '../core/errors.js';
import { logFieldValue, silentLogger, type LogFields, type Logger, type LogLevel } from '../core/logger.js';
import { endpointOf, makeNodeId, type NodeId } from '../core/node-id.js';
import { SeededRng, type Rng } from '../core/rng.js';
import { bytesFromRng } from '../security/group-key.js';
import { Scheduler } from './scheduler.js';
import {
  DEFAULT_NETWORK_OPTIONS,
  SimNetwork,
  validateNetworkOptions,
  type NetEndpoint,
  type NetworkOptions,
  type NetworkStats,
  type NodeStatus,
} from './sim-network.js';

export interface SimWorldOptions extends Partial<NetworkOptions> {
  /** Record node log lines in the world's log buffer (default false: nodes get a silent logger). */
  verbose?: boolean;
  /** How many log lines the buffer keeps; older ones are discarded (default 100,000). */
  logLimit?: number;
  /** Keep every trace line in memory too, to diff two runs that should have been identical. */
  keepTrace?: boolean;
  /** Fail the run after this many events (livelock guard). */
  maxEvents?: number;
  /**
   * Clock-rate drift: each process's clock runs at a rate drawn (from the seed and its id) in
   * [1 − clockDrift, 1 + clockDrift] of real (simulated) time; its now() and timers follow it.
   * Default 0: every clock is the world's.
   */
  clockDrift?: number;
}

const MAX_FRAME_SIZE = 16 * 1024 * 1024;
const noop = (): void => {};

/** A timer owned by a node: cancellable even while held by a pause. */
class NodeTimer implements Timer {
  cancelled = false;
  inner: Timer | null = null;
  constructor(public fn: () => void) {}
  cancel(): void {
    this.cancelled = true;
    this.fn = noop;
    this.inner?.cancel();
  }
}

/** JSON for log fields that never throws (bigint, bytes, errors, cycles). */
function fieldsToJson(fields: LogFields): string {
  try {
    return JSON.stringify(fields, logFieldValue);
  } catch {
    return '"<unserializable fields>"';
  }
}

/** A Logger that writes `time LEVEL msg {fields}` lines into the world's buffer. */
class SimLogger implements Logger {
  constructor(
    private readonly world: SimWorld,
    private readonly bindings: LogFields,
  ) {}
  trace(msg: string, fields?: LogFields): void {
    this.write('trace', msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }
  child(bindings: LogFields): Logger {
    return new SimLogger(this.world, { ...this.bindings, ...bindings });
  }
  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    const all = fields === undefined ? this.bindings : { ...this.bindings, ...fields };
    this.world.appendLog(`${this.world.now()} ${level.toUpperCase()} ${msg} ${fieldsToJson(all)}`);
  }
}

class SimTransport implements Transport {
  readonly maxFrameSize = MAX_FRAME_SIZE;
  constructor(
    private readonly node: SimNode,
    private readonly net: SimNetwork,
  ) {}
  get localId(): NodeId {
    return this.node.id;
  }
  /** What the real transport's handshake would prove of `node` (its world identity; none for an intruder). */
  peerIdentity(node: NodeId): PeerIdentity | null {
    return this.net.identityOf(node);
  }
  send(to: string, frame: Uint8Array): void {
    if (frame.length > MAX_FRAME_SIZE) {
      throw new HorusError('ERR_FRAME_TOO_LARGE', `frame of ${frame.length} bytes exceeds ${MAX_FRAME_SIZE}`);
    }
    this.net.send(this.node, to, frame);
  }
  /** Frames from `peer` that land meanwhile wait unread (SimNetwork.holdReads). */
  holdReads(peer: NodeId, holder: object, hold: boolean): void {
    this.net.holdReads(this.node, peer, holder, hold);
  }
  /** Replaces any earlier handler. */
  onFrame(handler: FrameHandler): void {
    this.node.frameHandler = handler;
  }
  /** Replaces any earlier handler. */
  onPiecedFrame(handler: PiecedFrameHandler): void {
    this.node.piecedHandler = handler;
  }
  /** Replaces any earlier handler. */
  onPeer(handler: (ev: PeerEvent) => void): void {
    this.node.peerHandler = handler;
  }
  close(): Promise<void> {
    this.node.open = false;
    return Promise.resolve();
  }
}

/**
 * One simulated process. Everything it runs (timers, deferred work, frame and peer callbacks) goes
 * through `run`, which drops work after a crash and holds it during a pause.
 */
export class SimNode implements NetEndpoint {
  readonly id: NodeId;
  readonly env: Env;
  private state: NodeStatus = 'up';
  private held: (() => void)[] = [];
  /** @internal set by the transport */
  frameHandler: FrameHandler | null = null;
  /** @internal set by the transport */
  piecedHandler: PiecedFrameHandler | null = null;
  /** @internal set by the transport */
  peerHandler: ((ev: PeerEvent) => void) | null = null;
  /** Protocol code's subscribers to peer events (Env.watchPeers), in subscription order. */
  private readonly peerWatchers = new Set<(ev: PeerEvent) => void>();
  /** @internal false once the transport is closed */
  open = true;
  /** How fast this process's clock runs against the world's (1: exactly). */
  readonly clockRate: number;

  constructor(
    readonly endpoint: string,
    readonly incarnation: string,
    private readonly world: SimWorld,
    scheduler: Scheduler,
    net: SimNetwork,
    rng: Rng,
    log: Logger,
    clockRate = 1,
    /** Key material (Env.randomBytes): a stream of its own, so that drawing keys shifts nothing else a seed does. */
    bytesRng: Rng = rng,
  ) {
    this.id = makeNodeId(endpoint, incarnation);
    this.clockRate = clockRate;
    const transport = new SimTransport(this, net);
    // The clock reads the world's time when the process starts, then runs at its own rate.
    const born = scheduler.now();
    const now = clockRate === 1 ? (): number => scheduler.now() : (): number => born + (scheduler.now() - born) * clockRate;
    const setTimer = (ms: number, fn: () => void): Timer => {
      const t = new NodeTimer(fn);
      // A negative delay from protocol arithmetic means "now"; NaN still fails loudly in the scheduler.
      const local = ms < 0 ? 0 : ms;
      t.inner = scheduler.schedule(clockRate === 1 ? local : local / clockRate, () => this.fireTimer(t));
      return t;
    };
    this.env = {
      now,
      setTimer,
      defer: (fn) => {
        setTimer(0, fn);
      },
      rng,
      log,
      transport,
      // Key material from the node's seeded stream: a seed replays its keys too.
      randomBytes: (n: number): Uint8Array => bytesFromRng(bytesRng, n),
      watchPeers: (handler: (ev: PeerEvent) => void): Unwatch => {
        const h = (ev: PeerEvent): void => handler(ev);
        this.peerWatchers.add(h);
        return () => {
          this.peerWatchers.delete(h);
        };
      },
    };
  }

  get status(): NodeStatus {
    return this.state;
  }

  receiver(): FrameHandler | null {
    return this.open ? this.frameHandler : null;
  }

  piecedReceiver(): PiecedFrameHandler | null {
    return this.open ? this.piecedHandler : null;
  }

  hold(fn: () => void): void {
    this.held.push(fn);
  }

  peerEvent(ev: PeerEvent): void {
    this.world.scheduler.schedule(0, () =>
      this.run(() => {
        this.peerHandler?.(ev);
        for (const w of [...this.peerWatchers]) w(ev);
      }),
    );
  }

  /** Run `fn` as this process: dropped if it crashed, held if it is paused. */
  run(fn: () => void): void {
    if (this.state === 'crashed') return;
    if (this.state === 'paused') {
      this.held.push(() => this.run(fn));
      return;
    }
    this.world.running = this.id;
    fn();
    this.world.running = null;
  }

  /** @internal use SimWorld.pause */
  applyPause(): void {
    if (this.state === 'up') this.state = 'paused';
  }

  /** @internal use SimWorld.resume. Held work runs in the order it fell due, each as its own event. */
  applyResume(): void {
    if (this.state !== 'paused') return;
    this.state = 'up';
    const held = this.held;
    this.held = [];
    for (const fn of held) this.world.scheduler.schedule(0, fn);
  }

  /** @internal use SimWorld.crash */
  applyCrash(): void {
    this.state = 'crashed';
    this.held = [];
    this.frameHandler = null;
    this.piecedHandler = null;
    this.peerHandler = null;
    this.peerWatchers.clear();
  }

  private fireTimer(t: NodeTimer): void {
    if (t.cancelled || this.state === 'crashed') return;
    if (this.state === 'paused') {
      this.held.push(() => this.fireTimer(t));
      return;
    }
    this.world.running = this.id;
    t.fn();
    this.world.running = null;
  }
}

/** A float from `rng` past its first few draws, which differ little from seed to seed. */
function warmFloat(rng: Rng): number {
  for (let i = 0; i < 4; i++) rng.float();
  return rng.float();
}

/** Independent streams keyed by label: adding a node or a link does not shift anyone else's stream. */
function forkStable(seed: number, label: string): Rng {
  return new SeededRng(seed).fork(label);
}

/**
 * The deterministic world: one scheduler, one simulated network, simulated nodes and fault injection.
 * A run is a function of the seed and the calls made on the world.
 */
export class SimWorld {
  readonly scheduler: Scheduler;
  /** A stream for the harness (workloads, nemesis); nodes and links have their own. */
  readonly rng: Rng;
  private readonly network: SimNetwork;
  private readonly nodesById = new Map<NodeId, SimNode>();
  private readonly verbose: boolean;
  private readonly clockDrift: number;
  private readonly logLimit: number;
  private readonly logBuf: string[] = [];
  private logStart = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly traceLines: string[] | null;
  traceCount = 0;
  /**
   * The node whose code is running (a timer, a peer event or a frame it receives), null between
   * nodes. If a callback throws, this still names the node that threw.
   */
  running: NodeId | null = null;
  /** Sees every frame just before a node receives it (the adversary uses it to explain failures). */
  onDeliver: ((from: NodeId, to: NodeId, bytes: Uint8Array) => void) | null = null;

  constructor(
    readonly seed: number,
    options: SimWorldOptions = {},
  ) {
    const { verbose, logLimit, keepTrace, maxEvents, clockDrift, ...net } = options;
    this.verbose = verbose ?? false;
    this.clockDrift = clockDrift ?? 0;
    if (!(this.clockDrift >= 0 && this.clockDrift < 0.5)) throw new HorusError('ERR_INVALID_ARGUMENT', `clockDrift must be in [0, 0.5), got ${clockDrift}`);
    this.logLimit = logLimit ?? 100_000;
    this.traceLines = keepTrace === true ? [] : null;
    this.scheduler = new Scheduler(maxEvents === undefined ? {} : { maxEvents });
    this.rng = this.forkRng('world');
    const netOptions: NetworkOptions = { ...DEFAULT_NETWORK_OPTIONS };
    for (const [k, v] of Object.entries(net)) if (v !== undefined) Object.assign(netOptions, { [k]: v });
    this.network = new SimNetwork(
      this.scheduler,
      netOptions,
      (label) => this.forkRng(label),
      (k, d) => this.trace(k, d),
      (from, to, bytes) => {
        if (from === null) {
          this.running = null;
          return;
        }
        this.running = to;
        this.onDeliver?.(from, to, bytes);
      },
    );
  }

  /** The live network options: assign fields at run time to change link behaviour. */
  get net(): NetworkOptions {
    return this.network.options;
  }

  /** Change network options with validation. */
  setNetwork(options: Partial<NetworkOptions>): void {
    const next: NetworkOptions = { ...this.network.options };
    for (const [k, v] of Object.entries(options)) if (v !== undefined) Object.assign(next, { [k]: v });
    validateNetworkOptions(next);
    Object.assign(this.network.options, next);
  }

  get stats(): NetworkStats {
    return this.network.stats;
  }

  /** A stream derived from the seed and `label` only. */
  forkRng(label: string): Rng {
    return forkStable(this.seed, label);
  }

  now(): number {
    return this.scheduler.now();
  }

  // ---- nodes ----

  /** The node at `endpoint` proves no identity (an intruder: see SimNetwork.withoutIdentity). */
  withoutIdentity(endpoint: string): void {
    this.network.withoutIdentity(endpoint);
  }

  addNode(endpoint: string, incarnation: string): SimNode {
    if (endpoint.includes('/') || incarnation.includes('/') || endpoint === '' || incarnation === '') {
      throw new HorusError('ERR_INVALID_ARGUMENT', `addNode: bad endpoint/incarnation ${endpoint}/${incarnation}`);
    }
    const id = makeNodeId(endpoint, incarnation);
    if (this.nodesById.has(id)) throw new HorusError('ERR_INVALID_ARGUMENT', `addNode: ${id} already existed`);
    const current = this.network.nodeAt(endpoint);
    if (current !== undefined && current.status !== 'crashed') {
      throw new HorusError('ERR_INVALID_ARGUMENT', `addNode: ${current.id} is still running at ${endpoint}`);
    }
    const log = this.verbose ? new SimLogger(this, { node: id }) : silentLogger;
    // Its own stream, so that drawing a rate shifts nothing else. The first draws of a forked
    // stream barely depend on the seed (xoroshiro128+ warms up slowly): skip them.
    const rate = this.clockDrift === 0 ? 1 : 1 + (warmFloat(this.forkRng(`clock:${id}`)) * 2 - 1) * this.clockDrift;
    const node = new SimNode(endpoint, incarnation, this, this.scheduler, this.network, this.forkRng(`node:${id}`), log, rate, this.forkRng(`bytes:${id}`));
    this.nodesById.set(id, node);
    this.network.register(node);
    this.trace('node', rate === 1 ? `add ${id}` : `add ${id} clock rate ${rate}`);
    return node;
  }

  /** By full id (any incarnation ever created) or by endpoint (the current incarnation there). */
  node(idOrEndpoint: string): SimNode | undefined {
    if (idOrEndpoint.includes('/')) return this.nodesById.get(idOrEndpoint);
    const n = this.network.nodeAt(idOrEndpoint);
    return n === undefined ? undefined : this.nodesById.get(n.id);
  }

  /** Current incarnations that have not crashed, in the order their endpoints first appeared. */
  liveNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodesById.values()) {
      if (n.status !== 'crashed' && this.network.nodeAt(n.endpoint) === n) out.push(n);
    }
    return out;
  }

  // ---- faults ----

  /** The process dies: its timers, held work and frames still coming to it are discarded. */
  crash(idOrEndpoint: string): void {
    const node = this.mustGet(idOrEndpoint);
    if (node.status === 'crashed') return;
    node.applyCrash();
    this.network.nodeCrashed(node);
    this.trace('fault', `crash ${node.id}`);
  }

  /** A new process (a new incarnation, hence a new member) at the same endpoint. */
  restart(endpoint: string, newIncarnation: string): SimNode {
    const current = this.network.nodeAt(endpoint);
    if (current !== undefined && current.status !== 'crashed') this.crash(current.id);
    return this.addNode(endpoint, newIncarnation);
  }

  /** SIGSTOP: nothing runs; frames to it and its due timers wait for `resume`. */
  pause(idOrEndpoint: string): void {
    const node = this.mustGet(idOrEndpoint);
    if (node.status !== 'up') return;
    node.applyPause();
    this.trace('fault', `pause ${node.id}`);
  }

  /** SIGCONT: held timers and frames run now, in order; the node's clock has jumped. */
  resume(idOrEndpoint: string): void {
    const node = this.mustGet(idOrEndpoint);
    if (node.status !== 'paused') return;
    node.applyResume();
    this.trace('fault', `resume ${node.id}`);
  }

  /** Groups of ids or endpoints; unlisted endpoints form one more group. Replaces any earlier cut. */
  partition(groups: readonly (readonly string[])[]): void {
    this.network.partition(groups);
    this.trace('fault', `partition ${groups.map((g) => g.map(endpointOf).join(',')).join(' | ')}`);
  }

  heal(): void {
    this.network.heal();
    this.trace('fault', 'heal');
  }

  isolate(idOrEndpoint: string): void {
    this.network.isolate(idOrEndpoint);
    this.trace('fault', `isolate ${endpointOf(idOrEndpoint)}`);
  }

  isCut(a: string, b: string): boolean {
    return this.network.isCut(endpointOf(a), endpointOf(b));
  }

  // ---- running ----

  step(): boolean {
    return this.scheduler.step();
  }
  runUntil(t: number): void {
    this.scheduler.runUntil(t);
  }
  runFor(ms: number): void {
    this.scheduler.runFor(ms);
  }
  runUntilIdle(maxTime = Infinity): boolean {
    return this.scheduler.runUntilIdle(maxTime);
  }

  // ---- fingerprint and logs ----

  /** Add a line to the run's fingerprint. */
  trace(kind: string, data: string): void {
    const line = `${this.scheduler.now()} ${kind} ${data}`;
    this.hash.update(line);
    this.hash.update('\n');
    this.traceCount++;
    this.traceLines?.push(line);
  }

  /** sha256 (hex) over every traced line so far. */
  traceHash(): string {
    return this.hash.copy().digest('hex');
  }

  /** The traced lines, if the world was created with `keepTrace`. */
  traced(): readonly string[] {
    return this.traceLines ?? [];
  }

  /** @internal used by node loggers */
  appendLog(line: string): void {
    if (this.logBuf.length < this.logLimit) {
      this.logBuf.push(line);
      return;
    }
    if (this.logLimit === 0) return;
    this.logBuf[this.logStart] = line;
    this.logStart = (this.logStart + 1) % this.logLimit;
  }

  /** The most recent log lines, oldest first. */
  logLines(): string[] {
    return [...this.logBuf.slice(this.logStart), ...this.logBuf.slice(0, this.logStart)];
  }

  private mustGet(idOrEndpoint: string): SimNode {
    const node = this.node(idOrEndpoint);
    if (node === undefined) throw new HorusError('ERR_INVALID_ARGUMENT', `no such node: ${idOrEndpoint}`);
    return node;
  }
}
