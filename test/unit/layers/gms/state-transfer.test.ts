import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Env } from '../../../../src/core/env.js';
import { silentLogger } from '../../../../src/core/logger.js';
import { Message, MsgFlag } from '../../../../src/core/message.js';
import type { NodeId } from '../../../../src/core/node-id.js';
import type { StateSink, StateSource } from '../../../../src/core/state-stream.js';
import type { View } from '../../../../src/core/view.js';
import { messageFromBytes, messageToBytes } from '../../../../src/codec/message-codec.js';
import { G, GMS_HEADER } from '../../../../src/layers/gms/messages.js';
import { STATE_HEADER } from '../../../../src/layers/gms/state-header.js';
import { StateTransfer, type StateTransferHost, type StateTransferOptions } from '../../../../src/layers/gms/state-transfer.js';

const PROVIDER = 'p:1/1' as NodeId;
const JOINER = 'j:1/1~2' as NodeId;
const STRANGER = 's:1/1' as NodeId;
const VIEW_ID = 7;
const FIRST: View = { group: 'g', id: VIEW_ID, members: [PROVIDER, JOINER] };

const OPTS: StateTransferOptions = {
  retryMs: 60,
  stateChunkBytes: 1024,
  stateWindow: 64,
  stateWindowBytes: 4096,
  maxStateBytes: 1 << 24,
  maxStateChunkBytes: 1 << 16,
};

interface Ack {
  view: number;
  next: number;
}

/**
 * A provider and a joiner wired back to back on one clock. Chunks cross as wire bytes (the
 * header codec included) through `net`, which the test may drop, reorder or duplicate; acks go
 * straight back unless `dropAcks`.
 */
function pair(opts: Partial<StateTransferOptions> = {}, sink?: StateSink) {
  const clock = { now: 0 };
  const env = { now: () => clock.now } as unknown as Env;
  const o = { ...OPTS, ...opts };
  const net: Buffer[] = [];
  const fails: { side: string; message: string }[] = [];
  const drops: string[] = [];
  const controls: { to: NodeId; t: G; body: unknown }[] = [];
  let received: Buffer | null | undefined;
  let completed = 0;
  const s = { dropAcks: false };
  const wired: { provider: StateTransfer | null } = { provider: null };
  const joinerHost: StateTransferHost = {
    env,
    log: silentLogger,
    send: (to, t, body) => {
      controls.push({ to, t, body });
      if (t === G.StateAck && !s.dropAcks) wired.provider!.onAck(JOINER, (body as Ack).view, (body as Ack).next);
      if (t === G.StateFail) fails.push({ side: 'joiner-told', message: String((body as { message: string }).message) });
    },
    down: () => assert.fail('the joiner sends no chunks'),
    complete: (first, state) => {
      assert.equal(first.id, VIEW_ID);
      completed++;
      received = state;
    },
    drop: (_from, reason) => drops.push(reason),
    isMember: (from) => from === PROVIDER || from === JOINER,
    fail: (message) => fails.push({ side: 'joiner', message }),
    openSink: () => sink ?? null,
  };
  const joiner = new StateTransfer(joinerHost, o);
  const providerHost: StateTransferHost = {
    env,
    log: silentLogger,
    send: (to, t, body) => {
      controls.push({ to, t, body });
      if (t === G.StateFail) fails.push({ side: 'provider', message: String((body as { message: string }).message) });
    },
    down: (m) => {
      if (m.dest !== JOINER) return; // another joiner's chunks (a test with two)
      assert.ok(m.flags & MsgFlag.Unreliable, 'chunks need no ordering layer: unreliable unicasts');
      net.push(messageToBytes(m));
    },
    complete: () => assert.fail('the provider completes nothing'),
    drop: (_from, reason) => drops.push(reason),
    isMember: () => true,
    fail: (message) => fails.push({ side: 'provider', message }),
  };
  const provider = new StateTransfer(providerHost, o);
  wired.provider = provider;
  /** Deliver one wire chunk to the joiner, as GMS would (its own header popped). */
  const deliver = (bytes: Buffer, from: NodeId = PROVIDER): void => {
    const m = messageFromBytes(bytes);
    m.src = from;
    assert.equal(m.pop(GMS_HEADER), G.StateChunk);
    joiner.onChunk(from, m);
  };
  /** Deliver everything on the wire, in order, until it is empty; `filter` may drop (false) a chunk. */
  const flow = (filter: (b: Buffer, i: number) => boolean = () => true): number => {
    let i = 0;
    while (net.length > 0) {
      const b = net.shift()!;
      if (filter(b, i++)) deliver(b);
    }
    return i;
  };
  const tick = (ms: number): void => {
    clock.now += ms;
    provider.tick(clock.now, [PROVIDER, JOINER]);
    joiner.tick(clock.now, [PROVIDER, JOINER]);
  };
  return {
    provider,
    joiner,
    net,
    flow,
    deliver,
    tick,
    clock,
    fails,
    drops,
    controls,
    s,
    get received() {
      return received;
    },
    get completed() {
      return completed;
    },
  };
}

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** A chunk forged on the wire: GMS StateChunk over a STATE header with these fields. */
function forged(view: number, offset: number, size: number, payload: Buffer): Buffer {
  const m = new Message(JOINER, payload, MsgFlag.Unreliable);
  m.push(STATE_HEADER, { view, offset, size, ackNow: false });
  m.push(GMS_HEADER, G.StateChunk);
  return messageToBytes(m);
}

