// The cryptography of one re-key, apart from the view change that carries it: the coordinator draws a
// view key and seals it to each of n members (one ephemeral X25519 pair, n ECDH, n AES-GCM wraps), and a
// member opens its copy (one ECDH, one unwrap). The bench's rekey cases time the whole view change on
// real processes; this says how much of it the keys are, at 5, 9 and 20 members (Ensemble: ~100 ms at 20).
//
//   npx tsx bench/micro/rekey-cpu.ts [--reps 200]
import type { Env } from '../../src/core/env.js';
import type { View } from '../../src/core/view.js';
import { ViewKeys } from '../../src/layers/gms/view-keys.js';
import { randomBytes } from 'node:crypto';

const i = process.argv.indexOf('--reps');
const reps = i >= 0 ? Number(process.argv[i + 1]) : 200;
const env = { randomBytes: (n: number) => randomBytes(n) } as unknown as Env;

const out: Record<string, unknown> = { reps };
for (const n of [5, 9, 20]) {
  const ids = Array.from({ length: n }, (_, k) => `127.0.0.1:${7000 + k}/m${k}`);
  const members = ids.map((id) => new ViewKeys(env, 'g', id));
  const coord = members[0]!;
  let sealUs = 0;
  let openUs = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = process.cpuUsage();
    const { keys } = coord.seal(r + 2, ids, (m) => members[ids.indexOf(m)]!.publicKey);
    const t1 = process.cpuUsage(t0);
    const view: View = { group: 'g', id: r + 2, members: ids };
    const m = members[1 + (r % (n - 1))]!;
    const t2 = process.cpuUsage();
    if (!m.install(view, keys)) throw new Error('a member could not open its key');
    const t3 = process.cpuUsage(t2);
    sealUs += t1.user + t1.system;
    openUs += t3.user + t3.system;
  }
  out[`n${n}`] = { sealMs: Number((sealUs / reps / 1000).toFixed(3)), openMs: Number((openUs / reps / 1000).toFixed(3)) };
}
console.log(JSON.stringify(out));
