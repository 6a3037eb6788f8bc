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
   * The largest application payload this layer lets through, given what the layers below carry
   * (`below`; Infinity under the bottom layer). The stack asks bottom-up and rejects larger sends
   * at the API with ERR_TOO_LARGE. Most layers pass the limit on; COM and FRAG set it.
   */
  payloadLimit(below: number): number {
    return below;
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
