import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { stubLink } from '../../helpers/layer-link.js';
import type { Env } from '../../../src/core/env.js';
import type { DownEvent } from '../../../src/core/events.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message, MsgFlag } from '../../../src/core/message.js';
import type { View } from '../../../src/core/view.js';
import { SAFE, SAFE_HEADER } from '../../../src/layers/SAFE.js';
import { PROBE_ASK, PROBE_TELL, SAFE_PROBE_HEADER, type SafeProbe } from '../../../src/layers/safe/probe-header.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';

/** An Env whose timers fire only when the test says so. */
function manualEnv(): { env: Env; fire: () => number } {
  let due: (() => void)[] = [];
  const env = {
    now: () => 0,
    setTimer: (_ms: number, fn: () => void) => {
      due.push(fn);
      return { cancel: () => void (due = due.filter((f) => f !== fn)) };
    },
  } as unknown as Env;
  const fire = (): number => {
    const now = due;
    due = [];
    now.forEach((f) => f());
    return now.length;
  };
  return { env, fire };
}

interface Alone {
  safe: SAFE;
  delivered: string[];
  /** What SAFE sent down (its probes). */
  sent: Message[];
  metrics: MemoryMetrics;
  /** What the layers below hold of each member (GET_DIGEST's answer). */
  digest: Map<string, number>;
  fire: () => number;
  up: (src: string, seq: number, safe: boolean) => void;
}

/** SAFE alone as `me`, between a stub bottom that records what it sends and a top that records what it delivers. */
function safeAlone(me = 'me:1/1'): Alone {
  const { env, fire } = manualEnv();
  const metrics = new MemoryMetrics();
  const ctx = { env, group: 'g', localId: me, log: silentLogger, metrics };
  const safe = new SAFE(ctx, { probeAfterMs: 50 });
  const delivered: string[] = [];
  const sent: Message[] = [];
  const digest = new Map<string, number>();
  const record = (m: Message): number => delivered.push(`${m.src}#${m.seq}`);
  safe.above = stubLink({ up: record, upBatch: (b) => b.forEach(record) });
  safe.below = stubLink({
    down: (m) => void sent.push(m),
    downEvent: (ev: DownEvent) => {
      if (ev.type === 'GET_DIGEST') ev.digest = new Map(digest);
    },
  });
  const up = (src: string, seq: number, isSafe: boolean): void => {
    const m = new Message(null, Buffer.from('x'));
    m.src = src;
    m.seq = seq;
    if (isSafe) m.push(SAFE_HEADER, []);
    safe.up(m);
  };
  return { safe, delivered, sent, metrics, digest, fire, up };
}
const view = (id: number): View => ({ group: 'g', id, members: ['me:1/1', 'a:1/1'] });

