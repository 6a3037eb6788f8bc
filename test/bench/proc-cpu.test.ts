import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuSecondsOf, cpuTimesOf, schedstatMs } from '../../bench/lib/proc-cpu.js';

describe('CPU time from /proc (bench/lib/proc-cpu.ts)', () => {
  it("reads this process's user and system seconds, which grow as it works", () => {
    const a = cpuTimesOf(process.pid);
    if (a === null) return; // not Linux: nothing to read
    const end = performance.now() + 50;
    while (performance.now() < end); // 50 ms on a core (at least 4 clock ticks once scheduled)
    const b = cpuSecondsOf(process.pid)!;
    assert.ok(a.user >= 0 && a.system >= 0);
    assert.ok(b >= a.user + a.system);
  });

  it('gives null for no process, a process that does not exist, and a missing schedstat', () => {
    assert.equal(cpuTimesOf(undefined), null);
    assert.equal(cpuSecondsOf(2 ** 30), null);
    assert.equal(schedstatMs(0, '/nonexistent/schedstat'), null);
  });

  it("reads the calling thread's run time in ms", () => {
    const run = schedstatMs(0);
    if (run === null) return;
    assert.ok(run > 0);
  });
});
