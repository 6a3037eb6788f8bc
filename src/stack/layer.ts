import type { Env } from '../core/env.js';
import type { DownEvent, UpEvent } from '../core/events.js';
import type { Message } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import type { Logger } from '../core/logger.js';
import type { View } from '../core/view.js';
import type { Metrics } from '../core/metrics.js';

/** What a layer receives from the stack it lives in. */
export interface LayerContext {
  readonly env: Env;
  readonly group: string;
  readonly localId: NodeId;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/** Anything that can sit above or below a layer. */
export interface LayerLink {
  down(msg: Message): void;
  up(msg: Message): void;
  downEvent(ev: DownEvent): void;
  upEvent(ev: UpEvent): void;
  /**
   * Messages in order, as if passed one by one (a frame's messages going up, a list of sends going
   * down). The array is the callee's for the call only: it may overwrite entries or shorten it (a
   * layer gathers what it passes on into the batch it was given), and must not keep the array
   * itself once it returns.
   */
  upBatch(batch: Message[]): void;
  downBatch(batch: Message[]): void;
}

/**
 * Stands in for a layer's neighbour while the layer handles a batch: the messages it passes on are
 * gathered and go on as one batch. Anything else (an event, or a message the other way) first hands
 * on what was gathered, so the neighbour sees exactly the sequence it would have seen one by one.
 *
 * What is gathered is written into the batch being handled, over the messages already handled
 * (`room` of them): a layer that passes on at most what it took, as most do, allocates nothing per
 * batch. Only one that passes on more than it took so far spills into an array of its own.
 */
class BatchCollector implements LayerLink {
  /** Where gathered messages go: the batch being handled until it spills. */
  private out: Message[];
  private n = 0;
  private spilled = false;
  /** Entries of `out` that may be overwritten (the batch's messages handled so far). */
  room = 0;
  constructor(
    private readonly real: LayerLink,
    private readonly upward: boolean,
    batch: Message[],
    gathered = 0,
  ) {
    this.out = batch;
    this.n = gathered;
  }
  private add(msg: Message): void {
    if (!this.spilled && this.n >= this.room) {
      this.out = this.out.slice(0, this.n);
      this.spilled = true;
    }
    if (this.spilled) this.out.push(msg);
    else this.out[this.n] = msg;
    this.n++;
  }
  flush(): void {
    const n = this.n;
    if (n === 0) return;
    const out = this.out;
    if (!this.spilled) {
      // The rest of the batch is still to be handled: hand on a copy of what was gathered.
      if (this.room < out.length) {
        this.out = out;
        this.n = 0;
        this.spilled = false;
        const part = out.slice(0, n);
        this.room = 0; // what was gathered sits in the batch still: not to be overwritten from here on
        this.pass(part);
        return;
      }
      out.length = n;
    }
    this.out = [];
    this.spilled = true;
    this.n = 0;
    this.pass(out);
  }
  private pass(out: Message[]): void {
    if (this.upward) this.real.upBatch(out);
    else this.real.downBatch(out);
  }
  up(msg: Message): void {
    if (this.upward) this.add(msg);
    else this.real.up(msg);
  }
  upBatch(batch: Message[]): void {
    if (this.upward) for (let i = 0; i < batch.length; i++) this.add(batch[i]!);
    else this.real.upBatch(batch);
  }
  down(msg: Message): void {
    if (!this.upward) this.add(msg);
    else this.real.down(msg);
  }
  downBatch(batch: Message[]): void {
    if (!this.upward) for (let i = 0; i < batch.length; i++) this.add(batch[i]!);
    else this.real.downBatch(batch);
  }
  upEvent(ev: UpEvent): void {
    if (this.upward) this.flush();
    this.real.upEvent(ev);
  }
  downEvent(ev: DownEvent): void {
    if (!this.upward) this.flush();
    this.real.downEvent(ev);
  }
}

/**
 * The Horus layer contract: messages and events travel `down` toward the network and `up` toward
 * the application. A layer may push/pop its own header, hold, reorder, create or absorb them.
 * The default is to pass everything through. Hot paths are synchronous.
 */
export abstract class Layer implements LayerLink {
  above!: LayerLink;
  below!: LayerLink;
  protected readonly env: Env;
  protected readonly log: Logger;
  constructor(protected readonly ctx: LayerContext) {
    this.env = ctx.env;
    this.log = ctx.log;
  }
  abstract readonly name: string;
  down(msg: Message): void {
    this.below.down(msg);
  }
  up(msg: Message): void {
    this.above.up(msg);
  }
  downEvent(ev: DownEvent): void {
    this.below.downEvent(ev);
  }
  upEvent(ev: UpEvent): void {
    this.above.upEvent(ev);
  }
  /**
   * A batch going up. A layer that passes messages through unchanged passes the batch on whole; one
   * with its own `up` handles each message in turn, and what it passes on goes up as one batch. A
   * layer that gains from seeing the batch at once (state updated once per batch) overrides this.
   */
  upBatch(batch: Message[]): void {
    if (this.up === Layer.prototype.up) {
      this.above.upBatch(batch);
      return;
    }
    this.eachUp(batch);
  }
  /** The same going down: a list of sends reaches COM as one batch. */
  downBatch(batch: Message[]): void {
    if (this.down === Layer.prototype.down) {
      this.below.downBatch(batch);
      return;
    }
    this.eachDown(batch);
  }
  /** `up` for each message of the batch, what it passes up gathered into one batch (see BatchCollector). */
  protected eachUp(batch: Message[]): void {
    this.eachUpFrom(batch, 0, 0);
  }
  /**
   * `eachUp` from `batch[start]` on, for a layer whose own `upBatch` handled the messages before
   * `start` itself and put the first `gathered` of them, to pass up, at the front of `batch`
   * (`gathered` <= `start`): they go up together with what `up` passes on, in one batch.
   */
  protected eachUpFrom(batch: Message[], start: number, gathered: number): void {
    const real = this.above;
    if (real instanceof BatchCollector) {
      // Re-entered while already gathering (a batch handed back to us): keep gathering into the same one.
      for (let i = 0; i < gathered; i++) real.up(batch[i]!);
      for (let i = start; i < batch.length; i++) this.up(batch[i]!);
      return;
    }
    const gather = new BatchCollector(real, true, batch, gathered);
    this.above = gather;
    try {
      for (let i = start; i < batch.length; i++) {
        const msg = batch[i]!;
        gather.room = i + 1;
        this.up(msg);
      }
    } finally {
      this.above = real;
    }
    gather.flush();
  }
  protected eachDown(batch: Message[]): void {
    const real = this.below;
    if (real instanceof BatchCollector) {
      for (let i = 0; i < batch.length; i++) this.down(batch[i]!);
      return;
    }
    const gather = new BatchCollector(real, false, batch);
    this.below = gather;
    try {
      for (let i = 0; i < batch.length; i++) {
        const msg = batch[i]!;
        gather.room = i + 1;
        this.down(msg);
      }
    } finally {
      this.below = real;
    }
    gather.flush();
  }
  /**
   * The largest application payload this layer lets through, given what the layers below carry
   * (`below`; Infinity under the bottom layer). The stack asks bottom-up and rejects larger sends
   * at the API with ERR_TOO_LARGE. Most layers pass the limit on; COM and FRAG set it.
   */
  payloadLimit(below: number): number {
    return below;
  }
  /** True while this layer's `upBatch` is gathering what it passes up (it was re-entered). */
  protected get gatheringUp(): boolean {
    return this.above instanceof BatchCollector;
  }
  /** Called bottom-up once the stack is linked. */
  start(): void {}
  /** Called top-down when the stack is torn down: cancel timers here. */
  stop(): void {}
}

/**
 * A layer above GMS that must learn each view: from GMS going up, or, in a group with a fixed
 * membership (no GMS), from the view sent down at start.
 */
export abstract class ViewAwareLayer extends Layer {
  protected abstract newView(view: View): void;
  override upEvent(ev: UpEvent): void {
    if (ev.type === 'VIEW') this.newView(ev.view);
    this.above.upEvent(ev);
  }
  override downEvent(ev: DownEvent): void {
    if (ev.type === 'VIEW') this.newView(ev.view);
    this.below.downEvent(ev);
  }
}
