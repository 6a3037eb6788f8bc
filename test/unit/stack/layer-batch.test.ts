import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Env } from '../../../src/core/env.js';
import type { DownEvent, UpEvent } from '../../../src/core/events.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message } from '../../../src/core/message.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';
import { Layer, type LayerContext, type LayerLink } from '../../../src/stack/layer.js';

const ctx: LayerContext = { env: {} as Env, group: 'g', localId: 'me:1/1', log: silentLogger, metrics: new MemoryMetrics() };

/** Passes everything through: inherits every default. */
class Through extends Layer {
  readonly name = 'THROUGH';
}

/** Has its own `up`/`down`: drops payloads "drop", raises an event on "event", passes the rest. */
class Picky extends Layer {
  readonly name = 'PICKY';
  seen: string[] = [];
  override up(msg: Message): void {
    const p = msg.payload.toString();
    this.seen.push(p);
    if (p === 'drop') return;
    if (p === 'event') this.above.upEvent({ type: 'FLUSH_REACHED' });
    this.above.up(msg);
  }
  override down(msg: Message): void {
    const p = msg.payload.toString();
    if (p === 'drop') return;
    if (p === 'event') this.below.downEvent({ type: 'STABILIZE' });
    this.below.down(msg);
  }
}

/** Records calls as the link at either end of a small stack. */
function recorder(): LayerLink & { calls: string[] } {
  const calls: string[] = [];
  const names = (b: Message[]): string => b.map((m) => m.payload.toString()).join(',');
  return {
    calls,
    up: (m) => calls.push(`up ${m.payload.toString()}`),
    upBatch: (b) => calls.push(`upBatch ${names(b)}`),
    upEvent: (e: UpEvent) => calls.push(`upEvent ${e.type}`),
    down: (m) => calls.push(`down ${m.payload.toString()}`),
    downBatch: (b) => calls.push(`downBatch ${names(b)}`),
    downEvent: (e: DownEvent) => calls.push(`downEvent ${e.type}`),
  };
}

const msgs = (...ps: string[]): Message[] => ps.map((p) => new Message(null, Buffer.from(p)));

/** top recorder <- upper <- lower <- bottom recorder */
function link(upper: Layer, lower: Layer): { top: ReturnType<typeof recorder>; bottom: ReturnType<typeof recorder> } {
  const top = recorder();
  const bottom = recorder();
  upper.above = top;
  upper.below = lower;
  lower.above = upper;
  lower.below = bottom;
  return { top, bottom };
}

describe('layer batches', () => {
  it('a layer that passes messages through passes a batch on whole, both ways', () => {
    const upper = new Through(ctx);
    const lower = new Through(ctx);
    const { top, bottom } = link(upper, lower);
    lower.upBatch(msgs('a', 'b', 'c'));
    upper.downBatch(msgs('x', 'y'));
    assert.deepEqual(top.calls, ['upBatch a,b,c']);
    assert.deepEqual(bottom.calls, ['downBatch x,y']);
  });

  it('a layer with its own up sees each message, and what it passes on goes on as one batch', () => {
    const upper = new Through(ctx);
    const lower = new Picky(ctx);
    const { top } = link(upper, lower);
    lower.upBatch(msgs('a', 'drop', 'b', 'c'));
    assert.deepEqual(lower.seen, ['a', 'drop', 'b', 'c']);
    assert.deepEqual(top.calls, ['upBatch a,b,c']);
  });

  it('an event raised inside a batch reaches the layer above after the messages before it and before the ones after', () => {
    const upper = new Through(ctx);
    const lower = new Picky(ctx);
    const { top } = link(upper, lower);
    lower.upBatch(msgs('a', 'b', 'event', 'c'));
    assert.deepEqual(top.calls, ['upBatch a,b', 'upEvent FLUSH_REACHED', 'upBatch event,c']);
  });

  it('going down, an event inside a batch keeps its place too, and the layer is linked as before afterwards', () => {
    const upper = new Picky(ctx);
    const lower = new Through(ctx);
    const { bottom } = link(upper, lower);
    upper.downBatch(msgs('a', 'event', 'drop', 'b'));
    assert.deepEqual(bottom.calls, ['downBatch a', 'downEvent STABILIZE', 'downBatch event,b']);
    assert.equal(upper.below, lower, 'the stand-in is gone once the batch is handled');
    upper.down(new Message(null, Buffer.from('z')));
    assert.equal(bottom.calls.at(-1), 'down z', 'a single message still goes down as one message');
  });

  it('what a layer passes on is gathered into the batch it was given (no array per batch), and one that passes on more than it took spills safely', () => {
    /** Holds "hold" until "release" comes, then passes both; passes "twice" on twice. */
    class Bursty extends Layer {
      readonly name = 'BURSTY';
      private held: Message[] = [];
      override up(msg: Message): void {
        const p = msg.payload.toString();
        if (p === 'hold') return void this.held.push(msg);
        if (p === 'release') for (const h of this.held.splice(0)) this.above.up(h);
        if (p === 'twice') this.above.up(msg);
        this.above.up(msg);
      }
    }
    const upper = new Through(ctx);
    const lower = new Bursty(ctx);
    const { top } = link(upper, lower);
    let handedUp: Message[] | null = null;
    top.upBatch = (b) => {
      handedUp = b;
      top.calls.push(`upBatch ${b.map((m) => m.payload.toString()).join(',')}`);
    };
    const fewer = msgs('a', 'hold', 'b', 'drop?');
    lower.upBatch(fewer);
    assert.equal(handedUp, fewer, 'gathered in place');
    assert.deepEqual(top.calls, ['upBatch a,b,drop?']);
    lower.upBatch(msgs('hold', 'hold', 'release', 'twice', 'c'));
    assert.deepEqual(top.calls.at(-1), 'upBatch hold,hold,hold,release,twice,twice,c', 'nothing overwritten before it was read');
  });
});
