import { z } from 'zod';
import { HorusError } from '../core/errors.js';
import { RateLimitedLog } from '../core/logger.js';
import { Message } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { messageFromBytes, messageToBytes } from '../codec/message-codec.js';
import { ProtocolError } from '../core/errors.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';

/** Largest message a stack carries (the header stack included). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024 + 64 * 1024;

interface FragHeader {
  id: number;
  index: number;
  count: number;
}

export const FRAG_HEADER = defineHeader<FragHeader>(
  HeaderIds.FRAG,
  'FRAG',
  (w, h) => {
    w.uvar(h.id);
    w.uvar(h.index);
    w.uvar(h.count);
  },
  (r) => ({ id: r.uvar(), index: r.uvar(), count: r.uvar() }),
);

const options = z.object({
  /** Payload bytes per fragment. */
  fragSize: z
    .number()
    .int()
    .min(256)
    .max(8 * 1024 * 1024)
    .default(60 * 1024),
  /** Unfinished reassemblies kept per sender (unreliable unicasts may leave some behind). */
  maxPendingPerSender: z.number().int().positive().default(16),
});
export type FragOptions = z.infer<typeof options>;

interface Assembly {
  readonly parts: (Buffer | undefined)[];
  received: number;
}

/**
 * Splits messages larger than `fragSize` into fragments and reassembles them. Small messages pass
 * with no header at all. Placed above NAK, fragments are sequenced and repaired one by one.
 */
export class FRAG extends Layer {
  readonly name = 'FRAG';
  private nextId = 1;
  private readonly pending = new Map<NodeId, Map<number, Assembly>>();
  private readonly badInput: RateLimitedLog;

  constructor(
    ctx: LayerContext,
    private readonly opts: FragOptions,
  ) {
    super(ctx);
    this.badInput = new RateLimitedLog(ctx.log, () => ctx.env.now());
  }

  override down(msg: Message): void {
    if (msg.payload.length + 256 <= this.opts.fragSize) {
      this.below.down(msg);
      return;
    }
    const whole = messageToBytes(msg);
    if (whole.length > MAX_MESSAGE_BYTES) {
      throw new HorusError('ERR_INVALID_ARGUMENT', `message of ${whole.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`);
    }
    const size = this.opts.fragSize;
    const count = Math.ceil(whole.length / size);
    const id = this.nextId++;
    for (let index = 0; index < count; index++) {
      const part = new Message(msg.dest, whole.subarray(index * size, Math.min(whole.length, (index + 1) * size)), msg.flags);
      part.push(FRAG_HEADER, { id, index, count });
      this.below.down(part);
    }
  }

  override up(msg: Message): void {
    const h = msg.pop(FRAG_HEADER);
    if (h === undefined) {
      this.above.up(msg);
      return;
    }
    if (h.count === 0 || h.index >= h.count || h.count > Math.ceil(MAX_MESSAGE_BYTES / 256)) {
      this.badInput.warn('dropped fragment with impossible index', { from: msg.src, ...h });
      return;
    }
    let bySender = this.pending.get(msg.src);
    if (!bySender) this.pending.set(msg.src, (bySender = new Map()));
    let a = bySender.get(h.id);
    if (!a) {
      if (bySender.size >= this.opts.maxPendingPerSender) {
        const oldest = bySender.keys().next().value;
        if (oldest !== undefined) bySender.delete(oldest);
      }
      a = { parts: new Array<Buffer | undefined>(h.count), received: 0 };
      bySender.set(h.id, a);
    }
    if (a.parts.length !== h.count || a.parts[h.index] !== undefined) return; // inconsistent or duplicate
    a.parts[h.index] = Buffer.from(msg.payload); // copy: the frame buffer is not ours to keep
    a.received++;
    if (a.received < h.count) return;
    bySender.delete(h.id);
    let whole: Message;
    try {
      whole = messageFromBytes(Buffer.concat(a.parts as Buffer[]));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.badInput.warn('dropped malformed reassembled message', { from: msg.src, error: err.message });
      return;
    }
    whole.src = msg.src;
    // The last fragment's sequence number: once it is stable, so are the ones before it (FIFO).
    whole.seq = msg.seq;
    this.above.up(whole);
  }
}

registerLayer({
  name: 'FRAG',
  provides: ['fragmentation'],
  requires: ['transport'],
  options,
  create: (ctx, o) => new FRAG(ctx, o),
});
