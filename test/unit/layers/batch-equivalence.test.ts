import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CAUSAL, CAUSAL_HEADER } from '../../../src/layers/CAUSAL.js';
import { NAK, NAK_HEADER } from '../../../src/layers/NAK.js';
import { STABLE, STABLE_HEADER } from '../../../src/layers/STABLE.js';
import { Message, MsgFlag, OrderCode } from '../../../src/core/message.js';
import type { Env } from '../../../src/core/env.js';
import type { DownEvent } from '../../../src/core/events.js';
import type { Layer } from '../../../src/stack/layer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';
import { stubLink } from '../../helpers/layer-link.js';

// A layer's own upBatch (the in-place fast path) must hand the layers above exactly what `up`, one
// message at a time, would: the same messages in the same order, the same state afterwards.

const MEMBERS = ['a', 'b', 'c'];
const env = { now: () => 0, setTimer: () => ({ cancel: () => {} }), defer: () => {}, transport: {} } as unknown as Env;
const ctx = (me: string) => ({ env, group: 'g', localId: me, log: silentLogger, metrics: new MemoryMetrics() });

function wire<L extends Layer>(layer: L): { layer: L; delivered: Message[]; sent: Message[] } {
  const delivered: Message[] = [];
  const sent: Message[] = [];
  layer.above = stubLink({ up: (m) => delivered.push(m), upBatch: (b) => delivered.push(...b) });
  // A digest asked of the layer below (STABLE's gossip) says how many were asked before it: gossips are told apart by it.
  let asked = 0;
  const downEvent = (ev: DownEvent): void => {
    if (ev.type === 'GET_DIGEST') ev.digest = new Map([['a', ++asked]]);
  };
  layer.below = stubLink({ down: (m) => sent.push(m), downBatch: (b) => sent.push(...b), downEvent });
  layer.downEvent({ type: 'VIEW', view: { group: 'g', id: 1, members: MEMBERS } });
  return { layer, delivered, sent };
}

/** Feed `make()`'s messages to one layer one by one and to another in the given chunks; compare. */
function feedBoth<L extends Layer>(mk: () => L, make: () => Message[], chunks: number[]): [ReturnType<typeof wire<L>>, ReturnType<typeof wire<L>>] {
  const single = wire(mk());
  for (const m of make()) single.layer.up(m);
  const batched = wire(mk());
  const msgs = make();
  let at = 0;
  for (let k = 0; at < msgs.length; k++) {
    const n = Math.max(1, chunks[k % chunks.length] ?? 1);
    batched.layer.upBatch(msgs.slice(at, at + n));
    at += n;
  }
  return [single, batched];
}

const chunksArb = fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 });

