// Time per message of the CAUSAL layer alone (its upBatch, by the monotonic clock: run it on a quiet
// core), on frames shaped like a saturated cbcast group's: each frame a batch of `--frame` messages from one of the other members, all flagged causal (no changed
// dependency) but the first of a sender's frame every `--deps-every` frames, which names the last
// message of the member before it in the rotation. With `--late N`, every Nth frame arrives before
// the frame it depends on (the two swap places), so its messages wait in CAUSAL and go up with the
// frame that frees them: the held path. No socket, no other layer: a before/after comparison of
// CAUSAL's own code on one core, far steadier than the whole-stack benches.
//
//   npx tsx bench/micro/causal-cpu.ts [--members 5] [--frame 450] [--frames 20000] [--deps-every 8] [--late 0] [--runs 5] [--against DIR]
//
// --against DIR: another checkout's CAUSAL, its runs alternating with this one's (see stack-cpu.ts).
// Two builds in one process disturb each other's compiled code here: separate invocations, a few
// each, read steadier.
// Prints JSON: ns per message for each build's runs, their medians and the median of the paired ratios.
import { arg } from './build.js';
import type { Env } from '../../src/core/env.js';
import { silentLogger } from '../../src/core/logger.js';
import { MemoryMetrics } from '../../src/obs/metrics.js';
import * as thisCausal from '../../src/layers/CAUSAL.js';
import * as thisMessage from '../../src/core/message.js';

type CausalModule = typeof thisCausal;
type MessageModule = typeof thisMessage;
interface Build {
  causal: CausalModule;
  message: MessageModule;
}

const members = Number(arg('members', '5'));
const frame = Number(arg('frame', '450'));
const frames = Number(arg('frames', '20000'));
const depsEvery = Number(arg('deps-every', '8'));
const late = Number(arg('late', '0'));
const runs = Number(arg('runs', '5'));
const against = arg('against', '');
// --plain: messages that are not causal (an fbcast group's), which CAUSAL passes up: the floor.
const plain = process.argv.includes('--plain');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

/** One run: `frames` frames through a fresh CAUSAL as member 0; ns per message spent in its upBatch. */
function once(build: Build): number {
  const { CAUSAL, CAUSAL_HEADER } = build.causal;
  const { Message, MsgFlag } = build.message;
  const ids = Array.from({ length: members }, (_, i) => `m${i}:1`);
  const env = { transport: { holdReads: () => {} }, now: () => 0 } as unknown as Env;
  const layer = new CAUSAL({ env, group: 'g', localId: ids[0]!, log: silentLogger, metrics: new MemoryMetrics() }, { maxHeldBytesPerSender: 1 << 30, holdReads: true });
  let delivered = 0;
  const nop = (): void => {};
  layer.above = { up: () => delivered++, upBatch: (b) => (delivered += b.length), upEvent: nop, down: nop, downBatch: nop, downEvent: nop };
  layer.below = { up: nop, upBatch: nop, upEvent: nop, down: nop, downBatch: nop, downEvent: nop };
  layer.downEvent({ type: 'VIEW', view: { group: 'g', id: 1, members: ids } });
  const payload = Buffer.alloc(100, 7);
  // Each frame's shape first (sender, and what its first message names), in sending order.
  const sent = new Array<number>(members).fill(0);
  const shapes: { k: number; deps: number[] | null }[] = [];
  for (let f = 0; f < frames; f++) {
    const k = 1 + (f % (members - 1));
    const prev = 1 + ((f + members - 2) % (members - 1));
    shapes.push({ k, deps: !plain && f >= members - 1 && f % depsEvery === 0 && prev !== k ? [prev, sent[prev]!] : null });
    sent[k]! += frame;
  }
  // A late frame: it depends on the frame before it, which now comes after it.
  if (late > 0) {
    for (let f = members; f + 1 < frames; f += late) {
      if (shapes[f]!.deps === null) continue;
      const t = shapes[f - 1]!;
      shapes[f - 1] = shapes[f]!;
      shapes[f] = t;
    }
  }
  // Each frame's messages are made just before it goes up (as the decoder makes them just before
  // CAUSAL runs, so they are in the cache): only CAUSAL's upBatch is timed.
  let ns = 0n;
  for (const { k, deps } of shapes) {
    const batch = new Array<InstanceType<typeof Message>>(frame);
    for (let i = 0; i < frame; i++) {
      const m = new Message(null, payload);
      m.src = ids[k]!;
      if (i === 0 && deps !== null) m.push(CAUSAL_HEADER, deps);
      else if (!plain) m.flags |= MsgFlag.Causal;
      batch[i] = m;
    }
    const t0 = process.hrtime.bigint();
    layer.upBatch(batch);
    ns += process.hrtime.bigint() - t0;
  }
  if (delivered !== frames * frame) throw new Error(`delivered ${delivered} of ${frames * frame}`);
  return Number(ns) / delivered;
}

const builds: [string, Build][] = [['this', { causal: thisCausal, message: thisMessage }]];
if (against !== '') {
  builds.push([
    against,
    {
      causal: (await import(`${against}/src/layers/CAUSAL.ts`)) as CausalModule,
      message: (await import(`${against}/src/core/message.ts`)) as MessageModule,
    },
  ]);
}
// Two warm-up runs of each, then alternating rounds.
for (let w = 0; w < 2; w++) for (const [, b] of builds) once(b);
const results = builds.map(() => [] as number[]);
for (let r = 0; r < runs; r++) builds.forEach(([, b], i) => results[i]!.push(once(b)));
const out: Record<string, unknown> = { members, frame, frames, depsEvery, late, nsPerMessage: Object.fromEntries(builds.map(([n], i) => [n, results[i]!.map((x) => Math.round(x * 10) / 10)])) };
out.median = Object.fromEntries(builds.map(([n], i) => [n, Math.round(median(results[i]!) * 10) / 10]));
if (builds.length === 2) out.pairedRatioMedian = Math.round(median(results[0]!.map((x, i) => x / results[1]![i]!)) * 1000) / 1000;
console.log(JSON.stringify(out));
