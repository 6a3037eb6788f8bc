// What the in-process micro-benchmarks share: the build a run uses (this checkout's or another's,
// loaded into the same process so that contention falls on both alike) and their command-line options.
import type { Group } from '../../src/api/group.js';
import { HorusNode } from '../../src/api/node.js';
import { SimWorld } from '../../src/sim/sim-world.js';

/** What a run needs of a build: its node and its simulator. */
export interface Build {
  HorusNode: typeof HorusNode;
  SimWorld: typeof SimWorld;
}

/** This checkout. */
export const thisBuild: Build = { HorusNode, SimWorld };

/** Another checkout of Horus (a worktree of main, say), its TypeScript sources loaded into this process. */
export async function loadBuild(dir: string): Promise<Build> {
  return {
    HorusNode: ((await import(`${dir}/src/api/node.ts`)) as { HorusNode: typeof HorusNode }).HorusNode,
    SimWorld: ((await import(`${dir}/src/sim/sim-world.ts`)) as { SimWorld: typeof SimWorld }).SimWorld,
  };
}

/**
 * A fixed group of `members` on the simulator's network (every frame delayed 0.05 ms, up to
 * `jitterMs` more), formed, with one counter of what all its members delivered.
 */
export function fixedGroup(build: Build, seed: number, members: number, jitterMs: number) {
  const world = new build.SimWorld(seed, { delayMs: 0.05, jitterMs });
  const endpoints = Array.from({ length: members }, (_, i) => `m${i + 1}:1`);
  const nodes = endpoints.map((e) => new build.HorusNode(world.addNode(e, '1').env));
  const groups = nodes.map((n) => n.joinNow('g', { members: endpoints }));
  const counter = { delivered: 0 };
  for (const g of groups) g.on('message', () => counter.delivered++);
  world.runFor(10);
  return { world, nodes, groups, counter };
}

/** The value after `--name` on the command line, else `dflt`. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

/** The workload options both micro benches take: --order, --members, --count, --size, --burst (defaults per bench). */
export function workloadArgs(defaults: { order: string; count: number }): {
  order: Parameters<Group['cast']>[0];
  members: number;
  count: number;
  size: number;
  burst: number;
} {
  return {
    order: arg('order', defaults.order) as Parameters<Group['cast']>[0],
    members: Number(arg('members', '3')),
    count: Number(arg('count', String(defaults.count))),
    size: Number(arg('size', '100')),
    burst: Number(arg('burst', '500')),
  };
}
