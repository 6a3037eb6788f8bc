import { ClosedError, ConfigError, HorusError, ProtocolError } from '../core/errors.js';
import type { HistoryRecorder } from '../core/history.js';
import { messageName } from '../core/history.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { decodePayload, encodePayload } from '../codec/payload.js';
import { ORDERS, PayloadEncoding, type Order } from '../api/app-header.js';
import { Delivery } from '../api/delivery.js';
import type { Group, SendOptions, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
import { checkPayload } from '../api/payload-check.js';
import { LwgDirectory, LwgRefused, type LwgChange, type LwgDropReason, type LwgEntry } from './directory.js';
import { LightweightGroup, type HeldSend } from './lightweight-group.js';
import {
  decodeData,
  decodeFlushOk,
  decodeJoin,
  decodeLeave,
  decodeState,
  decodeStateOk,
  encodeData,
  encodeFlushOk,
  encodeJoin,
  encodeLeave,
  encodeState,
  encodeStateOk,
  kindOf,
  LwgKind,
  lwgNameProblem,
  type StateItem,
} from './wire.js';

export interface LightweightOptions {
  /** Most light-weight groups the directory holds (joins past it are refused; default 1,000,000). */
  maxGroups?: number;
  /** Largest state one light-weight group may hand a joiner, in bytes (default 16 MiB). */
  maxStateBytes?: number;
  /** Sends one light-weight group holds back while it flushes (default 10,000; past it: ERR_BACKPRESSURE). */
  maxHeldSends?: number;
  /** Where views, sends and deliveries are recorded (the simulator's checkers read it). */
  history?: HistoryRecorder;
  /** The clock for history records (default Date.now; the simulator passes its env's). */
  now?: () => number;
}

export interface LwgJoinOptions {
  /** The group's state, handed to joiners with their first view (as a Group's `state` get/set). */
  state?: SnapshotStateHandlers;
}

export interface LwgJoinManyOptions {
  /** Each group's state handlers, by name (absent: the groups keep no state). */
  state?: (name: string) => SnapshotStateHandlers;
}

/** Inputs dropped so far, by reason. */
export type LwgDropCounts = Record<LwgDropReason, number>;

const RESOLVED: Promise<void> = Promise.resolve();
/** Most bytes of names (or acknowledgements, or states) one control message carries: larger batches are split. */
const CONTROL_BYTES = 48 * 1024;
/** Room an LWG data header takes in front of the payload. */
const DATA_HEADER_BYTES = 32;

/**
 * Light-weight groups over one heavy-weight group (HWG): many application groups that share the
 * HWG's failure detector, flush and connections (docs/lightweight-groups.md).
 *
 * Every LWG message and every LWG membership change travels as an abcast of the HWG, so every HWG
 * member sees them in one order and keeps the same directory of groups. A join or leave starts a
 * flush of that LWG alone: its members acknowledge after their last message of the view and hold
 * further sends; the last acknowledgement installs the next view at the same point everywhere. An
 * HWG view change is a flush of every LWG at once. No HWG view change is needed to join an LWG.
 *
 * ```ts
 * const lw = await LightweightGroups.open(node, 'hwg', { stack });
 * const doc = await lw.join('doc-42', { state: { get: () => text, set: (s) => (text = s as string) } });
 * doc.on('message', (m) => ...); await doc.abcast({ edit });
 * ```
 */
export class LightweightGroups {
  private readonly dir: LwgDirectory;
  private readonly locals = new Map<string, LightweightGroup>();
  private hwg: Group | null = null;
  /** This member's id in the HWG (it changes when the HWG takes it back after an exclusion). */
  private get me(): NodeId {
    return this.hwg?.localId ?? '';
  }
  /** Control messages waiting for the HWG to flow. */
  private readonly controlQueue: Buffer[] = [];
  /** Groups holding sends. */
  private readonly stalled = new Set<LightweightGroup>();
  /** Reentrancy: inputs that arrive while one is being handled wait here. */
  private readonly inbox: (() => void)[] = [];
  private busy = false;
  /** Flush acknowledgements and states produced by the input being handled, sent once it is done. */
  private outFlushOk: number[] = [];
  private outStateOk: number[] = [];
  private readonly outStates = new Map<NodeId, StateItem[]>();
  /** The HWG excluded this member: the next view is a new membership (the directory comes with it). */
  private rejoining = false;
  /** Inside an event of the HWG: sends wait for the next turn (see inUpcall). */
  private upcall = false;
  private drainScheduled = false;
  private msgCounter = 0;
  private closed = false;
  private readonly maxStateBytes: number;
  private readonly maxHeldSends: number;
  private readonly history: HistoryRecorder | undefined;
  private readonly now: () => number;
  private readonly drops: LwgDropCounts = {
    malformed: 0,
    'forged-member': 0,
    'unknown-lwg': 0,
    'not-member': 0,
    'stale-view': 0,
    'sent-after-flush': 0,
    'unexpected-flush-ok': 0,
    'too-many-groups': 0,
    'unexpected-state': 0,
  };

  /**
   * The HWG's state: the directory, for members joining the HWG. Pass it as the `state` of the
   * HWG's join (`open` does).
   */
  readonly hwgState: SnapshotStateHandlers = {
    get: () => this.dir.snapshot(),
    set: (s) => this.dir.restore(s),
  };

  constructor(opts: LightweightOptions = {}) {
    const maxGroups = opts.maxGroups ?? 1_000_000;
    this.maxStateBytes = opts.maxStateBytes ?? 16 * 1024 * 1024;
    this.maxHeldSends = opts.maxHeldSends ?? 10_000;
    for (const [k, v] of [
      ['maxGroups', maxGroups],
      ['maxStateBytes', this.maxStateBytes],
      ['maxHeldSends', this.maxHeldSends],
    ] as const)
      if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`light-weight groups: ${k} must be a positive integer, got ${v}`);
    this.dir = new LwgDirectory(maxGroups);
    this.history = opts.history;
    this.now = opts.now ?? (() => Date.now());
  }

  /**
   * Join the heavy-weight group `hwgName` on `node` (its stack must provide total order: TOTAL)
   * and serve light-weight groups over it.
   */
  static async open(node: HorusNode, hwgName: string, opts: JoinOptions & LightweightOptions = {}): Promise<LightweightGroups> {
    const { maxGroups, maxStateBytes, maxHeldSends, history, now, ...join } = opts;
    const lw = new LightweightGroups({
      ...(maxGroups !== undefined ? { maxGroups } : {}),
      ...(maxStateBytes !== undefined ? { maxStateBytes } : {}),
      ...(maxHeldSends !== undefined ? { maxHeldSends } : {}),
      ...(history !== undefined ? { history } : {}),
      ...(now !== undefined ? { now } : {}),
    });
    const g = await node.join(hwgName, { ...join, state: lw.hwgState });
    lw.attach(g);
    return lw;
  }

  /** Serve over `hwg`, joined with `state: this.hwgState`. Its stack must provide total order. */
  attach(hwg: Group): void {
    if (this.hwg !== null) throw new ConfigError('light-weight groups: already attached to a heavy-weight group');
    this.hwg = hwg;
    // Inputs from the HWG's events send nothing from inside them (see `input`).
    hwg.on('message', (d) => this.input(() => this.onMessage(d), true));
    hwg.on('direct', (d) => this.input(() => this.onDirect(d), true));
    hwg.on('view', (v) => this.input(() => this.onHwgView(v), true));
    hwg.on('unblocked', () => this.input(() => {}, true));
    hwg.on('excluded', () => this.input(() => this.onExcluded(), true));
    hwg.on('left', () => this.input(() => this.shutDown(new ClosedError(`heavy-weight group ${hwg.name} was left`))));
  }

  /** The heavy-weight group carrying these groups. */
  get heavyweight(): Group | null {
    return this.hwg;
  }

  /** This member's handle on a light-weight group it joined, if any. */
  group(name: string): LightweightGroup | undefined {
    return this.locals.get(name);
  }

  /** Groups in the directory (all of the HWG's), groups this member joined, and the inputs dropped by reason. */
  get stats(): { groups: number; local: number; dropped: LwgDropCounts } {
    return { groups: this.dir.size, local: this.locals.size, dropped: { ...this.drops } };
  }

  /** Join one light-weight group: resolves with its handle once its first view is installed (with its state). */
  async join(name: string, opts: LwgJoinOptions = {}): Promise<LightweightGroup> {
    const [g] = await this.joinMany([name], opts.state ? { state: () => opts.state! } : {});
    return g!;
  }

  /**
   * Join many light-weight groups at once: one control message for the lot (one flush per group
   * that already has members), one promise. Resolves once every one is in.
   */
  joinMany(names: readonly string[], opts: LwgJoinManyOptions = {}): Promise<LightweightGroup[]> {
    if (this.closed) return Promise.reject(new ClosedError('light-weight groups: closed'));
    const seen = new Set<string>();
    for (const n of names) {
      const why = lwgNameProblem(n);
      if (why !== null) return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', why));
      if (this.locals.has(n) || seen.has(n)) return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `already joined light-weight group ${n}`));
      seen.add(n);
    }
    const groups = names.map((n) => new LightweightGroup(n, this, opts.state ? opts.state(n) : null));
    return new Promise<LightweightGroup[]>((resolve, reject) => {
      let left = groups.length;
      let failed = false;
      const waiter = {
        done: (): void => {
          if (--left === 0 && !failed) resolve(groups);
        },
        fail: (err: Error): void => {
          if (failed) return;
          failed = true;
          reject(err);
        },
      };
      for (const g of groups) {
        g.waiter = waiter;
        this.locals.set(g.name, g);
      }
      if (groups.length === 0) resolve(groups);
      this.input(() => this.sendJoins());
    });
  }

  /**
   * Leave every group (one message for the lot, without waiting for it) and stop serving. The HWG
   * is the caller's to leave (leaving it takes this member out of every group at once).
   */
  close(): void {
    this.input(() => {
      const ids: number[] = [];
      for (const g of this.locals.values()) {
        const e = this.dir.named(g.name);
        if (e !== undefined && e.members.includes(this.me)) ids.push(e.id);
      }
      if (ids.length > 0) this.sendControl(encodeLeave(ids));
      this.shutDown(new ClosedError('light-weight groups: closed'));
    });
  }

  // ---- inputs: one at a time, in arrival order ----

  /**
   * Handle one input; inputs that arrive meanwhile (from listeners) wait their turn. An input from an
   * event of the HWG (`upcall`: a message, a view, an unblock) sends nothing to the HWG from inside
   * it, while the HWG's stack is still handling that event (a flush may begin at that very instant,
   * and what is sent from inside it may be lost to its sender): what it would send goes on the next
   * turn, by one timer of the HWG's env.
   */
  private input(fn: () => void, upcall = false): void {
    if (upcall) this.upcall = true;
    this.inbox.push(fn);
    if (this.busy) return;
    this.busy = true;
    try {
      for (let f = this.inbox.shift(); f !== undefined; f = this.inbox.shift()) {
        try {
          f();
        } finally {
          this.flushOut();
        }
      }
    } finally {
      this.busy = false;
      if (this.upcall) {
        this.upcall = false;
        if (this.controlQueue.length > 0 || this.stalled.size > 0) this.drainLater();
      }
    }
  }

  private drainLater(): void {
    if (this.drainScheduled || this.hwg === null) return;
    this.drainScheduled = true;
    this.hwg.timers.setTimer(0, () => {
      this.drainScheduled = false;
      this.input(() => this.drain());
    });
  }

  private drop(reason: LwgDropReason): void {
    this.drops[reason]++;
  }

  private refused(err: unknown): void {
    if (err instanceof LwgRefused) this.drop(err.reason);
    else if (err instanceof ProtocolError) this.drop('malformed');
    else throw err;
    this.lastDrop = err.message;
  }

  /** What the last input dropped was refused for (for diagnosis; null before any). */
  lastDrop: string | null = null;

  private onMessage(d: Delivery): void {
    if (this.rejoining) return;
    const from = d.sender;
    let bytes: Buffer;
    try {
      // Everything the service sends is bytes: a packed value is not ours (or forged).
      if (!(d.payload instanceof Uint8Array)) throw new ProtocolError('ERR_MALFORMED', 'light-weight group message is not bytes');
      bytes = d.raw;
      const changes: LwgChange[] = [];
      switch (kindOf(bytes)) {
        case LwgKind.Data:
          return this.onData(from, bytes);
        case LwgKind.Join: {
          const b = decodeJoin(bytes);
          try {
            this.dir.join(from, b.member, b.names, b.wantState, changes);
          } catch (err) {
            if (err instanceof LwgRefused && err.reason === 'too-many-groups' && from === this.me) this.refuseOwnJoins(b.names);
            throw err;
          } finally {
            this.apply(changes);
          }
          return;
        }
        case LwgKind.Leave: {
          const ids = decodeLeave(bytes);
          try {
            this.dir.leave(from, ids, changes);
          } finally {
            this.apply(changes);
          }
          return;
        }
        case LwgKind.FlushOk: {
          const pairs = decodeFlushOk(bytes);
          try {
            this.dir.flushOk(from, pairs, this.hwg!.view.members, changes);
          } finally {
            this.apply(changes);
          }
          return;
        }
        case LwgKind.StateOk:
          this.dir.stateOk(from, decodeStateOk(bytes));
          return;
        case LwgKind.State:
          // States go point-to-point only.
          throw new LwgRefused('unexpected-state', `${from} multicast a state`);
      }
    } catch (err) {
      this.refused(err);
    }
  }

  /** Our own joins refused for a full directory: those groups fail. */
  private refuseOwnJoins(names: readonly string[]): void {
    for (const n of names) {
      const g = this.locals.get(n);
      if (g === undefined || this.dir.named(n) !== undefined || g.status !== 'joining') continue;
      this.locals.delete(n);
      g.close(new HorusError('ERR_JOIN_REJECTED', `light-weight group ${n}: the directory is full`));
    }
  }

  private onData(from: NodeId, bytes: Buffer): void {
    const { h, payload } = decodeData(bytes);
    const e = this.dir.get(h.lwg);
    if (e === undefined) throw new LwgRefused('unknown-lwg', `${from} sent to unknown light-weight group ${h.lwg}`);
    if (!e.members.includes(from)) throw new LwgRefused('not-member', `${from} sent to ${e.name}, which it is not in`);
    if (h.view !== e.viewId) throw new LwgRefused('stale-view', `${from} sent to view ${h.view} of ${e.name}, which is at ${e.viewId}`);
    if (e.flush !== null && !e.flush.waiting.has(from)) throw new LwgRefused('sent-after-flush', `${from} sent to ${e.name} after its flush acknowledgement`);
    const g = this.locals.get(e.name);
    if (g === undefined || !e.members.includes(this.me)) return; // not ours
    const d = new Delivery(e.name, from, h.id, h.order, payload, h.encoding, h.view);
    if (g.status === 'awaiting-state') g.awaiting!.backlog.push(d);
    else if ((g.status === 'member' || g.status === 'leaving') && g.view.id === h.view) this.deliver(g, d);
  }

  private deliver(g: LightweightGroup, d: Delivery): void {
    this.history?.record({
      k: 'deliver',
      at: this.now(),
      node: this.me,
      group: g.name,
      msg: messageName(d.sender, d.id),
      sender: d.sender,
      order: ORDERS.indexOf(d.order),
      view: d.viewId,
    });
    g.notify('message', d);
  }

  private onDirect(d: Delivery): void {
    if (this.rejoining) return;
    try {
      if (!(d.payload instanceof Uint8Array)) throw new ProtocolError('ERR_MALFORMED', 'light-weight group message is not bytes');
      const bytes = d.raw;
      if (kindOf(bytes) !== LwgKind.State) throw new LwgRefused('malformed', `${d.sender} sent a light-weight group message point-to-point`);
      let bad: LwgRefused | null = null;
      for (const s of decodeState(bytes, this.maxStateBytes)) {
        const e = this.dir.get(s.lwg);
        const g = e && this.locals.get(e.name);
        const a = g?.awaiting;
        if (e === undefined) bad = new LwgRefused('unknown-lwg', `${d.sender} sent the state of unknown group ${s.lwg}`);
        else if (g !== undefined && a !== null && a !== undefined && a.view === s.view && a.providers.includes(d.sender)) this.takeState(g, s.state);
        else if (g?.status === 'joining' && g.joinSent && s.view > e.viewId) {
          // Point-to-point overtook the abcasts that let us in (and maybe let its sender in): keep it
          // for that view; whether its sender may provide it is checked then. A few per group at most.
          const early = (g.early ??= []);
          if (early.length < 8 && !early.some((x) => x.from === d.sender && x.view === s.view)) early.push({ from: d.sender, view: s.view, state: s.state });
        } else if (s.view >= e.viewId && !e.members.includes(d.sender)) {
          bad = new LwgRefused('unexpected-state', `${d.sender} sent the state of ${e.name}, which it is not in`);
        }
        // Otherwise: another provider's copy came first, or the view is over (its provider may have
        // left since: a copy delayed past its leave is late, not forged). Not an offence; unused.
      }
      if (bad) throw bad;
    } catch (err) {
      this.refused(err);
    }
  }

  /** The joiner's state arrived: restore it, install the first view, and catch up. */
  private takeState(g: LightweightGroup, state: Buffer): void {
    const a = g.awaiting!;
    g.awaiting = null;
    g.status = 'member';
    // The others count this member among the state's holders once they hear it has it.
    if (a.providers.length > 0) this.outStateOk.push(this.dir.named(g.name)!.id, a.view);
    if (state.length > 0 && g.state) {
      try {
        const enc = state[0];
        if (enc !== PayloadEncoding.Bytes && enc !== PayloadEncoding.Packed) throw new Error(`snapshot encoding ${enc} is unknown`);
        g.state.set(decodePayload(state.subarray(1), enc));
      } catch (err) {
        g.notify(
          'error',
          new HorusError('ERR_STATE_TRANSFER', `light-weight group ${g.name}: the state could not be restored: ${(err as Error).message}`, { cause: err }),
        );
        // Out, and in again as a new joiner.
        g.status = 'joining';
        this.sendControl(encodeLeave([this.dir.named(g.name)!.id]));
        this.sendControl(encodeJoin({ member: this.me, names: [g.name], wantState: true }));
        g.joinSent = true;
        return;
      }
    }
    this.install(g, { group: g.name, id: a.view, members: a.members });
    for (const x of a.backlog) {
      if (x instanceof Delivery) this.deliver(g, x);
      else this.install(g, x);
    }
    this.unstall(g);
  }

  private onHwgView(v: View): void {
    this.rejoining = false;
    const changes: LwgChange[] = [];
    this.dir.hwgView(v.members, changes);
    this.apply(changes);
    this.sendJoins();
    this.drain();
  }

  private onExcluded(): void {
    const was = this.me;
    this.rejoining = true;
    this.dir.clear();
    this.controlQueue.length = 0;
    this.outFlushOk = [];
    this.outStateOk = [];
    this.outStates.clear();
    for (const g of [...this.locals.values()]) {
      if (g.status === 'leaving') {
        this.locals.delete(g.name);
        this.history?.record({ k: 'ended', at: this.now(), node: was, group: g.name, how: 'left' });
        g.close();
        continue;
      }
      const wasIn = g.status === 'member' || g.status === 'awaiting-state';
      g.status = 'joining';
      g.joinSent = false;
      g.awaiting = null;
      if (wasIn) {
        this.history?.record({ k: 'ended', at: this.now(), node: was, group: g.name, how: 'excluded' });
        g.notify('excluded', { viewId: g.view.id });
      }
    }
  }

  private shutDown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const g of this.locals.values()) g.close(err);
    this.locals.clear();
    this.stalled.clear();
  }

  // ---- the directory's changes, as seen by this member ----

  private apply(changes: readonly LwgChange[]): void {
    for (const c of changes) {
      const e = c.entry;
      if (c.kind === 'flush') {
        if (e.members.includes(this.me)) this.outFlushOk.push(e.id, e.viewId);
        continue;
      }
      const g = this.locals.get(e.name);
      // The members that hold the state hand it to the joiners.
      const stay = c.providers;
      if (c.changed && stay.includes(this.me)) this.provide(e, c.joiners, g);
      if (g !== undefined) this.onInstall(g, e, c, stay);
    }
  }

  /** This member held the previous view: hand each joiner that wants it the state as of now. */
  private provide(e: LwgEntry, joiners: ReadonlyMap<NodeId, boolean>, g: LightweightGroup | undefined): void {
    // Only a member that holds the state hands it over (not one still waiting for its own, nor one
    // that closed): the joiner waits for another provider, or for this one to be gone.
    if (g === undefined || (g.status !== 'member' && g.status !== 'leaving') || g.view.id === 0) return;
    let state: Buffer | null = null;
    for (const [j, wants] of joiners) {
      if (!wants || j === this.me) continue;
      if (state === null) state = this.snapshot(g);
      let l = this.outStates.get(j);
      if (!l) this.outStates.set(j, (l = []));
      l.push({ lwg: e.id, view: e.viewId, state });
    }
  }

  /** The group's state as of this instant: its encoding byte, then its bytes (empty: no state). */
  private snapshot(g: LightweightGroup): Buffer {
    if (g.state === null) return Buffer.alloc(0);
    try {
      const s = g.state.get();
      if (!(s instanceof Uint8Array)) checkPayload(s);
      const enc = encodePayload(s);
      return Buffer.concat([Buffer.of(enc.encoding), enc.bytes]);
    } catch (err) {
      g.notify('error', new HorusError('ERR_STATE_TRANSFER', `light-weight group ${g.name}: state.get() threw: ${(err as Error).message}`, { cause: err }));
      return Buffer.alloc(0);
    }
  }

  private onInstall(g: LightweightGroup, e: LwgEntry, c: Extract<LwgChange, { kind: 'install' }>, stay: readonly NodeId[]): void {
    const inNew = e.members.includes(this.me);
    const view: View = { group: e.name, id: e.viewId, members: e.members };
    switch (g.status) {
      case 'joining': {
        if (!inNew || !c.joiners.has(this.me)) return;
        if (g.leaveWhenIn) {
          g.status = 'leaving';
          this.sendControl(encodeLeave([e.id]));
          return;
        }
        if (c.joiners.get(this.me) === true && stay.length > 0) {
          g.status = 'awaiting-state';
          g.awaiting = { view: e.viewId, providers: [...stay], backlog: [], members: e.members };
          const early = g.early?.find((x) => x.view === e.viewId && stay.includes(x.from));
          g.early = null;
          if (early) this.takeState(g, early.state);
          return;
        }
        g.early = null;
        g.status = 'member';
        this.install(g, view);
        this.unstall(g);
        return;
      }
      case 'awaiting-state': {
        const a = g.awaiting!;
        if (inNew && c.joiners.has(this.me)) {
          // In again as a joiner (after its providers failed): a new first view.
          g.awaiting = { view: e.viewId, providers: [...stay], backlog: [], members: e.members };
          if (stay.length === 0) this.takeState(g, Buffer.alloc(0));
          return;
        }
        if (!inNew) return;
        if (c.changed) a.backlog.push(view);
        a.providers = a.providers.filter((p) => e.members.includes(p));
        if (a.providers.length === 0) {
          // Everyone who could hand us the state is gone: out, and in again as a new joiner.
          g.status = 'joining';
          g.awaiting = null;
          this.sendControl(encodeLeave([e.id]));
          this.sendControl(encodeJoin({ member: this.me, names: [g.name], wantState: true }));
          g.joinSent = true;
        }
        return;
      }
      case 'member':
      case 'leaving': {
        if (!inNew) {
          if (g.status === 'leaving') {
            this.locals.delete(g.name);
            this.stalled.delete(g);
            if (g.view.id > 0) this.history?.record({ k: 'ended', at: this.now(), node: this.me, group: g.name, how: 'left' });
            g.close();
          }
          return;
        }
        // A member that left while it waited for its state installs nothing more.
        if (c.changed && g.view.id > 0) this.install(g, view);
        this.unstall(g);
        return;
      }
      case 'closed':
        return;
    }
  }

  private install(g: LightweightGroup, v: View): void {
    g.setView(v);
    this.history?.record({ k: 'view', at: this.now(), node: this.me, group: g.name, view: v.id, members: v.members });
    g.notify('view', v);
    const w = g.waiter;
    if (w) {
      g.waiter = null;
      w.done(g);
    }
  }

  // ---- sending ----

  /** True when a send handed to the HWG now goes down at once, in its current view. */
  private get flowing(): boolean {
    const h = this.hwg;
    return h !== null && !this.rejoining && !this.upcall && h.view.id > 0 && h.blockedReasons.length === 0 && !h.blocked && h.pendingSends === 0;
  }

  /**
   * Joins, leaves and acknowledgements go as safe abcasts: one that any member delivers (and so
   * installs an LWG view on) is delivered by every member that survives the HWG view, so a member
   * cut off right after cannot have installed an LWG view the others never did.
   */
  private sendControl(bytes: Buffer): void {
    if (this.controlQueue.length === 0 && this.flowing) this.hwgCast(bytes, true);
    else this.controlQueue.push(bytes);
  }

  private hwgCast(bytes: Buffer, safe: boolean): void {
    this.hwg!.abcast(bytes, safe ? { safe } : undefined).catch((err: Error) => {
      for (const g of this.locals.values())
        if (g.listenerCount('error') > 0) g.notify('error', err instanceof HorusError ? err : new HorusError('ERR_INTERNAL', err.message, { cause: err }));
    });
  }

  /** Joins not yet sent go out, batched (one message per batch of names of the same kind). */
  private sendJoins(): void {
    if (this.hwg === null || this.rejoining || this.hwg.view.id === 0) return;
    const batches: [string[], string[]] = [[], []];
    for (const g of this.locals.values()) {
      if (g.status !== 'joining' || g.joinSent) continue;
      g.joinSent = true;
      batches[g.state ? 1 : 0].push(g.name);
    }
    batches.forEach((names, i) => {
      let start = 0;
      let bytes = 0;
      for (let k = 0; k <= names.length; k++) {
        if (k === names.length || bytes > CONTROL_BYTES) {
          if (k > start) this.sendControl(encodeJoin({ member: this.me, names: names.slice(start, k), wantState: i === 1 }));
          start = k;
          bytes = 0;
        }
        if (k < names.length) bytes += names[k]!.length + 4;
      }
    });
  }

  /** Flush acknowledgements and states produced by one input go out as few messages. */
  private flushOut(): void {
    if (this.outFlushOk.length > 0) {
      const pairs = this.outFlushOk;
      this.outFlushOk = [];
      const per = Math.floor(CONTROL_BYTES / 8) * 2;
      for (let i = 0; i < pairs.length; i += per) this.sendControl(encodeFlushOk(pairs.slice(i, i + per)));
    }
    if (this.outStateOk.length > 0) {
      const pairs = this.outStateOk;
      this.outStateOk = [];
      const per = Math.floor(CONTROL_BYTES / 8) * 2;
      for (let i = 0; i < pairs.length; i += per) this.sendControl(encodeStateOk(pairs.slice(i, i + per)));
    }
    if (this.outStates.size > 0) {
      for (const [to, items] of this.outStates) {
        let start = 0;
        let bytes = 0;
        for (let k = 0; k <= items.length; k++) {
          if (k === items.length || bytes > CONTROL_BYTES) {
            if (k > start) this.hwg!.send(to, encodeState(items.slice(start, k))).catch(() => {}); // a joiner gone: nothing to hand over
            start = k;
            bytes = 0;
          }
          if (k < items.length) bytes += items[k]!.state.length + 16;
        }
      }
      this.outStates.clear();
    }
    this.drain();
  }

  /** @internal a handle's send (use the handle's fbcast/abcast/...). */
  cast(g: LightweightGroup, order: Order, payload: unknown, opts: SendOptions | undefined): Promise<void> {
    if (g.status === 'closed' || g.status === 'leaving') return Promise.reject(new ClosedError(`light-weight group ${g.name} was left`));
    const code = ORDERS.indexOf(order);
    if (code < 0) return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `unknown order ${String(order)}`));
    let enc;
    try {
      if (!(payload instanceof Uint8Array)) checkPayload(payload);
      enc = encodePayload(payload);
    } catch (err) {
      return Promise.reject(
        err instanceof HorusError ? err : new HorusError('ERR_INVALID_ARGUMENT', `payload cannot be encoded: ${(err as Error).message}`, { cause: err }),
      );
    }
    const limit = (this.hwg?.maxPayloadBytes ?? Infinity) - DATA_HEADER_BYTES;
    if (enc.bytes.length > limit)
      return Promise.reject(
        new HorusError('ERR_TOO_LARGE', `payload of ${enc.bytes.length} bytes is over the ${limit}-byte limit of light-weight group ${g.name}`),
      );
    const safe = opts?.safe === true;
    if (g.held === null && this.canSend(g)) {
      this.sendData(g, code, enc.encoding, enc.bytes, safe);
      return RESOLVED;
    }
    if ((g.held?.length ?? 0) >= this.maxHeldSends)
      return Promise.reject(
        new HorusError('ERR_BACKPRESSURE', `light-weight group ${g.name}: ${this.maxHeldSends} sends are already held while it flushes; await sends`),
      );
    return new Promise<void>((resolve, reject) => {
      (g.held ??= []).push({ order: code, encoding: enc.encoding, bytes: enc.bytes, safe, resolve, reject });
      this.stalled.add(g);
      // Maybe it can go at once after all (the HWG had stopped only for a moment).
      if (!this.busy) this.input(() => this.drain());
    });
  }

  private canSend(g: LightweightGroup): boolean {
    if (g.status !== 'member' && g.status !== 'leaving') return false;
    const e = this.dir.named(g.name);
    return e !== undefined && e.flush === null && e.viewId === g.view.id && this.flowing && this.controlQueue.length === 0;
  }

  private sendData(g: LightweightGroup, order: number, encoding: PayloadEncoding, bytes: Buffer, safe: boolean): void {
    const e = this.dir.named(g.name)!;
    const id = ++this.msgCounter;
    this.history?.record({
      k: 'send',
      at: this.now(),
      node: this.me,
      group: g.name,
      msg: messageName(this.me, id),
      order,
      view: e.viewId,
      ...(safe ? { safe } : {}),
    });
    this.hwgCast(encodeData({ lwg: e.id, view: e.viewId, id, order, encoding }, bytes), safe);
  }

  private unstall(g: LightweightGroup): void {
    if (g.held !== null) this.stalled.add(g);
  }

  /** Send what waited: control messages first, then each stalled group's sends, while the HWG flows. */
  private drain(): void {
    while (this.controlQueue.length > 0 && this.flowing) this.hwgCast(this.controlQueue.shift()!, true);
    if (this.stalled.size === 0 || !this.flowing) return;
    for (const g of [...this.stalled]) {
      const held = g.held;
      if (held === null) {
        this.stalled.delete(g);
        continue;
      }
      while (held.length > 0 && this.canSend(g)) {
        const h: HeldSend = held.shift()!;
        this.sendData(g, h.order, h.encoding as PayloadEncoding, h.bytes, h.safe);
        h.resolve();
      }
      if (held.length === 0) {
        g.held = null;
        this.stalled.delete(g);
      }
      if (!this.flowing) return;
    }
  }

  /** @internal a handle's leave (use `group.leave()`). */
  leave(g: LightweightGroup): Promise<void> {
    if (g.status === 'closed') return RESOLVED;
    const done = new Promise<void>((resolve) => (g.leftWaiters ??= []).push(resolve));
    this.input(() => {
      switch (g.status) {
        case 'joining':
          if (!g.joinSent) {
            this.locals.delete(g.name);
            g.close();
          } else g.leaveWhenIn = true;
          return;
        case 'awaiting-state':
        case 'member': {
          g.status = 'leaving';
          // Sends not yet out are refused: a member that left sends nothing more.
          for (const h of g.held ?? []) h.reject(new ClosedError(`light-weight group ${g.name} was left`));
          g.held = null;
          g.awaiting = null;
          this.sendControl(encodeLeave([this.dir.named(g.name)!.id]));
          return;
        }
        default:
          return;
      }
    });
    return done;
  }
}
