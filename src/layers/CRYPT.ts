import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { z } from 'zod';
import type { DownEvent } from '../core/events.js';
import { ProtocolError } from '../core/errors.js';
import { InputGuard, MAX_WIRE_INT } from '../core/input-guard.js';
import { Message, MsgFlag, type HeaderType } from '../core/message.js';
import type { Counter } from '../core/metrics.js';
import type { NodeId } from '../core/node-id.js';
import { defineHeader, headerTypeOf, HeaderIds } from '../codec/header-registry.js';
import { MAX_HEADERS } from '../codec/message-codec.js';
import { Reader } from '../codec/reader.js';
import { Writer } from '../codec/writer.js';
import { viewKeyOf } from '../security/group-key.js';
import { nodeOfMember } from '../core/member-id.js';
import { GMS_HEADER, mayTravelInClear } from './gms/messages.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { ReplayWindow } from './crypt/replay-window.js';

/**
 * Counter spaces. Ordered: reliable multicasts, numbered exactly as NAK (just below) numbers them,
 * so the counter a receiver checks is NAK's sequence number. Other: unicasts and unreliable
 * multicasts (flush steps, credits, gossip), checked against a sliding replay window.
 */
const enum Space {
  Ordered = 0,
  Other = 1,
}

interface CryptHeader {
  s: Space;
  /** The view whose key sealed the message. */
  v: number;
  /** The sender's counter in that view and space: the nonce. */
  c: number;
}

export const CRYPT_HEADER = defineHeader<CryptHeader>(
  HeaderIds.CRYPT,
  'CRYPT',
  (w, h) => {
    w.u8(h.s);
    w.uvar(h.v);
    w.uvar(h.c);
  },
  (r) => {
    const s = r.u8();
    if (s !== Space.Ordered && s !== Space.Other) throw new ProtocolError('ERR_MALFORMED', `unknown CRYPT space ${s}`);
    return { s, v: r.uvar(), c: r.uvar() };
  },
);

const options = z.object({
  /** Keys of this many views are kept (the current one and the ones before it): late control messages of a view just ended still open. */
  keepViews: z.number().int().min(1).max(16).default(3),
  /** Messages sealed with the key of a view not installed here yet, held until it is (a member ahead of us); more are dropped. */
  maxHeldMessages: z.number().int().nonnegative().default(1024),
  /** ...and their bytes. */
  maxHeldBytes: z
    .number()
    .int()
    .nonnegative()
    .default(4 * 1024 * 1024),
  /** Reliable multicasts sent in one burst are sealed together, up to this many bytes a bundle (one AEAD operation, one NAK number). */
  maxBundleBytes: z
    .number()
    .int()
    .min(1024)
    .default(32 * 1024),
  /** How far behind a sender's highest counter an unordered message may still arrive. */
  replayWindow: z.number().int().min(64).max(65_536).default(1024),
});
export type CryptOptions = z.infer<typeof options>;

const TAG_BYTES = 16;
/** In a bundle, the top bit of a message's header count: the message is flagged MsgFlag.Causal (counts are at most MAX_HEADERS, 32). */
const CAUSAL_BIT = 0x80;

/** One view's key and what was derived from it. */
class ViewKey {
  readonly members: ReadonlySet<NodeId>;
  /** Each sender's own AEAD key, derived from the view key and its member id. */
  private readonly senderKeys = new Map<NodeId, Buffer>();
  /** Unordered counters seen per sender. */
  readonly replay = new Map<NodeId, ReplayWindow>();
  constructor(
    readonly id: number,
    private readonly key: Buffer,
    members: readonly NodeId[],
    private readonly group: string,
  ) {
    this.members = new Set(members);
  }
  senderKey(sender: NodeId): Buffer {
    let k = this.senderKeys.get(sender);
    if (k === undefined) {
      k = Buffer.from(hkdfSync('sha256', this.key, Buffer.from(this.group), Buffer.from(`horus crypt\0${this.id}\0${sender}`), 32));
      this.senderKeys.set(sender, k);
    }
    return k;
  }
}

