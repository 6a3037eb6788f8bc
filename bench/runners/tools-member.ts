// One member process of the tools benchmark: joins the tools' groups and serves until killed.
// Run by bench/runners/tools.ts as `tools-member.ts <listen> <seeds...>`; prints `ready <id>`.
import { createNode, LockService, ReplicatedMap, ReplicatedService } from '../../src/index.js';

const [listen, ...seeds] = process.argv.slice(2);
const node = await createNode({ listen: listen!, seeds });
const rpc = await node.join('bench-rpc');
rpc.onCall((d) => d.payload);
await ReplicatedMap.join(node, 'bench-map');
await LockService.join(node, 'bench-locks');
let n = 0;
await ReplicatedService.join(node, 'bench-service', { apply: () => ++n, snapshot: () => n, restore: (s) => void (n = s as number) });
console.log(`ready ${rpc.localId}`);
