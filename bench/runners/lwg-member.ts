// One member process of the light-weight groups benchmark (bench/runners/lwg.ts). Run as
// `lwg-member.ts <listen> <seeds...>` (with --expose-gc); talks on stdin/stdout, one line each:
//   prints `ready <member id>` once in the heavy-weight group;
//   `members K`   -> `members` once the HWG view has K members;
//   `join N`      -> `heap <bytes>` (after a GC, before joining), then `joined <ms>` once all N
//                    light-weight groups are joined and each has every HWG member in its view;
//   `heap`        -> `heap <bytes>` after a GC.
import { createInterface } from 'node:readline';
import { createNode, LightweightGroups, type LightweightGroup } from '../../src/index.js';
import { pinoLogger } from '../../src/obs/pino-logger.js';

const [listen, ...seeds] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};
const node = await createNode({ listen: listen!, seeds, logger: pinoLogger({ level: 'error' }) });
const lw = await LightweightGroups.open(node, 'bench-lwg');
const hwg = lw.heavyweight!;
console.log(`ready ${hwg.localId}`);

const waitFor = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
};
let groups: LightweightGroup[] = [];
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  void (async () => {
    if (cmd === 'members') {
      await waitFor(() => hwg.view.members.length >= Number(arg));
      console.log('members');
    } else if (cmd === 'join') {
      const n = Number(arg);
      console.log(`heap ${heap()}`);
      const t0 = performance.now();
      groups = await lw.joinMany(Array.from({ length: n }, (_, i) => `doc-${i}`));
      const k = hwg.view.members.length;
      await waitFor(() => groups.every((g) => g.view.members.length >= k));
      console.log(`joined ${(performance.now() - t0).toFixed(1)}`);
    } else if (cmd === 'heap') {
      console.log(`heap ${heap()}`);
    }
  })();
});