/**
 * Is `msg` a GMS control unicast that travels in clear (its GMS header may sit below the headers of
 * the layers between GMS and us)? See mayTravelInClear.
 */
function travelsInClear(msg: Message): boolean {
  if (msg.dest === null) return false;
  for (let i = msg.htop - 1; i >= 0; i--) if (msg.htypes[i] === GMS_HEADER) return i === 0 && mayTravelInClear(msg.hvalues[i] as number, msg.payload);
  return false;
}

function nonceOf(h: CryptHeader): Buffer {
  const n = Buffer.alloc(12);
  n[0] = h.s;
  n.writeUIntBE(h.c, 6, 6);
  return n;
}

/** What a sealed message is bound to besides its bytes: group, view, sender, space, counter, flags, destination. */
function associatedData(group: string, sender: NodeId, h: CryptHeader, flags: number, dest: NodeId | null): Buffer {
  return Buffer.from(`${group}\0${h.v}\0${sender}\0${h.s}\0${h.c}\0${flags}\0${dest ?? ''}`);
}

/**
 * Authenticated encryption of group traffic: AES-256-GCM with a key per view (made by the
 * coordinator and handed down by GMS with the view, see src/security/group-key.ts). It sits just
 * above NAK: the headers of every layer above it and the payload are sealed; the view, the sender,
 * the sender's counter (for reliable multicasts, NAK's sequence number) and the flags and
 * destination are the associated data, so a frame copied, replayed, renumbered or moved to another
 * view or sender does not open. NAK below keeps and retransmits the sealed form, and holds a
 * member's messages of a view we have not installed until we have its key. Only unicasts to
 * processes outside the view (the join protocol) travel in clear, and only a non-member's clear
 * messages are heard; GMS checks what those may say.
 */
export class CRYPT extends Layer {
  readonly name = 'CRYPT';
  private readonly keys = new Map<number, ViewKey>();
  private current: ViewKey | null = null;
  private orderedSent = 0;
  private otherSent = 0;
  /** Our sealed reliable multicasts -> the message we sealed: COM loops our own copy back, we need not open it. */
  private readonly own = new WeakMap<Message, readonly Message[]>();
  /** Reliable multicasts of this burst, sealed together at its end (or once they fill a bundle). */
  private pending: Message[] = [];
  private pendingBytes = 0;
  private sealScheduled = false;
  private maxBundleBytes: number;
  private held: Message[] = [];
  private releaseScheduled = false;
  /** Calls of ours on the stack (upBatch, down, downEvent): held messages are released early only at 0. */
  private depth = 0;
  private heldBytes = 0;
  private readonly guard: InputGuard;
  private readonly mSealed: Counter;
  private readonly mOpened: Counter;
  private readonly mUnsealable: Counter;
  private unsealableLogged = false;

