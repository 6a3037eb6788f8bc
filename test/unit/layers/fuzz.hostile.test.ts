// Random instances of every header of COM's, NAK's, FRAG's, FC's, STABLE's, FD's, CAUSAL's, TOTAL's and
// SAFE's (its probes too), stacked in random subsets on random payloads and flags, from a stranger and from a member,
// interleaved with real traffic: nothing is thrown, and the honest members keep delivering each other's messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { simGroup } from '../../helpers/sim-group.js';
import { NAK_HEADER } from '../../../src/layers/NAK.js';
import { FRAG_HEADER } from '../../../src/layers/FRAG.js';
import { FC_HEADER } from '../../../src/layers/FC.js';
import { STABLE_HEADER } from '../../../src/layers/STABLE.js';
import { FD_HEADER } from '../../../src/layers/FD.js';
import { CAUSAL_HEADER } from '../../../src/layers/CAUSAL.js';
import { TOTAL_HEADER } from '../../../src/layers/TOTAL.js';
import { SAFE_HEADER } from '../../../src/layers/SAFE.js';
import { SAFE_PROBE_HEADER } from '../../../src/layers/safe/probe-header.js';
import { APP_HEADER } from '../../../src/api/app-header.js';
import { DEFAULT_STACK } from '../../../src/layers/index.js';
import { MsgFlag, type HeaderType, type Message } from '../../../src/core/message.js';
import { forged, frameOf, sendAs, stranger } from './hostile-peer.js';

type H = [HeaderType<never>, unknown];
const h = <T>(t: HeaderType<T>, v: unknown): H => [t as HeaderType<never>, v];

const int = fc.oneof(fc.constantFrom(0, 1, 2, 3, 1000, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER), fc.nat({ max: 5000 }));
const id = fc.constantFrom('m1:1', 'm2:1', 'm3:1', 'evil:1', 'm1:1/1', 'x'.repeat(200));
const view = fc.constantFrom(0, 1, 2, 7, 2 ** 32, 2 ** 40);
const nak = fc.oneof(
  fc.record({ t: fc.constantFrom(1, 4), view, seq: int }),
  fc.record({ t: fc.constant(2), view, origin: id, seq: int }),
  fc.record({ t: fc.constant(3), view, origin: id, from: int, to: int }),
);
const headers: fc.Arbitrary<H>[] = [
  fc.record({ order: fc.nat({ max: 3 }), encoding: fc.constant(0), id: int }).map((v) => h(APP_HEADER, v)),
  fc.array(int, { maxLength: 10 }).map((v) => h(SAFE_HEADER, v.length % 2 === 0 ? v : v.slice(1))),
  fc.record({ t: fc.constantFrom(1, 2, 3), view, nonce: int, sent: int }).map((v) => h(SAFE_PROBE_HEADER, v)),
  fc.oneof(int, fc.record({ view, runs: fc.array(int, { maxLength: 10 }) })).map((v) => h(TOTAL_HEADER, v)),
  fc.array(int, { maxLength: 10 }).map((v) => h(CAUSAL_HEADER, v)),
  fc.record({ view, entries: fc.array(fc.tuple(id, int), { maxLength: 5 }) }).map((v) => h(STABLE_HEADER, v)),
  fc.record({ t: fc.constantFrom(1, 2), view, total: int }).map((v) => h(FC_HEADER, v)),
  fc.record({ id: int, index: int, count: int }).map((v) => h(FRAG_HEADER, v)),
  fc.record({ viewId: view }).map((v) => h(FD_HEADER, v)),
  nak.map((v) => h(NAK_HEADER, v)),
];
/** A message: a random subset of the headers, in stack order (top first), on a random payload. */
const message: fc.Arbitrary<Message> = fc
  .tuple(
    fc.tuple(...headers.map((a) => fc.option(a, { nil: undefined }))),
    fc.uint8Array({ maxLength: 300 }),
    fc.constantFrom<[string | null, number]>(
      [null, MsgFlag.Multicast],
      [null, MsgFlag.Multicast | MsgFlag.Unreliable],
      ['m1:1', 0],
      ['m1:1', MsgFlag.Unreliable],
      ['m3:1', 0],
    ),
  )
  .map(([hs, payload, [dest, flags]]) =>
    forged(
      dest,
      Buffer.from(payload),
      hs.filter((x): x is H => x !== undefined),
      flags,
    ),
  );

describe('layers fed random headers by a stranger and a member', () => {
  it('throw nothing and the honest members keep delivering to each other', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 30 }),
        fc.array(message, { minLength: 1, maxLength: 30 }),
        fc.nat(),
        (fromStranger, fromMember, seed) => {
          const s = simGroup(3, DEFAULT_STACK, { seed: seed + 1 });
          const [m1, m2, m3] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0], (typeof s.nodes)[0]];
          const evil = stranger(s);
          for (let round = 0; round < 5; round++) {
            void s.groups[0]!.fbcast(Buffer.from(`a${round}`));
            void s.groups[2]!.fbcast(Buffer.from(`c${round}`));
            evil.send(m1, frameOf('g', fromStranger));
            evil.send(m3, frameOf('g', fromStranger));
            sendAs(m2, m1, frameOf('g', fromMember));
            sendAs(m2, m3, frameOf('g', fromMember));
            s.world.runFor(50);
          }
          s.world.runFor(3000);
          for (const i of [0, 2]) {
            const got = s.delivered[i]!.filter((d) => d.src !== 'm2:1').map((d) => d.raw.toString());
            for (let round = 0; round < 5; round++) {
              assert.ok(got.includes(`a${round}`) && got.includes(`c${round}`), `member ${i + 1} got ${JSON.stringify(got)}`);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
