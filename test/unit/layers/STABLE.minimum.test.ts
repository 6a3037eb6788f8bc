import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Env } from '../../../src/core/env.js';
import type { Digest, DownEvent, UpEvent } from '../../../src/core/events.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message, MsgFlag } from '../../../src/core/message.js';
import { STABLE, STABLE_HEADER } from '../../../src/layers/STABLE.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';
import { stubLink } from '../../helpers/layer-link.js';

const ME = 'me:1/1';

/** A STABLE between a stub below (which answers GET_DIGEST with `own`) and a top that records STABLE events. */
function harness() {
  const env = { now: () => 0, setTimer: () => ({ cancel: () => {} }), defer: (fn: () => void) => fn() } as unknown as Env;
  const layer = new STABLE({ env, group: 'g', localId: ME, log: silentLogger, metrics: new MemoryMetrics() }, STABLE_OPTIONS);
  const stable: Digest[] = [];
  const h = { own: new Map() as Digest, stable, layer };
  layer.above = stubLink({
    upEvent: (ev: UpEvent) => {
      if (ev.type === 'STABLE') stable.push(new Map(ev.stable));
    },
  });
  layer.below = stubLink({
    downEvent: (ev: DownEvent) => {
      if (ev.type === 'GET_DIGEST') ev.digest = new Map(h.own);
    },
  });
  return h;
}
const STABLE_OPTIONS = { gossipIntervalMs: 50, maxBytes: 1 << 30, idleEvery: 1, idleBackoff: 1, aggregateFrom: 1000 } as ConstructorParameters<
  typeof STABLE
>[1];

function view(layer: STABLE, id: number, members: string[]): void {
  layer.downEvent({ type: 'VIEW', view: { group: 'g', id, members } });
}

function digestFrom(layer: STABLE, viewId: number, src: string, entries: [string, number][]): void {
  const m = new Message(null, Buffer.alloc(0), MsgFlag.Multicast | MsgFlag.Unreliable);
  m.push(STABLE_HEADER, { view: viewId, entries });
  m.src = src;
  layer.up(m);
}

/** Our own digest, as NAK reports it, gossiped. */
function ownDigest(h: ReturnType<typeof harness>, entries: [string, number][]): void {
  h.own = new Map(entries);
  h.layer.downEvent({ type: 'STABILIZE' });
}

describe('STABLE: the stable vector is the minimum of every member digest', () => {
  it('counts a member with no digest, and a digest with no entry for a sender, as holding nothing', () => {
    const h = harness();
    view(h.layer, 1, [ME, 'a:1/1', 'b:1/1']);
    ownDigest(h, [
      [ME, 5],
      ['a:1/1', 7],
      ['b:1/1', 2],
    ]);
    digestFrom(h.layer, 1, 'a:1/1', [
      [ME, 4],
      ['a:1/1', 9],
      ['b:1/1', 3],
    ]);
    assert.equal(h.stable.length, 0, 'b has said nothing yet');
    digestFrom(h.layer, 1, 'b:1/1', [
      [ME, 6],
      ['a:1/1', 6],
    ]);
    assert.deepEqual(
      h.stable.at(-1),
      new Map([
        [ME, 4],
        ['a:1/1', 6],
        ['b:1/1', 0],
      ]),
    );
    digestFrom(h.layer, 1, 'b:1/1', [
      [ME, 6],
      ['a:1/1', 6],
      ['b:1/1', 1],
    ]);
    assert.deepEqual(
      h.stable.at(-1),
      new Map([
        [ME, 4],
        ['a:1/1', 6],
        ['b:1/1', 1],
      ]),
    );
    const events = h.stable.length;
    digestFrom(h.layer, 1, 'b:1/1', [
      [ME, 6],
      ['a:1/1', 6],
      ['b:1/1', 1],
    ]);
    assert.equal(h.stable.length, events, 'nothing moved: no event');
  });

  it('keeps each member to its own entries when the view is given again in another order, and starts over in a new view', () => {
    const h = harness();
    view(h.layer, 1, [ME, 'a:1/1', 'b:1/1']);
    ownDigest(h, [
      [ME, 5],
      ['a:1/1', 5],
      ['b:1/1', 5],
    ]);
    digestFrom(h.layer, 1, 'a:1/1', [
      [ME, 3],
      ['a:1/1', 4],
      ['b:1/1', 5],
    ]);
    view(h.layer, 1, ['b:1/1', ME, 'a:1/1']);
    digestFrom(h.layer, 1, 'b:1/1', [
      [ME, 5],
      ['a:1/1', 5],
      ['b:1/1', 2],
    ]);
    assert.deepEqual(
      h.stable.at(-1),
      new Map([
        ['b:1/1', 2],
        [ME, 3],
        ['a:1/1', 4],
      ]),
    );
    const events = h.stable.length;
    view(h.layer, 2, [ME, 'a:1/1', 'b:1/1']);
    digestFrom(h.layer, 2, 'a:1/1', [
      [ME, 9],
      ['a:1/1', 9],
      ['b:1/1', 9],
    ]);
    digestFrom(h.layer, 2, 'b:1/1', [
      [ME, 9],
      ['a:1/1', 9],
      ['b:1/1', 9],
    ]);
    assert.equal(h.stable.length, events, 'the new view has no digest of ours yet: nothing is stable in it');
  });

  it('reports what the minimum over all members is, after any sequence of digests (against a plain recomputation)', () => {
    const members = [ME, 'a:1/1', 'b:1/1', 'c:1/1'];
    const report = fc.record({
      from: fc.integer({ min: 0, max: members.length - 1 }),
      seqs: fc.array(fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }), { minLength: members.length, maxLength: members.length }),
    });
    fc.assert(
      fc.property(fc.array(report, { maxLength: 40 }), (reports) => {
        const h = harness();
        view(h.layer, 1, members);
        const latest = new Map<string, Digest>();
        let expected = new Map<string, number>(members.map((m) => [m, 0]));
        for (const r of reports) {
          const entries = r.seqs.flatMap((v, i): [string, number][] => (v === undefined ? [] : [[members[i]!, v]]));
          const from = members[r.from]!;
          if (from === ME) ownDigest(h, entries);
          else digestFrom(h.layer, 1, from, entries);
          latest.set(from, new Map(entries));
          // The plain rule: per sender, the least entry over every member's latest digest (none, or no entry: 0).
          const next = new Map(members.map((s) => [s, Math.min(...members.map((m) => latest.get(m)?.get(s) ?? 0))]));
          if (members.some((s) => next.get(s)! > expected.get(s)!)) expected = next;
        }
        assert.deepEqual(h.stable.at(-1) ?? new Map(members.map((m) => [m, 0])), expected);
      }),
      { numRuns: 300 },
    );
  });
});