describe('StateTransfer: streaming a state to a joiner', () => {
  it('delivers a state of many chunks whole, in one buffer of the announced size', () => {
    const p = pair();
    const state = bytes(100_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    for (let i = 0; i < 200 && p.completed === 0; i++) p.flow();
    assert.equal(p.completed, 1);
    assert.ok(p.received && p.received.equals(state));
    assert.equal(p.received.length, state.length, 'the buffer is exactly the state: no list, no concat');
    assert.equal(p.provider.sending, 0, 'the provider is done once the last byte is acked');
  });

  it('keeps at most the byte window in flight, and sends chunks as views of the snapshot (no copy)', () => {
    const p = pair({ stateChunkBytes: 1024, stateWindowBytes: 4096 });
    const state = bytes(64 * 1024);
    const seen: Message[] = [];
    const host = (p.provider as unknown as { host: StateTransferHost }).host;
    const real = host.down;
    (host as { down: (m: Message) => void }).down = (m) => {
      seen.push(m);
      real(m);
    };
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    assert.equal(p.net.length, 1, 'one chunk until the joiner acks one (it may not be ready)');
    p.deliver(p.net.shift()!);
    assert.equal(p.net.length, 4, 'then four 1 KiB chunks fill a 4 KiB window');
    assert.ok(
      seen.every((m) => m.payload.buffer === state.buffer),
      'every chunk is a view of the snapshot',
    );
  });

  it('sends a piece larger than a chunk as several chunks, and a source of many small pieces whole', () => {
    const big = bytes(5000, 3);
    const small = Array.from({ length: 50 }, (_, i) => bytes(37, i));
    const all = Buffer.concat([big, ...small]);
    const source: StateSource = { size: all.length, open: () => [big, ...small][Symbol.iterator]() };
    const p = pair({ stateChunkBytes: 1024 });
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, source, null);
    for (let i = 0; i < 500 && p.completed === 0; i++) p.flow();
    assert.ok(p.received?.equals(all));
  });

  it('recovers from lost chunks by resending the window from the oldest unacked byte', () => {
    const p = pair();
    const state = bytes(50_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    let lost = 0;
    for (let round = 0; round < 400 && p.completed === 0; round++) {
      p.flow((_b, i) => {
        // Lose every third chunk on the first pass of each window.
        if (i % 3 === 1 && round % 2 === 0) {
          lost++;
          return false;
        }
        return true;
      });
      p.tick(200);
    }
    assert.ok(lost > 0);
    assert.equal(p.completed, 1);
    assert.ok(p.received?.equals(state));
  });

  it('asks a stalled joiner where it is with one chunk, not the window again, and goes on when it reads', () => {
    const p = pair({ stateChunkBytes: 1024, stateWindowBytes: 8192 });
    const state = bytes(40_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    p.deliver(p.net.shift()!); // the first chunk opens the window
    const window = p.net.length;
    assert.ok(window > 2);
    // The joiner reads nothing for a while (a loaded process): the chunks wait on the connection.
    p.tick(OPTS.retryMs * 3 + 1);
    assert.equal(p.net.length, window + 1, 'one chunk more: the oldest unacked, as a probe');
    assert.equal(p.provider.stats.probes, 1);
    assert.equal(p.provider.stats.chunksResent, 1);
    for (let i = 0; i < 100 && p.completed === 0; i++) {
      p.flow();
      p.tick(10);
    }
    assert.equal(p.completed, 1);
    assert.ok(p.received?.equals(state));
    assert.equal(p.provider.stats.chunksResent, 1, 'nothing else went twice: the joiner was slow, nothing was lost');
  });

  it('probes again, rather than sending the window again, a joiner that moves slowly', () => {
    const p = pair({ stateChunkBytes: 1024, stateWindowBytes: 8192 });
    const state = bytes(40_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    p.deliver(p.net.shift()!);
    for (let round = 0; round < 200 && p.completed === 0; round++) {
      // The joiner reads two chunks per long pause: every pause is a timeout at the provider.
      for (let k = 0; k < 2 && p.net.length > 0; k++) p.deliver(p.net.shift()!);
      p.tick(OPTS.retryMs * 3 * 8 + 1);
    }
    assert.equal(p.completed, 1);
    assert.ok(p.received?.equals(state));
    assert.ok(p.provider.stats.probes > 3, 'it was probed');
    assert.equal(p.provider.stats.chunksResent, p.provider.stats.probes, 'only probes went twice: the joiner lost nothing');
  });

  it('sends the window again when probes go unanswered', () => {
    const p = pair({ stateChunkBytes: 1024, stateWindowBytes: 8192 });
    const state = bytes(40_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    p.deliver(p.net.shift()!);
    const window = p.net.splice(0).length; // lost on a connection that broke
    p.tick(OPTS.retryMs * 3 + 1);
    assert.equal(p.net.splice(0).length, 1, 'a probe, lost too');
    p.tick(OPTS.retryMs * 3 * 2 + 1);
    assert.equal(p.net.splice(0).length, 1, 'a second probe (the timeout doubled), lost too');
    p.tick(OPTS.retryMs * 3 * 4 + 1);
    assert.equal(p.net.length, window, 'then the window again');
    for (let i = 0; i < 100 && p.completed === 0; i++) p.flow();
    assert.ok(p.received?.equals(state));
  });

  it('says at once when a chunk comes after a gap, and gets the window again without a timeout', () => {
    const p = pair({ stateChunkBytes: 1024, stateWindowBytes: 8192 });
    const state = bytes(40_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    p.deliver(p.net.shift()!);
    // The window's second chunk is lost: the joiner stops there and drops the rest (out of order).
    p.flow((_b, i) => i !== 1);
    const gaps = p.controls.filter((c) => c.t === G.StateAck && (c.body as Ack).next === 0).length;
    assert.equal(gaps, 2, 'the ready message, and one gap report for the whole rest of the window');
    // The window went again at once: everything completes with no timeout.
    for (let i = 0; i < 100 && p.completed === 0; i++) p.flow();
    assert.equal(p.completed, 1, 'completed without a timeout');
    assert.ok(p.received?.equals(state));
    assert.equal(p.provider.stats.probes, 0);
  });

  it('sends the window again for a gap report once until the ack moves (repeated reports cost nothing)', () => {
    const p = pair({ stateChunkBytes: 1024, stateWindowBytes: 8192 });
    const state = bytes(40_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    p.deliver(p.net.shift()!);
    const window = p.net.splice(0).length;
    p.provider.onAck(JOINER, VIEW_ID, 0);
    assert.equal(p.net.splice(0).length, window, 'the window again');
    for (let i = 0; i < 10; i++) p.provider.onAck(JOINER, VIEW_ID, 0);
    assert.equal(p.net.length, 0, 'nothing more for the same place');
    assert.equal(p.provider.stats.chunksResent, window);
  });

  it('takes reordered and duplicated chunks only in order, once', () => {
    const p = pair({ stateWindowBytes: 8192 });
    const state = bytes(30_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    for (let round = 0; round < 400 && p.completed === 0; round++) {
      const batch = p.net.splice(0);
      // Reverse each window and deliver every chunk twice.
      for (const b of batch.reverse()) {
        p.deliver(b);
        if (p.completed === 0) p.deliver(b);
      }
      p.tick(200);
    }
    assert.equal(p.completed, 1, 'completed once');
    assert.ok(p.received?.equals(state));
  });

  it('resends when acks are lost, and finishes once one gets through', () => {
    const p = pair();
    const state = bytes(20_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.s.dropAcks = true;
    p.provider.provide([JOINER], VIEW_ID, state, null);
    p.flow();
    const firstWindow = p.controls.filter((c) => c.t === G.StateAck).length;
    assert.ok(firstWindow > 0, 'the joiner acked');
    p.tick(300); // the provider heard nothing: it resends its window
    assert.ok(p.net.length > 0, 'the window went out again');
    p.s.dropAcks = false;
    for (let i = 0; i < 200 && p.completed === 0; i++) {
      p.flow();
      p.tick(200);
    }
    assert.ok(p.received?.equals(state));
  });

  it('transfers an empty state as one empty chunk, and the provider finishes on its ack', () => {
    const p = pair();
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, null, null);
    assert.equal(p.net.length, 1);
    p.flow();
    assert.equal(p.completed, 1);
    assert.equal(p.received?.length, 0);
    assert.equal(p.provider.sending, 0);
  });

  it('says it is ready before its first chunk, which ends no transfer and brings a lost first chunk again', () => {
    const p = pair();
    p.provider.provide([JOINER], VIEW_ID, null, null);
    p.net.length = 0; // the empty chunk arrived before the joiner knew of the transfer
    p.joiner.expect(FIRST, PROVIDER);
    assert.deepEqual(
      p.controls.filter((c) => c.t === G.StateAck).map((c) => c.body),
      [{ view: VIEW_ID, next: 0 }],
    );
    assert.equal(p.provider.sending, 1, 'a ready ack ends nothing');
    assert.equal(p.net.length, 1, 'the first chunk went again at once');
    p.flow();
    assert.equal(p.completed, 1);
    assert.equal(p.provider.sending, 0);
  });

  it('asks for acks often enough when its window is counted in chunks (small chunks, large byte window)', () => {
    const p = pair({ stateChunkBytes: 1024, stateWindow: 8, stateWindowBytes: 1 << 20 });
    const state = bytes(200_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    // No time passes: only acks the provider asked for can keep it going.
    for (let i = 0; i < 1000 && p.completed === 0 && p.net.length > 0; i++) p.flow();
    assert.equal(p.completed, 1, 'finished without a single resend timeout');
    assert.equal(p.provider.stats.chunksResent, 0);
  });

  it('streams into an application sink as the bytes arrive, and never allocates the whole state', () => {
    const parts: Buffer[] = [];
    let finished = 0;
    const sink: StateSink = {
      write: (c) => parts.push(c),
      finish: () => finished++,
      abort: () => assert.fail('not aborted'),
    };
    const p = pair({}, sink);
    const state = bytes(40_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    for (let i = 0; i < 200 && p.completed === 0; i++) p.flow();
    assert.equal(finished, 1);
    assert.equal(p.received, null, 'nothing gathered: the sink took it');
    assert.ok(Buffer.concat(parts).equals(state));
    assert.ok(parts.every((c) => c.length <= OPTS.stateChunkBytes));
  });

  it('fails the join when the sink refuses a chunk or the finish, and tells the sink to abort', () => {
    const aborts: string[] = [];
    const sink: StateSink = {
      write: () => {
        throw new Error('disk full');
      },
      finish: () => {},
      abort: (r) => aborts.push(r),
    };
    const p = pair({}, sink);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, bytes(5000), null);
    p.flow();
    assert.equal(p.completed, 0);
    assert.match(p.fails[0]?.message ?? '', /disk full/);
    assert.equal(aborts.length, 1);
    assert.equal(p.joiner.receiving, false);
  });

  it('tells an open sink to abort when the transfer is abandoned (the provider failed)', () => {
    const aborts: string[] = [];
    const sink: StateSink = { write: () => {}, finish: () => assert.fail('no finish'), abort: (r) => aborts.push(r) };
    const p = pair({}, sink);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, bytes(50_000), null);
    p.deliver(p.net.shift()!);
    assert.ok(p.joiner.receiving);
    p.joiner.abandon('provider gone');
    assert.deepEqual(aborts, ['provider gone']);
  });

  it('reports a provider that stops making progress, or leaves the view, as lost', () => {
    const p = pair();
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, bytes(50_000), null);
    p.deliver(p.net.shift()!);
    assert.equal(p.joiner.providerLost(p.clock.now + 100, [PROVIDER, JOINER], 3000), false);
    assert.equal(p.joiner.providerLost(p.clock.now + 3001, [PROVIDER, JOINER], 3000), true, 'silent too long');
    assert.equal(p.joiner.providerLost(p.clock.now + 100, [JOINER], 3000), true, 'out of the view');
  });

  it('stops streaming to a joiner that left the view, and releases the snapshot', () => {
    let released = 0;
    const state = bytes(50_000);
    const source: StateSource = { size: state.length, open: () => [state][Symbol.iterator](), release: () => released++ };
    const p = pair();
    p.provider.provide([JOINER], VIEW_ID, source, null);
    assert.equal(p.provider.sending, 1);
    p.provider.tick(1000, [PROVIDER]);
    assert.equal(p.provider.sending, 0);
    assert.equal(released, 1);
  });

  it('releases a snapshot shared by two joiners once both are done', () => {
    let released = 0;
    let opened = 0;
    const state = bytes(3000);
    const source: StateSource = {
      size: state.length,
      open: () => {
        opened++;
        return [state][Symbol.iterator]();
      },
      release: () => released++,
    };
    const p = pair();
    const J2 = 'k:1/1' as NodeId;
    p.provider.provide([JOINER, J2], VIEW_ID, source, null);
    assert.equal(opened, 2, 'read once per joiner');
    p.provider.onAck(JOINER, VIEW_ID, 1); // the first chunk (all of it) opens the window
    p.provider.onAck(J2, VIEW_ID, 1);
    p.provider.onAck(JOINER, VIEW_ID, state.length + 1);
    assert.equal(released, 0);
    p.provider.onAck(J2, VIEW_ID, state.length + 1);
    assert.equal(released, 1);
  });

  it('tells the joiner when the source yields fewer bytes than it announced, or throws', () => {
    const p = pair();
    const short: StateSource = { size: 10_000, open: () => [bytes(3000)][Symbol.iterator]() };
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, short, null);
    for (let i = 0; i < 20; i++) p.flow();
    assert.match(p.fails.find((f) => f.side === 'provider')?.message ?? '', /ended after 3000 of the 10000 bytes/);
    assert.equal(p.provider.sending, 0);
    const q = pair();
    const broken: StateSource = {
      size: 10,
      open: () => ({
        next: () => {
          throw new Error('disk error');
        },
      }),
    };
    q.provider.provide([JOINER], VIEW_ID, broken, null);
    assert.match(q.fails[0]?.message ?? '', /disk error/);
  });

  it('fails the join at the first chunk of a state over maxStateBytes, before storing anything', () => {
    let opened = 0;
    const p = pair({ maxStateBytes: 10_000 });
    (p.joiner as unknown as { host: StateTransferHost }).host.openSink = () => {
      opened++;
      return null;
    };
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, bytes(10_001), null);
    p.deliver(p.net.shift()!);
    assert.match(p.fails[0]?.message ?? '', /larger than maxStateBytes/);
    assert.equal(opened, 0, 'nothing was opened for it');
    assert.equal(p.joiner.receiving, false);
    assert.ok(p.drops.includes('state over maxStateBytes'));
  });

  it('drops chunks from a stranger, chunks without a header, and chunks with impossible fields, and still completes', () => {
    const p = pair();
    const state = bytes(5000);
    p.joiner.expect(FIRST, PROVIDER);
    // A well-formed chunk claiming the whole state, from someone else.
    p.deliver(forged(VIEW_ID, 0, 5, Buffer.from('evil!')), STRANGER);
    // From the provider's address but malformed: past the declared size, over the chunk cap, an
    // empty chunk of a non-empty state, no STATE header at all.
    p.deliver(forged(VIEW_ID, 4990, 5000, bytes(20)));
    p.deliver(forged(VIEW_ID, 0, 1 << 20, bytes((1 << 16) + 1)));
    p.deliver(forged(VIEW_ID, 0, 5000, Buffer.alloc(0)));
    const bare = new Message(JOINER, bytes(10), MsgFlag.Unreliable);
    bare.push(GMS_HEADER, G.StateChunk);
    p.deliver(messageToBytes(bare));
    assert.equal(p.joiner.receiving, true, 'none of them counted as the state');
    assert.deepEqual(p.drops, [
      'state chunk not from the state provider',
      'malformed state chunk',
      'malformed state chunk',
      'malformed state chunk',
      'state chunk without its header',
    ]);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    for (let i = 0; i < 50 && p.completed === 0; i++) p.flow();
    assert.ok(p.received?.equals(state));
  });

  it('drops a chunk whose size differs from the size the first chunk announced', () => {
    const p = pair();
    p.joiner.expect(FIRST, PROVIDER);
    p.deliver(forged(VIEW_ID, 0, 5000, bytes(1000)));
    p.deliver(forged(VIEW_ID, 1000, 900_000, bytes(1000)));
    assert.deepEqual(p.drops, ['malformed state chunk']);
  });

  it('ignores chunks of another view (an earlier attempt) without counting them', () => {
    const p = pair();
    p.joiner.expect(FIRST, PROVIDER);
    p.deliver(forged(VIEW_ID - 1, 0, 10, bytes(10)));
    assert.deepEqual(p.drops, []);
    assert.equal(p.completed, 0);
  });

  it('drops an ack past what was sent', () => {
    const p = pair();
    p.provider.provide([JOINER], VIEW_ID, bytes(100_000), null);
    p.provider.onAck(JOINER, VIEW_ID, 90_000);
    assert.deepEqual(p.drops, ['state ack past what was sent']);
    assert.equal(p.provider.sending, 1);
  });

  it('clamps its chunks to what the layers below carry in one message', () => {
    const p = pair({ stateChunkBytes: 1 << 20, stateWindowBytes: 1 << 22 });
    (p.provider as unknown as { host: StateTransferHost }).host.maxPayloadBytes = () => 2000;
    const state = bytes(100_000);
    p.joiner.expect(FIRST, PROVIDER);
    p.provider.provide([JOINER], VIEW_ID, state, null);
    const sizes: number[] = [];
    for (let i = 0; i < 500 && p.completed === 0; i++) p.flow((b) => sizes.push(messageFromBytes(b).payload.length) > 0);
    assert.ok(p.received?.equals(state));
    assert.ok(sizes.length >= 50 && sizes.every((n) => n <= 2000), `chunk sizes ${sizes.slice(0, 4).join(' ')}`);
  });
  it('keeps a snapshot shared by two joiners when the transfer to the first fails at once', () => {
    let released = 0;
    let opened = 0;
    const source: StateSource = {
      size: 3000,
      open: () => {
        opened++;
        // The first joiner's reader ends at once (fewer bytes than announced); the second's is whole.
        return (opened === 1 ? [] : [bytes(3000)])[Symbol.iterator]();
      },
      release: () => released++,
    };
    const p = pair({ stateChunkBytes: 4096 }); // one chunk holds the whole state
    p.provider.provide(['k:1/1' as NodeId, JOINER], VIEW_ID, source, null);
    assert.equal(released, 0, 'the second joiner still reads it');
    assert.equal(p.provider.sending, 1);
    p.provider.onAck(JOINER, VIEW_ID, 3001);
    assert.equal(released, 1);
  });
});