describe('SAFE', () => {
  it('drops (and counts) a safe header on what can never become stable: a non-member’s, an unreliable or a unicast message; what follows is not held behind it', () => {
    const { safe, delivered, metrics, up } = safeAlone();
    safe.upEvent({ type: 'VIEW', view: view(1) });
    const forged = (src: string, dest: string | null, flags: number): void => {
      const m = new Message(dest, Buffer.from('x'), flags);
      m.src = src;
      m.seq = 1;
      m.push(SAFE_HEADER, []);
      safe.up(m);
    };
    // A stranger's frame whose message had our header above NAK's: NAK lets an unsequenced message by.
    forged('stranger:1/1', null, MsgFlag.Multicast | MsgFlag.Unreliable);
    forged('stranger:1/1', null, MsgFlag.Multicast);
    forged('a:1/1', null, MsgFlag.Multicast | MsgFlag.Unreliable);
    forged('a:1/1', 'me:1/1', 0);
    up('a:1/1', 1, false);
    assert.deepEqual(delivered, ['a:1/1#1'], 'delivered at once: nothing held');
    assert.equal(metrics.snapshot().counters['horus_safe_dropped_total'], 4);
  });

  it('delivers a safe message nowhere until every member holds it', () => {
    const s = simGroup(3, 'TOTAL:CAUSAL:SAFE:STABLE:FC:FRAG:NAK:COM');
    s.world.partition([['m1:1', 'm2:1'], ['m3:1']]);
    void s.groups[0]!.abcast({ x: 1 }, { safe: true });
    void s.groups[0]!.fbcast({ x: 2 }, { safe: true });
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      [0, 0, 0],
      'm3 does not hold them yet, so nobody delivers',
    );
    s.world.heal();
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      [2, 2, 2],
    );
  });

  it('keeps plain messages from a sender behind its held safe one (FIFO per sender)', () => {
    const s = simGroup(2, 'SAFE:STABLE:FC:FRAG:NAK:COM');
    s.world.pause('m2:1');
    void s.groups[0]!.fbcast('safe', { safe: true });
    void s.groups[0]!.fbcast('plain');
    s.world.runFor(200);
    assert.deepEqual(s.delivered[0]!, []);
    s.world.resume('m2:1');
    s.world.runFor(300);
    for (const d of s.delivered)
      assert.deepEqual(
        d.map((x) => x.payload),
        ['safe', 'plain'],
      );
  });

  it("keeps a later view's stability learned before that view reached it (a joiner's state arrives after the next view)", () => {
    // A joiner waits for its state in view 29 while the layers below are in view 30 already: STABLE
    // reports view 30's stability before the views go up. Forgetting it at view 29 held view 30's
    // safe messages (and all behind them) until the next report, which an idle group never sends.
    const { safe, delivered, up } = safeAlone();
    safe.upEvent({ type: 'STABLE', stable: new Map([['a:1/1', 5]]), viewId: 30 });
    safe.upEvent({ type: 'VIEW', view: view(29) });
    safe.upEvent({ type: 'VIEW', view: view(30) });
    up('a:1/1', 3, true);
    up('a:1/1', 4, false);
    assert.deepEqual(delivered, ['a:1/1#3', 'a:1/1#4']);
  });

  it("never releases a safe message on another view's stability", () => {
    const { safe, delivered, up } = safeAlone();
    safe.upEvent({ type: 'VIEW', view: view(7) });
    up('a:1/1', 3, true);
    safe.upEvent({ type: 'STABLE', stable: new Map([['a:1/1', 5]]), viewId: 8 });
    assert.deepEqual(delivered, [], 'view 8 numbers its messages afresh: its stability says nothing of view 7');
    safe.upEvent({ type: 'STABLE', stable: new Map([['a:1/1', 3]]), viewId: 7 });
    assert.deepEqual(delivered, ['a:1/1#3']);
  });

  it('holds a safe message until what its sender had received from others is stable too (not its own stability alone)', () => {
    const { safe, delivered, up } = safeAlone();
    safe.upEvent({ type: 'VIEW', view: { group: 'g', id: 4, members: ['me:1/1', 'a:1/1', 'b:1/1'] } });
    const m = new Message(null, Buffer.from('x'));
    m.src = 'a:1/1';
    m.seq = 3;
    // a had received b's (place 2 in the view) first 5 messages; a place past the view's end is ignored.
    m.push(SAFE_HEADER, [2, 5, 9, 9]);
    safe.up(m);
    up('a:1/1', 4, false);
    safe.upEvent({
      type: 'STABLE',
      stable: new Map([
        ['a:1/1', 4],
        ['b:1/1', 4],
      ]),
      viewId: 4,
    });
    assert.deepEqual(delivered, [], "its own number is stable, b's 5th message is not: held, and what follows it");
    safe.upEvent({
      type: 'STABLE',
      stable: new Map([
        ['a:1/1', 4],
        ['b:1/1', 5],
      ]),
      viewId: 4,
    });
    assert.deepEqual(delivered, ['a:1/1#3', 'a:1/1#4']);
  });

  it('names in a safe send what it received from others and does not know to be stable, never itself', () => {
    const ctx = { env: {} as Env, group: 'g', localId: 'me:1/1', log: silentLogger, metrics: new MemoryMetrics() };
    const safe = new SAFE(ctx, { probeAfterMs: 50 });
    const sent: Message[] = [];
    const digest = new Map([
      ['me:1/1', 7],
      ['a:1/1', 3],
      ['b:1/1', 6],
    ]);
    safe.above = stubLink();
    safe.below = stubLink({
      down: (m) => void sent.push(m),
      downEvent: (ev: DownEvent) => {
        if (ev.type === 'GET_DIGEST') ev.digest = digest;
      },
    });
    safe.upEvent({ type: 'VIEW', view: { group: 'g', id: 2, members: ['me:1/1', 'a:1/1', 'b:1/1'] } });
    safe.upEvent({
      type: 'STABLE',
      stable: new Map([
        ['a:1/1', 3],
        ['b:1/1', 2],
      ]),
      viewId: 2,
    });
    const m = new Message(null, Buffer.from('s'));
    m.safe = true;
    safe.down(m);
    assert.deepEqual(sent[0]!.peek(SAFE_HEADER), [2, 6], "b (place 2): a's 3 are stable already; our own are the message's own number");
  });

  it('refuses safe sends on a stack without SAFE, with a typed error', async () => {
    const s = simGroup(2, 'NAK:COM');
    await assert.rejects(s.groups[0]!.fbcast('x', { safe: true }), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('SAFE with batches', () => {
  it('keeps arrival order across a batch that mixes plain and safe messages, and asks for stability once per batch', () => {
    const ctx = { env: {} as Env, group: 'g', localId: 'me:1/1', log: silentLogger, metrics: new MemoryMetrics() };
    const safe = new SAFE(ctx, { probeAfterMs: 50 });
    const delivered: string[] = [];
    const batches: number[] = [];
    let stabilize = 0;
    const record = (m: Message): number => delivered.push(m.payload.toString());
    safe.above = stubLink({
      up: record,
      upBatch: (b) => {
        batches.push(b.length);
        b.forEach(record);
      },
    });
    safe.below = stubLink({ downEvent: (ev: DownEvent) => void (ev.type === 'STABILIZE' && stabilize++) });
    safe.downEvent({ type: 'VIEW', view: view(1) });
    const msg = (tag: string, seq: number, isSafe: boolean): Message => {
      const m = new Message(null, Buffer.from(tag));
      m.src = 'a:1/1';
      m.seq = seq;
      if (isSafe) m.push(SAFE_HEADER, []);
      return m;
    };
    safe.upBatch([msg('p1', 1, false), msg('p2', 2, false)]);
    assert.deepEqual(delivered, ['p1', 'p2']);
    assert.equal(stabilize, 0, 'nothing held: no request');
    safe.upBatch([msg('p3', 3, false), msg('s4', 4, true), msg('p5', 5, false), msg('s6', 6, true), msg('p7', 7, false)]);
    assert.deepEqual(delivered, ['p1', 'p2', 'p3'], 'everything after the first safe one waits behind it');
    assert.equal(stabilize, 1, 'one request for the batch');
    safe.upEvent({ type: 'STABLE', stable: new Map([['a:1/1', 4]]), viewId: 1 });
    assert.deepEqual(delivered, ['p1', 'p2', 'p3', 's4', 'p5']);
    safe.upEvent({ type: 'STABLE', stable: new Map([['a:1/1', 7]]), viewId: 1 });
    assert.deepEqual(delivered, ['p1', 'p2', 'p3', 's4', 'p5', 's6', 'p7']);
    assert.deepEqual(batches.slice(0, 2), [2, 1]);
  });
});

describe('SAFE and dependencies on other members (a member speaks only for itself)', () => {
  const members = ['me:1/1', 'a:1/1', 'b:1/1'];
  /** SAFE as `me` in view 4 of me, a, b; `a` (place 1) sends safe messages that name b (place 2). */
  function setup(): Alone & { fromA: (seq: number, deps: number[]) => void; tell: (from: string, nonce: number, sent: number, view?: number) => void } {
    const s = safeAlone();
    s.safe.upEvent({ type: 'VIEW', view: { group: 'g', id: 4, members } });
    const fromA = (seq: number, deps: number[]): void => {
      const m = new Message(null, Buffer.from('x'));
      m.src = 'a:1/1';
      m.seq = seq;
      m.push(SAFE_HEADER, deps);
      s.safe.up(m);
    };
    const tell = (from: string, nonce: number, sent: number, view = 4): void => {
      const m = new Message('me:1/1', Buffer.alloc(0), MsgFlag.Unreliable);
      m.src = from;
      m.push(SAFE_PROBE_HEADER, { t: PROBE_TELL, view, nonce, sent });
      s.safe.up(m);
    };
    return { ...s, fromA, tell };
  }
  const stable = (s: Alone, a: number, b: number): void =>
    s.safe.upEvent({
      type: 'STABLE',
      stable: new Map([
        ['me:1/1', 0],
        ['a:1/1', a],
        ['b:1/1', b],
      ]),
      viewId: 4,
    });
  /** The probes SAFE sent: to whom, and what. */
  const probes = (s: Alone): { to: string | null; p: SafeProbe }[] => s.sent.map((m) => ({ to: m.dest, p: m.peek(SAFE_PROBE_HEADER)! }));
  const forgedCount = (s: Alone): number => s.metrics.snapshot().counters['horus_safe_forged_dependencies_total'] ?? 0;

  it('asks the member named, and does not wait for what lies above its answer (forged far in the future)', () => {
    const s = setup();
    s.digest.set('b:1/1', 3);
    s.fromA(1, [2, 4_000_000_000]);
    s.up('a:1/1', 2, true);
    stable(s, 2, 3);
    assert.deepEqual(s.delivered, [], "a's messages are stable, the dependency on b is not: held");
    assert.equal(s.fire(), 1, 'the probe timer was armed');
    assert.deepEqual(probes(s), [{ to: 'b:1/1', p: { t: PROBE_ASK, view: 4, nonce: 1 } }]);
    s.tell('b:1/1', 1, 3);
    assert.deepEqual(s.delivered, ['a:1/1#1', 'a:1/1#2'], 'b says it sent 3, all stable: the rest was forged');
    assert.equal(forgedCount(s), 1);
  });

  it('waits for a dependency beyond what it received when the member named says it sent it (in flight), and never drops it', () => {
    const s = setup();
    s.digest.set('b:1/1', 3);
    s.fromA(1, [2, 5]);
    stable(s, 1, 3);
    s.fire();
    s.tell('b:1/1', 1, 6);
    assert.deepEqual(s.delivered, [], 'b sent 5: a had it first, we will too');
    s.fire();
    assert.equal(s.sent.length, 1, 'answered: not asked again');
    stable(s, 1, 4);
    assert.deepEqual(s.delivered, []);
    stable(s, 1, 5);
    assert.deepEqual(s.delivered, ['a:1/1#1']);
    assert.equal(forgedCount(s), 0);
  });

  it('bounds by an answer only the messages that had arrived when it was asked (a later one may name what was sent since)', () => {
    const s = setup();
    s.fromA(1, [2, 5]);
    stable(s, 1, 0);
    s.fire(); // asks b (nonce 1), covering a#1
    s.fromA(2, [2, 9]);
    s.tell('b:1/1', 1, 5);
    stable(s, 2, 5);
    assert.deepEqual(s.delivered, ['a:1/1#1'], 'a#2 came after the question: 5 says nothing of its 9');
    s.fire(); // a#2 at the head: asks b again (nonce 2)
    assert.deepEqual(
      probes(s).map((x) => x.p.nonce),
      [1, 2],
    );
    s.tell('b:1/1', 2, 8);
    assert.deepEqual(s.delivered, ['a:1/1#1'], 'capped at 8, which is not stable yet');
    stable(s, 2, 8);
    assert.deepEqual(s.delivered, ['a:1/1#1', 'a:1/1#2']);
    assert.equal(forgedCount(s), 1);
  });

  it('asks again while unanswered (the same question: an answer slower than the retry interval still counts)', () => {
    const s = setup();
    s.fromA(1, [2, 7]);
    stable(s, 1, 2);
    s.fire();
    s.fire();
    s.fire();
    assert.deepEqual(
      probes(s).map((x) => x.p.nonce),
      [1, 1, 1],
    );
    s.tell('b:1/1', 1, 2);
    assert.deepEqual(s.delivered, ['a:1/1#1']);
  });

  it('does not ask about what it holds already (stability will come), nor when nothing waits', () => {
    const s = setup();
    s.digest.set('b:1/1', 5);
    s.fromA(1, [2, 5]);
    stable(s, 1, 4);
    assert.equal(s.fire(), 1);
    assert.deepEqual(s.sent, []);
    stable(s, 1, 5);
    assert.deepEqual(s.delivered, ['a:1/1#1']);
    assert.equal(s.fire(), 0);
  });

  it('ignores answers to no question, from non-members, for another view, and from another member than asked', () => {
    const s = setup();
    s.fromA(1, [2, 9]);
    stable(s, 1, 0);
    s.fire();
    s.tell('b:1/1', 7, 0); // never asked
    s.tell('evil:1/1', 1, 0);
    s.tell('b:1/1', 1, 0, 3);
    s.tell('a:1/1', 1, 0); // a may not answer for b
    assert.deepEqual(s.delivered, []);
    s.tell('b:1/1', 1, 0);
    assert.deepEqual(s.delivered, ['a:1/1#1']);
  });

  it('ignores a dependency on the sender itself, and bounds one on our own stream by what we sent', () => {
    const s = setup();
    s.digest.set('me:1/1', 4);
    s.fromA(1, [1, 4_000_000_000]);
    stable(s, 1, 0);
    assert.deepEqual(s.delivered, ['a:1/1#1'], "a's own number says all of a's past");
    s.fromA(2, [0, 9]);
    stable(s, 2, 0);
    s.safe.upEvent({
      type: 'STABLE',
      stable: new Map([
        ['me:1/1', 4],
        ['a:1/1', 2],
      ]),
      viewId: 4,
    });
    assert.deepEqual(s.delivered, ['a:1/1#1'], 'held: we may yet send 9 for all it knows here, until the timer');
    s.fire();
    assert.deepEqual(s.sent, [], 'nobody to ask: we know what we sent (4)');
    assert.deepEqual(s.delivered, ['a:1/1#1', 'a:1/1#2']);
    assert.equal(forgedCount(s), 2);
  });

  it('answers a question about its own stream with what it sent, in the view asked about only', () => {
    const s = setup();
    s.digest.set('me:1/1', 11);
    const ask = (from: string, view: number, nonce: number): void => {
      const m = new Message('me:1/1', Buffer.alloc(0), MsgFlag.Unreliable);
      m.src = from;
      m.push(SAFE_PROBE_HEADER, { t: PROBE_ASK, view, nonce });
      s.safe.up(m);
    };
    ask('a:1/1', 4, 33);
    ask('a:1/1', 5, 34);
    ask('evil:1/1', 4, 35);
    assert.deepEqual(probes(s), [{ to: 'a:1/1', p: { t: PROBE_TELL, view: 4, nonce: 33, sent: 11 } }]);
  });

  it('takes probes out of a batch in place and keeps the rest in arrival order', () => {
    const s = setup();
    const m1 = new Message(null, Buffer.from('x'));
    m1.src = 'a:1/1';
    m1.seq = 1;
    const probe = new Message('me:1/1', Buffer.alloc(0), MsgFlag.Unreliable);
    probe.src = 'b:1/1';
    probe.push(SAFE_PROBE_HEADER, { t: PROBE_ASK, view: 4, nonce: 1 });
    const m2 = new Message(null, Buffer.from('x'));
    m2.src = 'a:1/1';
    m2.seq = 2;
    s.safe.upBatch([m1, probe, m2]);
    assert.deepEqual(s.delivered, ['a:1/1#1', 'a:1/1#2']);
    assert.equal(probes(s)[0]!.to, 'b:1/1');
  });
});
