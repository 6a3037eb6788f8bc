// A configuration map replicated on three nodes in this process: writes by abcast, the same
// order everywhere; compare-and-set; a linearizable read; a joiner gets the map by state transfer.
// Run: npx tsx examples/replicated-map/run.ts
import { createNode, ReplicatedMap, type HorusError } from '../../src/index.js';

const base = 17_000 + Math.floor(Math.random() * 20_000);
const seeds = [`127.0.0.1:${base}`];
const nodes = [await createNode({ listen: seeds[0]! })];
const maps = [await ReplicatedMap.join<string | number>(nodes[0]!, 'config')];
for (let i = 1; i < 3; i++) {
  nodes.push(await createNode({ listen: `127.0.0.1:${base + i}`, seeds }));
  maps.push(await ReplicatedMap.join<string | number>(nodes[i]!, 'config'));
}
maps[2]!.on('change', (c) => console.log(`replica 3 saw ${c.key} = ${JSON.stringify(c.value)} (was ${JSON.stringify(c.previous)}) by ${c.by}`));

// Three writers race: every replica applies them in the same order.
await Promise.all(maps.map((m, i) => m.set('leader', `node-${i}`)));
await maps[0]!.set('version', 1, { safe: true }); // delivered once every member holds it
const won = await Promise.all(maps.map((m, i) => m.compareAndSet('version', 1, 10 + i)));
console.log(`compareAndSet winners: ${won.map((w, i) => (w ? `replica ${i + 1}` : '')).join('')}`);
console.log(`linearizable read of version on replica 2: ${await maps[1]!.get('version', { linearizable: true })}`);
try {
  await maps[0]!.compareAndSet('missing', 0, 1);
} catch (err) {
  console.log(`compareAndSet on a missing key: ${(err as HorusError).code}`);
}

nodes.push(await createNode({ listen: `127.0.0.1:${base + 3}`, seeds }));
const joiner = await ReplicatedMap.join<string | number>(nodes[3]!, 'config');
console.log('joiner has', JSON.stringify(joiner.entries()));
const same = [...maps, joiner].every((m) => JSON.stringify(m.entries()) === JSON.stringify(maps[0]!.entries()));
console.log(`all four replicas equal: ${same}`);
for (const n of nodes) await n.close();
process.exit(same ? 0 : 1);
