// CPU per delivered message through whole stacks, in one process, on the simulator's network: no
// sockets and no other process, so a before/after comparison holds up on a busy machine far better
// than the real bench (which needs quiet cores). Not a headline figure: the simulator's own costs
// (event queue, traffic hash) are included, so ratios between versions are what to read.
//
//   npx tsx bench/micro/stack-cpu.ts [--order total|fifo|causal] [--members 3] [--count 20000] [--size 100] [--burst 500] [--safe] [--runs 3] [--jitter 0]
//                                    [--against DIR [--warmup 4]]
//
// --against DIR: another checkout of Horus (a worktree of main, say) runs in this same process, its
// runs alternating with this one's after `--warmup` runs of each that are not counted: on a machine
// that other work shares, contention then falls on both builds alike (separate invocations a
// minute apart differed by 20% with no change). Prints each build's runs, the ratio of their medians
// and the median of the ratios of each round's pair.
import { arg, fixedGroup, loadBuild, thisBuild, workloadArgs, type Build } from './build.js';

const { order, members, count, size, burst } = workloadArgs({ order: 'total', count: 20000 });
const runs = Number(arg('runs', '3'));
const safe = process.argv.includes('--safe');
// Links' extra delay, uniform in [0, jitter) ms per frame, FIFO per link: frames of different senders
// race. Beyond the 1 ms between sending rounds (e.g. 3), CAUSAL holds messages whose dependencies are
// still on another link.
const jitter = Number(arg('jitter', '0'));

/** A send that fails fails the run (one handler for all, as the real bench's members have). */
const fail = (e: unknown): never => {
  throw e;
};

async function once(seed: number, build: Build = thisBuild): Promise<{ cpuUsPerDelivery: number; delivered: number; simMs: number }> {
  const { world, nodes, groups, counter } = fixedGroup(build, seed, members, jitter);
  const payload = Buffer.alloc(size, 7);
  const want = count * members * members;
  const sent = new Array<number>(members).fill(0);
  const c0 = process.cpuUsage();
  const t0 = world.now();
  while (counter.delivered < want) {
    for (let k = 0; k < members; k++) {
      const g = groups[k]!;
      // Closed loop: a member sends while flow control lets it (as the bench's members do).
      for (let i = 0; i < burst && sent[k]! < count && !g.blocked; i++) {
        sent[k]!++;
        g.cast(order, payload, safe ? { safe: true } : undefined).catch(fail);
      }
    }
    world.runFor(1);
    // Let the promise jobs of this round's sends run, as a process's event loop does between its
    // turns: run without a pause, every send's job waited to the end, and the collector copied and
    // promoted them all (a third of its time in this bench went to that).
    await null;
    if (world.now() - t0 > 600_000) throw new Error(`stuck: ${counter.delivered} of ${want} delivered`);
  }
  const c = process.cpuUsage(c0);
  for (const n of nodes) void n.close();
  return { cpuUsPerDelivery: (c.user + c.system) / counter.delivered, delivered: counter.delivered, simMs: world.now() - t0 };
}

/** What every printout starts with: the case measured. */
const setting = { order, members, count, size, safe };
const against = arg('against', '');
if (against !== '') {
  const other = await loadBuild(against);
  const warmup = Number(arg('warmup', '4'));
  const mine: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < warmup + runs; r++) {
    // Each build goes first in every other round.
    const a = r % 2 === 0 ? await once(r + 1) : null;
    const b = await once(r + 1, other);
    const c = a ?? (await once(r + 1));
    if (r < warmup) continue;
    mine.push(c.cpuUsPerDelivery);
    theirs.push(b.cpuUsPerDelivery);
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const fixed = (xs: number[]): number[] => xs.map((x) => Number(x.toFixed(3)));
  console.log(
    JSON.stringify({
      ...setting,
      against,
      cpuUsPerDeliveryMedian: Number(median(mine).toFixed(3)),
      againstCpuUsPerDeliveryMedian: Number(median(theirs).toFixed(3)),
      ratioOfMedians: Number((median(mine) / median(theirs)).toFixed(3)),
      // Each round's two runs ran next to each other: the median of their ratios follows the load's drift less.
      pairedRatioMedian: Number(median(mine.map((x, k) => x / theirs[k]!)).toFixed(3)),
      cpuUsPerDelivery: fixed(mine),
      againstCpuUsPerDelivery: fixed(theirs),
    }),
  );
} else {
  const results = [];
  for (let r = 0; r < runs; r++) results.push(await once(r + 1));
  const cpu = results.map((r) => r.cpuUsPerDelivery).sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      ...setting,
      cpuUsPerDeliveryMedian: Number(cpu[Math.floor(cpu.length / 2)]!.toFixed(3)),
      cpuUsPerDelivery: cpu.map((x) => Number(x.toFixed(3))),
      simMs: results.map((r) => r.simMs),
    }),
  );
}
