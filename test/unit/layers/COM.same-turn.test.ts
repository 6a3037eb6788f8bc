import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Env, Transport } from '../../../src/core/env.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message, MsgFlag } from '../../../src/core/message.js';
import type { Metrics } from '../../../src/core/metrics.js';
import { SeededRng } from '../../../src/core/rng.js';
import { COM } from '../../../src/layers/COM.js';
import type { LayerLink } from '../../../src/stack/layer.js';
import type { DownEvent, UpEvent } from '../../../src/core/events.js';

const metrics: Metrics = { counter: () => ({ inc: () => {} }), gauge: () => ({ set: () => {} }) };

/** A COM between a recording transport (whose sends say whether the bytes were given away) and a scripted layer above. */
function rig() {
  const sends: { to: string; bytes: number; owned: boolean; frame: Uint8Array }[] = [];
  const deferred: (() => void)[] = [];
  const transport: Transport = {
    localId: 'a:1/1',
    maxFrameSize: 16 * 1024 * 1024,
    send: (to, frame, owned) => sends.push({ to, bytes: frame.length, owned: owned === true, frame }),
    onFrame: () => {},
    onPeer: () => {},
    close: () => Promise.resolve(),
  };
  const env: Env = {
    transport,
    log: silentLogger,
    rng: new SeededRng(1),
    now: () => 0,
    setTimer: () => ({ cancel: () => {} }),
    defer: (fn) => deferred.push(fn),
    watchPeers: () => () => {},
  } as Env;
  const com = new COM({ env, group: 'g', localId: 'a:1', log: silentLogger, metrics }, { batchBytes: 60 * 1024 });
  const upcalls: Message[][] = [];
  let onUp: (batch: Message[]) => void = () => {};
  const above: LayerLink = {
    down: () => {},
    up: (m) => above.upBatch([m]),
    downEvent: (_ev: DownEvent) => {},
    upEvent: (_ev: UpEvent) => {},
    upBatch: (b) => {
      upcalls.push([...b]);
      onUp(b);
    },
    downBatch: () => {},
  };
  com.above = above;
  com.downEvent({ type: 'VIEW', view: { group: 'g', id: 1, members: ['a:1', 'b:1', 'c:1'] } });
  return {
    com,
    sends,
    deferred,
    upcalls,
    setOnUp: (f: (b: Message[]) => void) => (onUp = f),
    runDeferred: () => {
      for (const fn of deferred.splice(0)) fn();
    },
  };
}

describe('COM flush', () => {
  it('sends what its own copies make the layers send in the same turn, after the frame that carried them', () => {
    const r = rig();
    let answered = 0;
    // Like the sequencer: its own copy coming up makes it send an announcement at once.
    r.setOnUp((b) => {
      if (b.some((m) => m.payload.toString() === 'data') && answered++ === 0) r.com.down(new Message(null, Buffer.from('order')));
    });
    r.com.down(new Message(null, Buffer.from('data')));
    assert.equal(r.deferred.length, 1);
    r.runDeferred();
    // One turn: the data's frame to both others, then the order's frame to both, and both copies up.
    assert.equal(r.sends.length, 4);
    assert.deepEqual(
      r.upcalls.map((b) => b.map((m) => m.payload.toString())),
      [['data'], ['order']],
    );
    // The deferred flush the order's send scheduled finds nothing left.
    r.runDeferred();
    assert.equal(r.sends.length, 4);
  });

  it('goes only a few rounds deep in one turn: a layer that answers every own copy is flushed a turn later', () => {
    const r = rig();
    let n = 0;
    r.setOnUp(() => r.com.down(new Message(null, Buffer.from(`m${++n}`))));
    r.com.down(new Message(null, Buffer.from('m0')));
    r.runDeferred();
    const firstTurn = r.upcalls.length;
    assert.ok(firstTurn >= 2 && firstTurn <= 3, `${firstTurn} rounds`);
    assert.equal(r.deferred.length, 1, 'the rest waits for the next turn');
    r.runDeferred();
    assert.ok(r.upcalls.length > firstTurn);
  });

  it('gives a frame of reliable multicasts away (one buffer for every member and the keeper), and keeps unreliable ones', () => {
    const r = rig();
    const reliable = new Message(null, Buffer.alloc(40_000, 1));
    r.com.down(reliable);
    r.com.down(new Message(null, Buffer.alloc(40_000, 2)));
    r.runDeferred();
    const gossip = new Message(null, Buffer.alloc(10), MsgFlag.Multicast | MsgFlag.Unreliable);
    r.com.down(gossip);
    r.runDeferred();
    const [f1, f2, f3, f4, g1, g2] = r.sends;
    assert.ok(f1!.owned && f2!.owned && f3!.owned && f4!.owned, 'reliable frames given away');
    assert.equal(f1!.frame, f2!.frame, 'the same bytes for every member');
    assert.equal(reliable.wire!.buffer, (f1!.frame as Buffer).buffer, 'the keeper holds a view of the same bytes');
    assert.ok(!g1!.owned && !g2!.owned, 'an unreliable frame is the builder’s: copied by the transport');
  });

  it('hands a large unicast (a state chunk) over to the transport instead of copying it', () => {
    const r = rig();
    r.com.down(new Message('b:1', Buffer.alloc(1024 * 1024, 3)));
    r.com.down(new Message('c:1', Buffer.alloc(100, 4)));
    r.runDeferred();
    const big = r.sends.find((s) => s.to === 'b:1')!;
    const small = r.sends.find((s) => s.to === 'c:1')!;
    assert.ok(big.owned && big.bytes > 1024 * 1024);
    assert.ok(!small.owned);
  });
});
