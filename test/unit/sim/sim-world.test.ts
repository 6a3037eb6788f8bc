import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { every } from '../../../src/core/env.js';
import type { PeerEvent } from '../../../src/core/env.js';
import { SimWorld, type SimNode, type SimWorldOptions } from '../../../src/sim/sim-world.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Collects every frame a node receives as `from: text`. */
function recorder(node: SimNode): string[] {
  const got: string[] = [];
  node.env.transport.onFrame((from, frame) => got.push(`${from}: ${dec(frame)}`));
  return got;
}

/** A chatty workload under every kind of fault, driven only by the seed. */
function chaosRun(seed: number): { hash: string; world: SimWorld } {
  const world = new SimWorld(seed, { loss: 0.05, duplicate: 0.05, jitterMs: 3, breakProbability: 0.01 });
  const endpoints = ['n1:7000', 'n2:7000', 'n3:7000', 'n4:7000', 'n5:7000'];
  const start = (node: SimNode): void => {
    const { env } = node;
    let n = 0;
    env.transport.onFrame((from, frame) => {
      world.trace('app-recv', `${node.id} ${from} ${dec(frame)}`);
      if (env.rng.chance(0.3)) env.transport.send(from, enc(`re:${dec(frame)}`));
    });
    env.transport.onPeer((ev) => world.trace('app-peer', `${node.id} ${ev.type} ${ev.peer}`));
    every(env, 5 + env.rng.int(0, 5), () => {
      const to = endpoints[env.rng.int(0, endpoints.length - 1)]!;
      env.transport.send(to, enc(`${node.id}#${n++}`));
      env.defer(() => world.trace('app-defer', `${node.id} ${env.now()}`));
    });
  };
  for (const ep of endpoints) start(world.addNode(ep, 'a'));
  const nemesis = world.rng;
  let inc = 0;
  for (let round = 0; round < 30; round++) {
    world.runFor(50);
    const live = world.liveNodes();
    const victim = live[nemesis.int(0, live.length - 1)]!;
    switch (nemesis.int(0, 4)) {
      case 0:
        world.partition([endpoints.slice(0, nemesis.int(1, 4))]);
        break;
      case 1:
        world.heal();
        break;
      case 2:
        world.pause(victim.id);
        world.scheduler.schedule(nemesis.int(1, 80), () => world.resume(victim.id));
        break;
      case 3:
        world.crash(victim.id);
        start(world.restart(victim.endpoint, `r${inc++}`));
        break;
      default:
        world.isolate(victim.endpoint);
    }
  }
  world.heal();
  world.runFor(200);
  return { hash: world.traceHash(), world };
}

describe('SimWorld determinism', () => {
  it('same seed -> identical trace hash under loss, dup, jitter, breaks, partitions, pause, crash', () => {
    const a = chaosRun(42);
    const b = chaosRun(42);
    assert.equal(a.hash, b.hash);
    assert.deepEqual(a.world.stats, b.world.stats);
    // The run really exercised the faults.
    const s = a.world.stats;
    assert.ok(s.delivered > 500, `delivered ${s.delivered}`);
    assert.ok(s.duplicated > 0 && s.dropReasons.loss > 0 && s.heldAcrossCut > 0 && s.held > 0);
    assert.ok(s.dropReasons.reset > 0, 'link breaks lost in-flight frames');
  });

  it('different seeds -> different trace hashes', () => {
    const hashes = new Set([1, 2, 3, 4].map((seed) => chaosRun(seed).hash));
    assert.equal(hashes.size, 4);
  });

  it('copies frames at send: the sender may reuse its buffer', () => {
    const world = new SimWorld(1);
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const got = recorder(b);
    const buf = enc('hello');
    a.env.transport.send(b.id, buf);
    buf.fill(0);
    world.runUntilIdle();
    assert.deepEqual(got, ['a:1/x: hello']);
  });
});

