import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Env, Timer } from '../../../src/core/env.js';
import { every } from '../../../src/core/env.js';
import { ContainedEnv } from '../../../src/stack/contained-env.js';
import { alignedEvery } from '../../../src/transport/aligned-ticks.js';

const moduleUrl = new URL('../../../src/transport/aligned-ticks.ts', import.meta.url).href;

describe('aligned periodic timers (real processes)', () => {
  it('runs the callbacks of one period in one wake-up, though they were added tens of ms apart', async () => {
    const at: number[][] = [[], [], []];
    const timers: Timer[] = [];
    for (let i = 0; i < 3; i++) {
      timers.push(alignedEvery(60, () => at[i]!.push(performance.now())));
      await sleep(25);
    }
    await sleep(400);
    for (const t of timers) t.cancel();
    const [a, b, c] = at as [number[], number[], number[]];
    assert.ok(c.length >= 5, `the last one ran ${c.length} times in 400 ms at a 60 ms period`);
    // Each run of the last one came with a run of the first two, within the same wake-up.
    for (const t of c) {
      assert.ok(
        a.some((x) => Math.abs(x - t) < 2),
        `a run at ${t.toFixed(1)} had no run of the first beside it`,
      );
      assert.ok(b.some((x) => Math.abs(x - t) < 2));
    }
    // Still once a period each: the runs are a period apart.
    for (let k = 1; k < c.length; k++) assert.ok(c[k]! - c[k - 1]! >= 50, `runs ${c[k - 1]} and ${c[k]}`);
  });

  it('a cancelled callback runs no more, and one cancelled by another in the same wake-up does not run in it', async () => {
    let runs = 0;
    let other: Timer | null = null;
    const first = alignedEvery(20, () => other?.cancel());
    other = alignedEvery(20, () => runs++);
    await sleep(100);
    first.cancel();
    assert.equal(runs, 0);
    const t = alignedEvery(20, () => runs++);
    await sleep(70);
    t.cancel();
    const seen = runs;
    assert.ok(seen >= 2);
    await sleep(70);
    assert.equal(runs, seen);
  });

  it('keeps the process alive only while a callback that asked for it (ref) is registered', () => {
    const run = (body: string): { status: number | null; out: string } => {
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', `const { alignedEvery } = await import(${JSON.stringify(moduleUrl)});\n${body}`],
        {
          timeout: 20_000,
          cwd: fileURLToPath(new URL('../../..', import.meta.url)),
        },
      );
      return { status: r.status, out: String(r.stdout).trim() };
    };
    // Unref'd only (the transport's liveness check): the process exits at once.
    const unref = run('let n = 0; alignedEvery(10, () => n++, { ref: false }); process.on("exit", () => console.log(n));');
    assert.deepEqual(unref, { status: 0, out: '0' });
    // A ref'd one keeps it up until it is cancelled (here after 5 ticks).
    const kept = run(
      'let n = 0; const t = alignedEvery(50, () => { if (++n === 5) { t.cancel(); } }); alignedEvery(50, () => {}, { ref: false }); process.on("exit", () => console.log(n));',
    );
    assert.deepEqual(kept, { status: 0, out: '5' });
  });

  it('a stack’s periodic timers on the node’s aligned ticks stop when the stack is killed', async () => {
    let runs = 0;
    const inner = { every: (ms: number, fn: () => void) => alignedEvery(ms, fn), transport: { localId: 'a:1/1', maxFrameSize: 1 } } as unknown as Env;
    const env = new ContainedEnv(inner, () => {});
    every(env, 20, () => runs++);
    await sleep(90);
    assert.ok(runs >= 2, `${runs} runs`);
    env.kill();
    const seen = runs;
    await sleep(60);
    assert.equal(runs, seen, 'nothing ran after the kill');
    // Nothing left registered: a ref'd callback would keep this test process alive (the runner would time out).
  });
});
