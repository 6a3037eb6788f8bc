import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { wallNow, wallOffset, wallOffsetError } from '../../../src/obs/wall-clock.js';

describe('wall clock', () => {
  it('reads the same millisecond as Date.now(), with sub-ms precision', () => {
    for (let i = 0; i < 200; i++) {
      const before = Date.now();
      const w = wallNow();
      const after = Date.now();
      assert.ok(w >= before && w < after + 1, `wallNow ${w} outside Date.now() [${before}, ${after + 1})`);
    }
    // Sub-ms: the offset is not whole milliseconds (a chance of about 1 in 10^6 of a false failure).
    const frac = Math.abs(wallOffset() % 1);
    assert.ok(frac > 1e-6 && frac < 1 - 1e-6);
    // The bracket around the tick is a few clock reads wide, not a millisecond.
    assert.ok(wallOffsetError() >= 0 && wallOffsetError() < 0.25, `offset known only to ±${wallOffsetError()} ms`);
  });

  it('agrees across processes to within a pipe round trip', { timeout: 60_000 }, async () => {
    // A child answers each line with its wall clock and how far its offset can be off; the answer of the
    // quickest round trip must fall inside that round trip as our clock saw it, widened by both clocks'
    // stated error. The child ends when its input does (never killed mid-work).
    const code = `import { wallNow, wallOffsetError } from './src/obs/wall-clock.ts'; process.stdin.on('data', () => process.stdout.write(wallNow() + ' ' + wallOffsetError() + '\\n')); process.stdin.on('end', () => process.exit(0));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const lines = createInterface({ input: child.stdout });
    const answers = lines[Symbol.asyncIterator]();
    let best = { rtt: Infinity, before: 0, after: 0, child: 0, childError: 0 };
    try {
      for (let i = 0; i < 200; i++) {
        const before = wallNow();
        child.stdin.write('?\n');
        const next = await answers.next();
        const after = wallNow();
        if (next.done === true) throw new Error(`the child closed its output: ${stderr}`);
        const [childWall = NaN, childError = NaN] = next.value.split(' ').map(Number);
        if (after - before < best.rtt) best = { rtt: after - before, before, after, child: childWall, childError };
      }
    } finally {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      lines.close();
    }
    assert.ok(best.rtt < 5, `no round trip under 5 ms (best ${best.rtt})`);
    const slack = wallOffsetError() + best.childError;
    assert.ok(best.childError < 0.25, `child's offset known only to ±${best.childError} ms`);
    assert.ok(
      best.child >= best.before - slack && best.child <= best.after + slack,
      `child read ${best.child}, outside [${best.before}, ${best.after}] ± ${slack}`,
    );
  });
});