  constructor(
    ctx: LayerContext,
    private readonly opts: CryptOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'CRYPT');
    this.maxBundleBytes = opts.maxBundleBytes;
    this.mSealed = ctx.metrics.counter('horus_crypt_sealed_total', 'messages encrypted');
    this.mOpened = ctx.metrics.counter('horus_crypt_opened_total', 'messages decrypted and authenticated');
    this.mUnsealable = ctx.metrics.counter(
      'horus_crypt_unsealable_total',
      'messages not sent: no group key yet, or not membership talk to a process outside the view',
    );
  }

  /** The view whose key seals what we send now (tests read it). */
  get keyView(): number | null {
    return this.current?.id ?? null;
  }

  override payloadLimit(below: number): number {
    // The headers of the layers above travel inside the sealed payload, with the tag; a bundle of
    // reliable multicasts stays within what the layers below carry.
    this.maxBundleBytes = Math.max(1024, Math.min(this.opts.maxBundleBytes, below - 1024));
    return Math.max(0, below - 1024);
  }

  override down(msg: Message): void {
    this.depth++;
    try {
      this.downOne(msg);
    } finally {
      this.depth--;
    }
  }

  private downOne(msg: Message): void {
    // Membership talk that a process without our key must read (a joiner, a member behind us) goes in clear.
    if (travelsInClear(msg)) {
      this.sealPending();
      return this.below.down(msg);
    }
    const k = this.current;
    if (k === null || (msg.dest !== null && !k.members.has(msg.dest))) {
      this.sealPending();
      return this.unsealable(msg);
    }
    if (msg.dest === null && (msg.flags & MsgFlag.Unreliable) === 0) {
      // A reliable multicast: gathered with the others of this burst and sealed as one bundle.
      this.pending.push(msg);
      this.pendingBytes += msg.payload.length + 16 + msg.htop * 16;
      if (this.pendingBytes >= this.maxBundleBytes) this.sealPending();
      else if (!this.sealScheduled) {
        this.sealScheduled = true;
        this.env.defer(() => {
          this.sealScheduled = false;
          this.sealPending();
        });
      }
      return;
    }
    this.sealPending();
    this.below.down(this.seal(k, [msg], { s: Space.Other, v: k.id, c: ++this.otherSent }, msg.flags, msg.dest));
  }

  /**
   * Seal the reliable multicasts gathered so far as one message: one AEAD operation and one NAK
   * number for the lot (NAK keeps and retransmits the bundle whole; SAFE and STABLE see one number).
   * Called before anything else goes down, so the order below is the order they were sent in.
   */
  private sealPending(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingBytes = 0;
    const k = this.current!;
    const out = this.seal(k, batch, { s: Space.Ordered, v: k.id, c: ++this.orderedSent }, MsgFlag.Multicast, null);
    out.src = batch[0]!.src;
    this.own.set(out, batch);
    this.below.down(out);
  }

  /** One sealed message carrying `msgs` (their headers and payloads). */
  private seal(k: ViewKey, msgs: readonly Message[], h: CryptHeader, flags: number, dest: NodeId | null): Message {
    let size = 8;
    for (const m of msgs) size += m.payload.length + 8 + m.htop * 16;
    const w = new Writer(size);
    w.uvar(msgs.length);
    for (const m of msgs) {
      // The header count (at most MAX_HEADERS), and CAUSAL's flag in the top bit: the one wire flag of a bundled message's own.
      w.u8(m.htop | (m.flags & MsgFlag.Causal ? CAUSAL_BIT : 0));
      for (let i = 0; i < m.htop; i++) {
        const t = m.htypes[i]!;
        w.u8(t.id);
        t.encode(w, m.hvalues[i]);
      }
      w.lbytes(m.payload);
    }
    const c = createCipheriv('aes-256-gcm', k.senderKey(this.ctx.localId), nonceOf(h));
    c.setAAD(associatedData(this.ctx.group, this.ctx.localId, h, flags, dest));
    const sealed = Buffer.concat([c.update(w.toBytes()), c.final(), c.getAuthTag()]);
    const out = new Message(dest, sealed, flags);
    out.src = msgs[0]!.src;
    out.push(CRYPT_HEADER, h);
    this.mSealed.inc(msgs.length);
    return out;
  }

  /**
   * A batch going up. An Install and messages sealed with the key it brings often come in one read
   * (at a joiner: the state chunk right behind it): those are held here before GMS sees the Install.
   * Once the batch is through GMS (the view installed, its key here), they are heard at once, not a
   * loop turn later behind everything else the process has to do then (at a joiner of 20 members,
   * 20 new connections' handshakes: 20-45 ms). Only at the outermost call: one made while a send or
   * an event of ours is going down (a loopback) is inside someone's handling, and the deferred
   * release covers it.
   */
  override upBatch(batch: Message[]): void {
    this.depth++;
    try {
      super.upBatch(batch);
    } finally {
      this.depth--;
    }
    if (this.depth === 0 && this.releaseScheduled && this.held.length > 0) this.releaseHeld();
  }

  override up(msg: Message): void {
    const h = msg.pop(CRYPT_HEADER);
    if (h === undefined) return this.upClear(msg);
    const mine = this.own.get(msg);
    if (mine !== undefined) {
      // Our own multicasts, looped back by COM: the messages we sealed, with NAK's number.
      for (const m of mine) {
        m.src = msg.src;
        m.seq = msg.seq;
        this.above.up(m);
      }
      return;
    }
    const from = msg.src;
    const cur = this.current;
    const k = this.keys.get(h.v);
    if (k === undefined) {
      if (h.v > (cur?.id ?? 0) && h.v <= MAX_WIRE_INT) this.hold(msg, h);
      else this.guard.drop(from, 'sealed with the key of a view we no longer hold', { view: h.v });
      return;
    }
    if (!k.members.has(from)) return this.guard.drop(from, 'sealed message from outside the view of its key', { view: h.v });
    if (k !== cur && (cur === null || !cur.members.has(from)))
      return this.guard.drop(from, 'sealed message from a member no longer in the view', { view: h.v });
    let window: ReplayWindow | undefined;
    if (h.s === Space.Ordered) {
      // NAK delivers a sender's reliable multicasts once each, in order: its number is the counter.
      if (k !== cur || h.c !== msg.seq) return this.guard.drop(from, 'ordered counter does not match its sequence number', { c: h.c, seq: msg.seq });
    } else {
      window = k.replay.get(from);
      if (window === undefined) k.replay.set(from, (window = new ReplayWindow(this.opts.replayWindow)));
      if (!window.fresh(h.c)) return this.guard.drop(from, 'replayed or too old', { c: h.c });
    }
    const opened = this.open(k, from, h, msg);
    if (opened === null) return;
    window?.mark(h.c);
    this.mOpened.inc(opened.length);
    for (const m of opened) this.above.up(m);
  }

  /** Not sent: no key for it (before our first view), or a unicast to a process outside the view. Counted. */
  private unsealable(msg: Message): void {
    this.mUnsealable.inc();
    if (this.current !== null && !this.unsealableLogged) {
      this.unsealableLogged = true;
      this.log.warn('message to a process outside the view not sent: only membership messages go in clear', { dest: msg.dest ?? 'the view' });
    }
  }

  /** A message without our header: only membership talk that travels in clear is heard; GMS checks who may say what. */
  private upClear(msg: Message): void {
    if (!travelsInClear(msg)) return this.guard.drop(msg.src, 'group traffic in clear');
    this.above.up(msg);
  }

  /** Decrypt and restore the messages inside (headers of the layers above included), or null after counting the drop. */
  private open(k: ViewKey, from: NodeId, h: CryptHeader, msg: Message): Message[] | null {
    const p = msg.payload;
    if (p.length < TAG_BYTES + 1) {
      this.guard.drop(from, 'sealed message too short');
      return null;
    }
    let plain: Buffer;
    try {
      const d = createDecipheriv('aes-256-gcm', k.senderKey(from), nonceOf(h));
      d.setAAD(associatedData(this.ctx.group, from, h, msg.flags, msg.dest));
      d.setAuthTag(p.subarray(p.length - TAG_BYTES));
      plain = Buffer.concat([d.update(p.subarray(0, p.length - TAG_BYTES)), d.final()]);
    } catch {
      this.guard.drop(from, 'sealed message failed authentication', { view: h.v });
      return null;
    }
    try {
      const r = new Reader(plain);
      const count = r.uvar();
      // Only reliable multicasts are bundled; anything else carries one message.
      if (count < 1 || (count > 1 && h.s !== Space.Ordered) || count > plain.length) throw new Error(`${count} messages`);
      const out: Message[] = [];
      for (let j = 0; j < count; j++) {
        const top = r.u8();
        const n = top & ~CAUSAL_BIT;
        if (n > MAX_HEADERS) throw new Error(`${n} headers`);
        const types = new Array<HeaderType<unknown>>(n);
        const values = new Array<unknown>(n);
        for (let i = 0; i < n; i++) {
          const t = headerTypeOf(r.u8());
          types[i] = t;
          values[i] = t.decode(r);
        }
        const m = new Message(msg.dest, r.lbytes(), msg.flags | (top & CAUSAL_BIT ? MsgFlag.Causal : 0), types, values);
        m.src = msg.src;
        m.seq = msg.seq;
        out.push(m);
      }
      if (r.remaining !== 0) throw new Error('trailing bytes');
      return out;
    } catch (err) {
      // Authenticated, so a member sealed it: a bug or a lying member, either way not ours to act on.
      this.guard.drop(from, 'sealed message with a malformed inside', { error: (err as Error).message });
      return null;
    }
  }

  private hold(msg: Message, h: CryptHeader): void {
    const bytes = msg.payload.length + 64;
    if (this.held.length >= this.opts.maxHeldMessages || this.heldBytes + bytes > this.opts.maxHeldBytes) {
      this.guard.drop(msg.src, 'over the cap for messages sealed with a key not installed yet', { view: h.v });
      return;
    }
    msg.push(CRYPT_HEADER, h);
    // Its own bytes: held a while, it must not pin the frame it came in.
    msg.payload = Buffer.from(msg.payload);
    msg.wire = null;
    this.held.push(msg);
    this.heldBytes += bytes;
  }

  override downEvent(ev: DownEvent): void {
    this.depth++;
    try {
      this.downEventOne(ev);
    } finally {
      this.depth--;
    }
  }

  private downEventOne(ev: DownEvent): void {
    // What was sent before the event goes first (a flush's digest counts it; a view ends after it).
    this.sealPending();
    if (ev.type !== 'VIEW') return this.below.downEvent(ev);
    this.installView(ev.view.id, ev.view.members, viewKeyOf(ev.view));
    this.below.downEvent(ev);
    // Not from inside the view change: GMS is still installing the view (a held flush start heard
    // now would freeze a view the application has not been told of yet). Soon after, in order.
    if (this.held.length > 0 && !this.releaseScheduled) {
      this.releaseScheduled = true;
      this.env.defer(() => {
        this.releaseScheduled = false;
        this.releaseHeld();
      });
    }
  }

  private installView(id: number, members: readonly NodeId[], key: Buffer | undefined): void {
    if (this.current?.id === id) return; // the same view again (a joiner's view once its state is in)
    if (key === undefined) {
      this.log.error('view without a group key: CRYPT needs GMS above it with groupKeys on', { viewId: id });
      this.current = null;
      return;
    }
    const k = new ViewKey(id, key, members, this.ctx.group);
    this.keys.set(id, k);
    this.current = k;
    this.orderedSent = 0;
    this.otherSent = 0;
    for (const old of [...this.keys.keys()]) if (old <= id - this.opts.keepViews || old > id) this.keys.delete(old);
  }

  /** Messages held for a key that may be in now: heard again (the rest stay held). */
  private releaseHeld(): void {
    if (this.held.length === 0 || this.current === null) return;
    const members = [...this.current.members];
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    // They came before this view told COM who is who: name their senders as its members now.
    const byNode = new Map(members.map((m) => [nodeOfMember(m), m]));
    for (const m of held) {
      if (!members.includes(m.src)) m.src = byNode.get(nodeOfMember(m.src)) ?? m.src;
      this.up(m);
    }
  }
}

registerLayer({
  name: 'CRYPT',
  provides: ['confidentiality'],
  requires: ['reliable'],
  options,
  create: (ctx, o) => new CRYPT(ctx, o),
});