describe('SimWorld network', () => {
  it('FIFO links never reorder, even with large jitter', () => {
    const world = new SimWorld(7, { delayMs: 1, jitterMs: 50, fifo: true });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const got = recorder(b);
    for (let i = 0; i < 500; i++) world.scheduler.schedule(i * 0.1, () => a.env.transport.send(b.id, enc(String(i))));
    world.runUntilIdle();
    assert.deepEqual(
      got.map((l) => Number(l.split(': ')[1])),
      Array.from({ length: 500 }, (_, i) => i),
    );
  });

  it('non-FIFO links may reorder under jitter', () => {
    const world = new SimWorld(7, { delayMs: 1, jitterMs: 50, fifo: false });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const got = recorder(b);
    for (let i = 0; i < 100; i++) a.env.transport.send(b.id, enc(String(i)));
    world.runUntilIdle();
    assert.equal(got.length, 100);
    const nums = got.map((l) => Number(l.split(': ')[1]));
    assert.notDeepEqual(
      nums,
      [...nums].sort((x, y) => x - y),
    );
  });

  it('loss and duplication are counted', () => {
    const world = new SimWorld(3, { loss: 0.2, duplicate: 0.2 });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const got = recorder(b);
    for (let i = 0; i < 1000; i++) a.env.transport.send(b.id, enc(String(i)));
    world.runUntilIdle();
    const s = world.stats;
    assert.equal(s.sent, 1000);
    assert.ok(s.dropReasons.loss > 100 && s.dropReasons.loss < 300);
    assert.ok(s.duplicated > 100 && s.duplicated < 300);
    assert.equal(got.length, s.delivered);
    assert.equal(s.delivered, 1000 - s.dropped + s.duplicated);
  });

  it('setNetwork validates; world.net is live', () => {
    const world = new SimWorld(1);
    assert.throws(() => world.setNetwork({ loss: 2 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new SimWorld(1, { delayMs: -1 }), { code: 'ERR_INVALID_ARGUMENT' });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const got = recorder(b);
    world.net.loss = 1;
    a.env.transport.send(b.id, enc('lost'));
    world.setNetwork({ loss: 0, delayMs: 10, jitterMs: 0 });
    a.env.transport.send(b.id, enc('kept'));
    world.runUntilIdle();
    assert.deepEqual(got, ['a:1/x: kept']);
    assert.equal(world.now(), 10);
  });

  it('rejects frames larger than maxFrameSize', () => {
    const world = new SimWorld(1);
    const a = world.addNode('a:1', 'x');
    assert.equal(a.env.transport.maxFrameSize, 16 * 1024 * 1024);
    assert.throws(() => a.env.transport.send('b:1', new Uint8Array(16 * 1024 * 1024 + 1)), {
      code: 'ERR_FRAME_TOO_LARGE',
    });
  });

  it('a bare endpoint reaches the current incarnation; a stale full id is dropped', () => {
    const world = new SimWorld(1);
    const a = world.addNode('a:1', 'x');
    const old = world.addNode('b:1', 'old');
    recorder(old);
    const fresh = world.restart('b:1', 'new');
    assert.equal(old.status, 'crashed');
    const got = recorder(fresh);
    a.env.transport.send('b:1/old', enc('to-old'));
    a.env.transport.send('b:1/new', enc('to-new'));
    a.env.transport.send('b:1', enc('to-endpoint'));
    a.env.transport.send('c:1', enc('nobody'));
    world.runUntilIdle();
    assert.deepEqual(got, ['a:1/x: to-new', 'a:1/x: to-endpoint']);
    assert.equal(world.stats.dropReasons.stale, 1);
    assert.equal(world.stats.dropReasons.unreachable, 1);
    assert.throws(() => world.addNode('b:1', 'new2'), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => world.addNode('b:1', 'old'), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('SimWorld faults', () => {
  it('pause holds timers and frames; resume runs them in order and the clock has jumped', () => {
    const world = new SimWorld(1, { jitterMs: 0, delayMs: 1 });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const events: string[] = [];
    b.env.transport.onFrame((_from, f) => events.push(`frame ${dec(f)} @${b.env.now()}`));
    b.env.setTimer(5, () => events.push(`timer5 @${b.env.now()}`));
    b.env.setTimer(50, () => events.push(`timer50 @${b.env.now()}`));
    const cancelled = b.env.setTimer(6, () => events.push('cancelled timer ran'));
    world.runUntil(2);
    world.pause(b.id);
    assert.equal(b.status, 'paused');
    a.env.transport.send(b.id, enc('f1')); // arrives at 3, held
    world.scheduler.schedule(5, () => a.env.transport.send(b.id, enc('f2'))); // arrives at 8, held
    world.runUntil(7);
    cancelled.cancel(); // cancelled while held: must not run on resume
    world.runUntil(20);
    assert.deepEqual(events, []);
    assert.ok(world.stats.held >= 2);
    world.resume(b.id);
    world.runUntil(30);
    assert.deepEqual(events, ['frame f1 @20', 'timer5 @20', 'frame f2 @20']);
    world.runUntilIdle();
    assert.deepEqual(events.at(-1), 'timer50 @50');
    assert.equal(world.stats.dropped, 0);
  });

  it("a read hold leaves a sender's frames unread, in order, while another's arrive, and they are read soon after it is lifted", () => {
    const world = new SimWorld(1, { jitterMs: 0, delayMs: 1, maxReadHoldMs: 1000 });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const c = world.addNode('c:1', 'x');
    const got = recorder(c);
    const holder = {};
    c.env.transport.holdReads!(a.id, holder, true);
    for (let i = 0; i < 3; i++) a.env.transport.send(c.id, enc(`a${i}`));
    b.env.transport.send(c.id, enc('b0'));
    world.runUntil(50);
    assert.deepEqual(got, ['b:1/x: b0']);
    assert.equal(world.stats.readHeld, 3);
    c.env.transport.holdReads!(a.id, holder, false);
    assert.deepEqual(got, ['b:1/x: b0'], 'not read inside the call that lifted the hold');
    world.runUntil(51);
    assert.deepEqual(got, ['b:1/x: b0', 'a:1/x: a0', 'a:1/x: a1', 'a:1/x: a2']);
  });

  it('a read hold keeps frames unread at most maxReadHoldMs at a stretch, and ends with the receiver', () => {
    const world = new SimWorld(1, { jitterMs: 0, delayMs: 1, maxReadHoldMs: 20 });
    const a = world.addNode('a:1', 'x');
    const c = world.addNode('c:1', 'x');
    const got = recorder(c);
    c.env.transport.holdReads!(a.id, {}, true); // never lifted
    a.env.transport.send(c.id, enc('first')); // lands at 1, unread until the pause ends at 20
    world.scheduler.schedule(30, () => a.env.transport.send(c.id, enc('free'))); // lands at 31: read at once
    world.scheduler.schedule(45, () => a.env.transport.send(c.id, enc('again'))); // lands at 46: paused again (40-60)
    world.runUntil(19);
    assert.deepEqual(got, []);
    world.runUntil(21);
    assert.deepEqual(got, ['a:1/x: first']);
    world.runUntil(59);
    assert.deepEqual(got, ['a:1/x: first', 'a:1/x: free']);
    world.runUntil(61);
    assert.deepEqual(got, ['a:1/x: first', 'a:1/x: free', 'a:1/x: again']);
    world.crash(c.id);
    world.runUntilIdle(); // a standing hold of a crashed receiver schedules nothing for ever
  });

  it('work held by a pause is discarded if the node crashes', () => {
    const world = new SimWorld(1);
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const got = recorder(b);
    let fired = false;
    b.env.setTimer(1, () => (fired = true));
    world.pause(b.id);
    a.env.transport.send(b.id, enc('x'));
    world.runFor(10);
    world.crash(b.id);
    world.resume(b.id); // no-op on a crashed node
    world.runUntilIdle();
    assert.deepEqual(got, []);
    assert.equal(fired, false);
  });

  it('crash discards timers and frames in flight to the node, and its sends stop', () => {
    const world = new SimWorld(1, { delayMs: 5, jitterMs: 0 });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const gotA = recorder(a);
    const gotB = recorder(b);
    let ticks = 0;
    every(b.env, 1, () => {
      ticks++;
      b.env.transport.send(a.id, enc(`tick${ticks}`));
    });
    a.env.transport.send(b.id, enc('in flight'));
    world.runUntil(2.5); // b ticked at 1 and 2; a's frame is in flight until 5
    world.crash(b.id);
    assert.equal(b.status, 'crashed');
    world.runUntilIdle();
    assert.equal(ticks, 2);
    assert.deepEqual(gotB, []);
    assert.equal(world.stats.dropReasons.dead, 1);
    // Frames b sent before it died were already on the wire.
    assert.deepEqual(gotA, ['b:1/x: tick1', 'b:1/x: tick2']);
    b.env.transport.send(a.id, enc('zombie'));
    world.runUntilIdle();
    assert.equal(gotA.length, 2);
    assert.equal(world.stats.dropReasons['sender-dead'], 1);
  });

  it('a cut link holds what is sent into it (and what was on the wire) and delivers it all, in order, at the heal', () => {
    const world = new SimWorld(1, { delayMs: 5, jitterMs: 0 });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const c = world.addNode('c:1', 'x');
    const gotB = recorder(b);
    const arrivals: string[] = [];
    c.env.transport.onFrame((from, f) => arrivals.push(`${dec(f)}@${world.now()}`));
    const peersA: PeerEvent[] = [];
    a.env.transport.onPeer((ev) => peersA.push(ev));
    a.env.transport.send(c.id, enc('on the wire'));
    world.runFor(1);
    world.partition([[a.id, 'b:1'], ['c:1']]);
    assert.equal(world.isCut('a:1', 'c:1/x'), true);
    assert.equal(world.isCut('a:1', 'b:1'), false);
    a.env.transport.send(b.id, enc('same side'));
    a.env.transport.send(c.id, enc('held 1'));
    world.scheduler.schedule(100, () => a.env.transport.send(c.id, enc('held 2')));
    world.runFor(500);
    assert.deepEqual(gotB, ['a:1/x: same side']);
    assert.deepEqual(arrivals, [], 'nothing crosses the cut');
    assert.equal(world.stats.heldAcrossCut, 3);
    world.heal();
    world.runUntilIdle();
    assert.deepEqual(arrivals, ['on the wire@506', 'held 1@506', 'held 2@506'], 'all at once, heal time + delay, in order');
    assert.equal(world.stats.dropped, 0);
    assert.equal(world.stats.releasedAfterCut, 3);
    assert.deepEqual(peersA, [], 'a cut that heals before the connection times out is not seen by either end');
  });

  it('a cut that outlasts cutResetMs resets the connection: what it held is lost and both ends are told', () => {
    const world = new SimWorld(1, { delayMs: 5, jitterMs: 0, cutResetMs: 1000 });
    const a = world.addNode('a:1', 'x');
    const c = world.addNode('c:1', 'x');
    const gotC = recorder(c);
    const peersA: PeerEvent[] = [];
    const peersC: PeerEvent[] = [];
    a.env.transport.onPeer((ev) => peersA.push(ev));
    c.env.transport.onPeer((ev) => peersC.push(ev));
    world.partition([['a:1'], ['c:1']]);
    world.scheduler.schedule(10, () => a.env.transport.send(c.id, enc('lost 1')));
    world.scheduler.schedule(20, () => a.env.transport.send(c.id, enc('lost 2')));
    world.runFor(1200); // the connection resets at 10 + 1000
    assert.equal(world.stats.dropReasons.reset, 2);
    assert.deepEqual(peersA, [{ type: 'disconnected', peer: c.id }]);
    assert.deepEqual(peersC, [{ type: 'disconnected', peer: a.id }]);
    a.env.transport.send(c.id, enc('after the reset'));
    world.heal();
    world.runUntilIdle();
    assert.deepEqual(gotC, ['a:1/x: after the reset'], 'a new connection carries what was sent after the reset');
    assert.deepEqual(peersA.at(-1), { type: 'connected', peer: c.id });
    assert.deepEqual(peersC.at(-1), { type: 'connected', peer: a.id });
  });

  it('after a heal, a connection that reset comes back only at its reconnect attempt (back-off), holding frames until then', () => {
    const world = new SimWorld(3, { delayMs: 1, jitterMs: 0, cutResetMs: 100, reconnectBackoffMaxMs: 5000 });
    const a = world.addNode('a:1', 'x');
    const c = world.addNode('c:1', 'x');
    const arrivals: string[] = [];
    c.env.transport.onFrame((_from, f) => arrivals.push(`${dec(f)}@${world.now()}`));
    world.isolate('c:1');
    a.env.transport.send(c.id, enc('lost in the reset'));
    world.runFor(200);
    world.heal();
    a.env.transport.send(c.id, enc('after the heal'));
    world.runUntilIdle();
    assert.equal(world.stats.dropReasons.reset, 1);
    assert.equal(arrivals.length, 1);
    const at = Number(arrivals[0]!.split('@')[1]);
    assert.ok(at > 201 && at <= 5201, `arrived at the reconnect, ${at}`);
    // A link that never reset is not delayed.
    c.env.transport.send(a.id, enc('x'));
    const t = world.now();
    let got = -1;
    a.env.transport.onFrame(() => (got = world.now()));
    world.runUntilIdle();
    assert.equal(got, t + 1);
  });

  it('holds at most maxHeldBytesPerLink on a cut link and counts the overflow', () => {
    const world = new SimWorld(1, { maxHeldBytesPerLink: 10 });
    const a = world.addNode('a:1', 'x');
    const c = world.addNode('c:1', 'x');
    const gotC = recorder(c);
    world.isolate('c:1');
    for (const t of ['1234', '5678', '9abc']) a.env.transport.send(c.id, enc(t));
    assert.equal(world.stats.dropReasons.overflow, 1);
    assert.equal(world.stats.maxHeldBytes, 8);
    world.heal();
    world.runUntilIdle();
    assert.deepEqual(gotC, ['a:1/x: 1234', 'a:1/x: 5678']);
  });

  it('what a crashed process sent into a cut still arrives at the heal; what was held for it is lost', () => {
    const world = new SimWorld(1);
    const a = world.addNode('a:1', 'x');
    const c = world.addNode('c:1', 'x');
    const gotA = recorder(a);
    const gotC = recorder(c);
    world.isolate('c:1');
    a.env.transport.send(c.id, enc('from a'));
    c.env.transport.send(a.id, enc('from c'));
    world.crash(c.id);
    world.heal();
    world.runUntilIdle();
    assert.deepEqual(gotA, ['c:1/x: from c']);
    assert.deepEqual(gotC, []);
    assert.equal(world.stats.dropReasons.dead, 1);
  });

  it('isolate cuts one node off from everyone, unlisted nodes stay together', () => {
    const world = new SimWorld(1);
    world.addNode('a:1', 'x');
    world.addNode('b:1', 'x');
    world.addNode('c:1', 'x');
    world.isolate('b:1/x');
    assert.equal(world.isCut('a:1', 'b:1'), true);
    assert.equal(world.isCut('c:1', 'b:1'), true);
    assert.equal(world.isCut('a:1', 'c:1'), false);
    world.isolate('c:1');
    assert.equal(world.isCut('a:1', 'c:1'), true);
    assert.equal(world.isCut('b:1', 'c:1'), true);
    world.heal();
    assert.equal(world.isCut('a:1', 'c:1'), false);
  });

  it('verbose nodes log into the world buffer with virtual time', () => {
    const opts: SimWorldOptions = { verbose: true, logLimit: 3 };
    const world = new SimWorld(1, opts);
    const a = world.addNode('a:1', 'x');
    for (let i = 0; i < 5; i++) a.env.setTimer(i, () => a.env.log.child({ layer: 'NAK' }).info('tick', { i, big: 1n }));
    world.runUntilIdle();
    assert.deepEqual(world.logLines(), [
      '2 INFO tick {"node":"a:1/x","layer":"NAK","i":2,"big":"1n"}',
      '3 INFO tick {"node":"a:1/x","layer":"NAK","i":3,"big":"1n"}',
      '4 INFO tick {"node":"a:1/x","layer":"NAK","i":4,"big":"1n"}',
    ]);
    const quiet = new SimWorld(1);
    quiet.addNode('a:1', 'x').env.log.info('nothing');
    assert.deepEqual(quiet.logLines(), []);
  });
});

describe('SimWorld peer events for fast crash detection', () => {
  /** Three nodes that have talked (so they hold connections), each recording its watched peer events. */
  function talked(): { world: SimWorld; a: SimNode; b: SimNode; c: SimNode; seen: Map<SimNode, PeerEvent[]> } {
    const world = new SimWorld(1, { delayMs: 5, jitterMs: 0 });
    const [a, b, c] = ['a:1', 'b:1', 'c:1'].map((ep) => world.addNode(ep, 'x')) as [SimNode, SimNode, SimNode];
    const seen = new Map<SimNode, PeerEvent[]>();
    for (const n of [a, b, c]) {
      const list: PeerEvent[] = [];
      seen.set(n, list);
      n.env.watchPeers!((ev) => list.push(ev));
      for (const m of [a, b, c]) if (m !== n) n.env.transport.send(m.id, enc('hi'));
    }
    world.runFor(20);
    return { world, a, b, c, seen };
  }

  it('a crash closes its connections and a dial finds its port refused: each node that talked to it hears both', () => {
    const { world, a, b, c, seen } = talked();
    world.crash(c.id);
    world.runFor(5);
    assert.deepEqual(seen.get(a), [{ type: 'closed', peer: c.id }], "the FIN arrives after the link's delay");
    world.runFor(20);
    for (const n of [a, b])
      assert.deepEqual(seen.get(n), [
        { type: 'closed', peer: c.id },
        { type: 'gone', peer: c.id, why: 'refused' },
      ]);
  });

  it('a restart at the endpoint makes the old incarnation gone (replaced); a send to it later says nothing more', () => {
    const { world, a, c, seen } = talked();
    world.restart('c:1', 'y');
    world.runFor(30);
    assert.deepEqual(seen.get(a), [
      { type: 'closed', peer: c.id },
      { type: 'gone', peer: c.id, why: 'replaced' },
    ]);
    a.env.transport.send(c.id, enc('stale'));
    world.runFor(30);
    assert.equal(seen.get(a)!.length, 2, 'each process is reported gone once to each node');
  });

  it('a paused process never looks gone, and nothing crosses a cut; a send after the heal finds the crashed one refused', () => {
    const { world, a, b, c, seen } = talked();
    world.pause(b.id);
    for (let t = 0; t < 3000; t += 100) world.scheduler.schedule(t, () => a.env.transport.send(b.id, enc('are you there')));
    world.runFor(3000);
    assert.deepEqual(seen.get(a), []);
    world.resume(b.id);
    world.partition([[a.id], [b.id, c.id]]);
    world.crash(c.id);
    world.runFor(100);
    assert.deepEqual(seen.get(a), [], 'the FIN and the dial do not cross the cut');
    assert.deepEqual(
      seen.get(b)!.map((e) => e.type),
      ['closed', 'gone'],
    );
    world.heal();
    a.env.transport.send(c.id, enc('after the heal'));
    world.runFor(30);
    assert.deepEqual(seen.get(a), [{ type: 'gone', peer: c.id, why: 'refused' }]);
  });

  it('a link that resets on its own is closed at both ends, and nobody is gone', () => {
    const world = new SimWorld(3, { delayMs: 1, jitterMs: 0, breakProbability: 0.2 });
    const a = world.addNode('a:1', 'x');
    const b = world.addNode('b:1', 'x');
    const seen: PeerEvent[] = [];
    a.env.watchPeers!((ev) => seen.push(ev));
    for (let i = 0; i < 30; i++) world.scheduler.schedule(i, () => a.env.transport.send(b.id, enc(`m${i}`)));
    world.runFor(100);
    assert.ok(seen.some((e) => e.type === 'closed' && e.peer === b.id));
    assert.equal(
      seen.some((e) => e.type === 'gone'),
      false,
    );
  });

  it('stops calling a watcher once it unwatches', () => {
    const { world, a, c, seen } = talked();
    const more: PeerEvent[] = [];
    const off = a.env.watchPeers!((ev) => more.push(ev));
    off();
    world.crash(c.id);
    world.runFor(30);
    assert.equal(more.length, 0);
    assert.equal(seen.get(a)!.length, 2);
  });
});
