import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import type { Env } from '../../../src/core/env.js';
import type { DownEvent, UpEvent } from '../../../src/core/events.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message } from '../../../src/core/message.js';
import type { View } from '../../../src/core/view.js';
import { SAFE, SAFE_HEADER } from '../../../src/layers/SAFE.js';
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
  safe.above = { up: record, upBatch: (b) => b.forEach(record), upEvent: (_ev: UpEvent) => {}, down: () => {}, downBatch: () => {}, downEvent: () => {} };
  safe.below = {
    up: () => {},
    upBatch: () => {},
    upEvent: () => {},
    down: (m) => void sent.push(m),
    downBatch: () => {},
    downEvent: (ev: DownEvent) => {
      if (ev.type === 'GET_DIGEST') ev.digest = new Map(digest);
    },
  };
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
    safe.above = { up: () => {}, upBatch: () => {}, upEvent: () => {}, down: () => {}, downBatch: () => {}, downEvent: () => {} };
    safe.below = {
      up: () => {},
      upBatch: () => {},
      upEvent: () => {},
      down: (m) => void sent.push(m),
      downBatch: () => {},
      downEvent: (ev: DownEvent) => {
        if (ev.type === 'GET_DIGEST') ev.digest = digest;
      },
    };
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
    safe.above = {
      up: record,
      upBatch: (b) => {
        batches.push(b.length);
        b.forEach(record);
      },
      upEvent: () => {},
      down: () => {},
      downBatch: () => {},
      downEvent: () => {},
    };
    safe.below = {
      up: () => {},
      upBatch: () => {},
      upEvent: () => {},
      down: () => {},
      downBatch: () => {},
      downEvent: (ev: DownEvent) => void (ev.type === 'STABILIZE' && stabilize++),
    };
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