describe('batch fast paths hand up what one-by-one handling would', () => {
  it('CAUSAL: ready, waiting, own, plain, flagged and broken messages in any batching', () => {
    const msgArb = fc.record(
      {
        src: fc.constantFrom('a', 'b', 'c', 'z'),
        plain: fc.boolean(),
        /** With no deps: sent as senders send it, flagged causal without a header. */
        flagged: fc.boolean(),
        deps: fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 })), { maxLength: 3 }),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(fc.array(msgArb, { maxLength: 60 }), chunksArb, (specs, chunks) => {
        const make = (): Message[] =>
          specs.map((s, i) => {
            const m = new Message(null, Buffer.from(`${i}`));
            m.src = s.src;
            if (!s.plain && s.flagged && s.deps.length === 0) m.flags |= MsgFlag.Causal;
            else if (!s.plain) m.push(CAUSAL_HEADER, s.deps.flat());
            return m;
          });
        const [one, many] = feedBoth(() => new CAUSAL(ctx('a'), { maxHeldBytesPerSender: 1 << 20, holdReads: true }), make, chunks);
        assert.deepEqual(
          many.delivered.map((m) => m.payload.toString()),
          one.delivered.map((m) => m.payload.toString()),
        );
        // The same vector afterwards: the next causal send names the same entries with the same counts.
        for (const side of [one, many]) {
          const m = new Message(null, Buffer.from('next'));
          m.order = OrderCode.Causal;
          side.layer.down(m);
        }
        const deps = (m: Message): number[][] => {
          const d = [...(m.peek(CAUSAL_HEADER) ?? [])]; // none: flagged instead
          const pairs: number[][] = [];
          for (let i = 0; i < d.length; i += 2) pairs.push([d[i]!, d[i + 1]!]);
          return pairs.sort((x, y) => x[0]! - y[0]!);
        };
        assert.deepEqual(deps(many.sent.at(-1)!), deps(one.sent.at(-1)!));
      }),
      { numRuns: 300 },
    );
  });

  it('NAK: in-order, early, duplicate, own, other-view and unsequenced messages in any batching', () => {
    const msgArb = fc.record(
      {
        src: fc.constantFrom('a', 'b', 'c', 'z'),
        // none: unsequenced (passed on); bare: a reliable multicast without a NAK header (dropped); unicast: passed on.
        kind: fc.constantFrom('data', 'data', 'data', 'data', 'high', 'none', 'bare', 'unicast'),
        seq: fc.integer({ min: 0, max: 8 }),
        view: fc.constantFrom(1, 1, 1, 1, 0, 2),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(fc.array(msgArb, { maxLength: 60 }), chunksArb, (specs, chunks) => {
        const make = (): Message[] =>
          specs.map((s, i) => {
            const flags = s.kind === 'data' || s.kind === 'bare' ? MsgFlag.Multicast : s.kind === 'unicast' ? 0 : MsgFlag.Multicast | MsgFlag.Unreliable;
            // The payload is a view into the message's encoding, as when it arrives in a frame (NAK copies that encoding when it holds a message early).
            const enc = Buffer.from(`hdr:${i}`);
            const m = new Message(null, enc.subarray(4), flags);
            m.src = s.src;
            // A data header as a sender makes it or the decoder gives it (the view's record, the number in `seq`), or by hand with its number.
            if (s.kind === 'data' && i % 2 === 0) {
              m.seq = s.seq;
              m.push(NAK_HEADER, { t: 1, view: s.view });
            } else if (s.kind === 'data') m.push(NAK_HEADER, { t: 1, view: s.view, seq: s.seq });
            else if (s.kind === 'high') m.push(NAK_HEADER, { t: 4, view: s.view, seq: s.seq });
            m.wire = enc;
            m.wireStart = 0;
            m.wireEnd = enc.length;
            return m;
          });
        const mk = (): NAK =>
          new NAK(ctx('a'), {
            xmitIntervalMs: 20,
            maxXmitBatch: 1024,
            askOthersAfter: 3,
            maxXmitBytes: 1 << 20,
            maxEarlyBytesPerSender: 1 << 20,
            maxEarlyAhead: 6,
            maxFutureBytes: 1 << 20,
            maxFutureBytesPerPeer: 1 << 20,
            maxFutureMessages: 100,
          });
        const [one, many] = feedBoth(mk, make, chunks);
        const seen = (side: typeof one): string[] => side.delivered.map((m) => `${m.src}:${m.payload.toString()}:${m.seq}`);
        assert.deepEqual(seen(many), seen(one));
        const digest = (side: typeof one): unknown => {
          const ev: DownEvent = { type: 'GET_DIGEST', digest: null };
          side.layer.downEvent(ev);
          return [...(ev.digest ?? new Map<string, number>())];
        };
        assert.deepEqual(digest(many), digest(one));
        assert.equal(many.sent.length, one.sent.length, 'the same retransmission requests');
      }),
      { numRuns: 300 },
    );
  });
  it('STABLE: data messages (gossip by bytes among them), digests and unreliable ones in any batching', () => {
    const msgArb = fc.record(
      {
        src: fc.constantFrom('a', 'b', 'c', 'z'),
        kind: fc.constantFrom('data', 'data', 'data', 'data', 'unreliable', 'digest'),
        bytes: fc.integer({ min: 0, max: 40 }),
        seq: fc.integer({ min: 0, max: 8 }),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(fc.array(msgArb, { maxLength: 60 }), chunksArb, (specs, chunks) => {
        const make = (): Message[] =>
          specs.map((s, i) => {
            const m = new Message(null, Buffer.alloc(s.bytes, i), s.kind === 'unreliable' ? MsgFlag.Multicast | MsgFlag.Unreliable : MsgFlag.Multicast);
            m.src = s.src;
            if (s.kind === 'digest')
              m.push(STABLE_HEADER, {
                view: 1,
                entries: MEMBERS.map((id): [string, number] => [id, s.seq]),
              });
            return m;
          });
        // Gossip by bytes every 64 bytes: several times in most sequences.
        const mk = (): STABLE => new STABLE(ctx('a'), { gossipIntervalMs: 50, maxBytes: 64, aggregateFrom: 16, idleEvery: 10, idleBackoff: 8 });
        const [one, many] = feedBoth(mk, make, chunks);
        const seen = (side: typeof one): string[] => side.delivered.map((m) => `${m.src}:${m.payload.length}:${m.payload[0] ?? -1}`);
        assert.deepEqual(seen(many), seen(one));
        // The same gossips, with the same digests, in the same order.
        const gossips = (side: typeof one): unknown[] => side.sent.map((m) => m.peek(STABLE_HEADER));
        assert.deepEqual(gossips(many), gossips(one));
      }),
      { numRuns: 300 },
    );
  });
});
