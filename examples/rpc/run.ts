// Point-to-point messages and calls beside group traffic, on three nodes in this process (real
// TCP on loopback). A call to a member that leaves fails at once with ERR_MEMBER_LEFT, not at
// its timeout. Run: npx tsx examples/rpc/run.ts
import { createNode, HorusError, type Group } from '../../src/index.js';

const base = 17_000 + Math.floor(Math.random() * 20_000);
const nodes = [];
const groups: Group[] = [];
for (let i = 0; i < 3; i++) {
  const node = await createNode({ listen: `127.0.0.1:${base + i}`, seeds: i === 0 ? [] : [`127.0.0.1:${base}`] });
  const group = await node.join('prices');
  nodes.push(node);
  groups.push(group);
}
const [a, b, c] = groups as [Group, Group, Group];
await new Promise((r) => setTimeout(r, 500)); // let every member see the three-member view

b.onCall((req) => ({ symbol: req.payload, price: 101.5, from: b.localId }));
c.onCall(() => new Promise(() => {})); // a member that never answers
b.on('direct', (d) => console.log(`b got a direct message from ${d.sender}: ${JSON.stringify(d.payload)}`));

await a.send(b.localId, { hello: 'only b hears this' });
let t = performance.now();
console.log('call b:', await a.call(b.localId, 'EURUSD'), `${(performance.now() - t).toFixed(2)} ms`);
t = performance.now();
for (let i = 0; i < 1000; i++) await a.call(b.localId, 'EURUSD');
console.log(`1000 calls in a row: ${((performance.now() - t) / 1000).toFixed(3)} ms each`);

t = performance.now();
const slow = a.call(c.localId, 'EURUSD', { timeoutMs: 30_000 }).catch((err: HorusError) => err);
await nodes[2]!.close(); // c leaves the group
const err = await slow;
console.log(`call to c: ${(err as HorusError).code} after ${(performance.now() - t).toFixed(0)} ms (timeout was 30 s)`);
try {
  await a.call('127.0.0.1:1/none', 'x');
} catch (err) {
  console.log(`call to a non-member: ${(err as HorusError).code}`);
}
for (const n of nodes.slice(0, 2)) await n.close();
process.exit((err as HorusError).code === 'ERR_MEMBER_LEFT' ? 0 : 1);
