import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOOL_STACK, ToolCluster } from '../../../helpers/tools-cluster.js';
import { JobsService } from '../../../../src/services/jobs/jobs-service.js';
import type { JobContext, JobHandler } from '../../../../src/services/jobs/job-runner.js';
import { servicesOf } from '../../../../src/services/registry.js';

/** Every run of every job in world time: who ran it, with which placement, from when to when (null: still running). */
interface Run {
  member: string;
  id: string;
  placement: number;
  from: number;
  to: number | null;
}

function jobsCluster(
  n: number,
  seed: number,
  more: { handlers?: (ep: string, c: ToolCluster) => Record<string, JobHandler>; graceMs?: number } = {},
): { c: ToolCluster; svcs: JobsService[]; runs: Run[]; eps: string[] } {
  const c = new ToolCluster(seed, 'jobs');
  const runs: Run[] = [];
  const svcs: JobsService[] = [];
  const eps: string[] = [];
  for (let i = 0; i < n; i++) {
    const ep = `w${i + 1}:1`;
    eps.push(ep);
    const work = (ctx: JobContext): Promise<number> => {
      const run: Run = { member: ep, id: ctx.id, placement: ctx.token.placement, from: c.world.now(), to: null };
      runs.push(run);
      return new Promise((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          run.to = c.world.now();
          resolve(0);
        });
      });
    };
    const s = new JobsService({
      resources: { labels: ['worker'], cpus: 2 },
      handlers: { work, ...(more.handlers?.(ep, c) ?? {}) },
      wallClock: () => c.world.now(),
      ...(more.graceMs !== undefined ? { graceMs: more.graceMs } : {}),
    });
    const g = c.add(ep, s.state);
    s.attach(c.nodes.get(ep)!, g);
    svcs.push(s);
    c.run(200);
  }
  c.run(1500);
  return { c, svcs, runs, eps };
}

/** Run virtual time with microtask turns between steps (handlers' promises settle in them). */
async function steps(c: ToolCluster, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    c.run(10);
    await new Promise((r) => setImmediate(r));
  }
}

/** No two runs of one job overlap in world time, counting a crashed member's run as ended at its crash. */
function assertNeverTwice(runs: Run[], endOf: (r: Run) => number): void {
  const byJob = new Map<string, Run[]>();
  for (const r of runs) byJob.set(r.id, [...(byJob.get(r.id) ?? []), r]);
  for (const [id, rs] of byJob) {
    rs.sort((a, b) => a.from - b.from);
    for (let i = 1; i < rs.length; i++)
      assert.ok(
        rs[i]!.from >= endOf(rs[i - 1]!),
        `${id}: placement ${rs[i]!.placement} started at ${rs[i]!.from} before ${rs[i - 1]!.placement} ended at ${endOf(rs[i - 1]!)}`,
      );
  }
}

describe('JobsService', () => {
  it('runs a job on one matching member; after that member crashes it runs on another, with a newer token, never two at once', async () => {
    const { c, svcs, runs } = jobsCluster(3, 41);
    const info = await c.settle(svcs[2]!.submit({ run: { kind: 'handler', handler: 'work', args: null }, needs: { labels: ['worker'], cpus: 1 } }));
    c.run(500);
    assert.equal(info.state, 'running');
    assert.equal(runs.length, 1);
    const first = runs[0]!;
    const victim = svcs.findIndex((s) => s.group.localId.startsWith(first.member));
    const crashedAt = c.world.now();
    c.world.crash(first.member);
    c.run(3000);
    const live = svcs.filter((_, i) => i !== victim);
    const second = runs.find((r) => r.member !== first.member);
    assert.ok(second, 'the job runs elsewhere');
    assert.ok(second.placement > first.placement);
    assert.ok(second.from - crashedAt < 2 * 400, `restarted ${second.from - crashedAt} ms after the crash (suspect timeout 400 ms)`);
    for (const s of live) {
      const j = s.list()[0]!;
      assert.equal(j.node, second.member === s.group.localId.split('/')[0] ? s.group.localId : j.node);
      assert.equal(j.restarts, 1);
    }
    assertNeverTwice(runs, (r) => (r === first ? crashedAt : (r.to ?? Infinity)));
  });

  it('a member cut off as a minority stops its job before the majority starts it elsewhere', async () => {
    const { c, svcs, runs, eps } = jobsCluster(3, 42);
    await c.settle(svcs[0]!.submit({ run: { kind: 'handler', handler: 'work', args: null } }));
    c.run(500);
    const first = runs[0]!;
    c.world.isolate(first.member);
    c.run(4000);
    assert.ok(first.to !== null, 'the cut-off member stopped its copy');
    const second = runs.find((r) => r.member !== first.member);
    assert.ok(second, 'the majority runs it');
    assert.ok(second.from > first.to, `started elsewhere at ${second.from}, the cut-off copy stopped at ${first.to}`);
    c.world.heal();
    c.run(6000);
    assertNeverTwice(runs, (r) => r.to ?? Infinity);
    // Every member that rejoined agrees on the one placement.
    const tables = svcs.map((s) => s.list()[0]!.token);
    assert.ok(
      tables.every((t) => t?.placement === tables[0]?.placement),
      JSON.stringify(tables),
    );
    assert.equal(eps.length, 3);
  });

  it('gives a failing job up after the policy and reports it failed; a joiner gets the table by state transfer', async () => {
    const { c, svcs } = jobsCluster(2, 43);
    const node = c.nodes.get('w1:1')!;
    // A handler that fails at once: registered on a fresh member that joins.
    const failing = new JobsService({
      resources: { labels: ['flaky'] },
      handlers: { fail: () => Promise.reject(new Error('boom')) },
      wallClock: () => c.world.now(),
    });
    failing.attach(
      c.nodes.get('w3:1') ?? c.start('w3:1'),
      c.nodes.get('w3:1')!.joinNow('jobs', { contacts: ['w1:1'], stack: TOOL_STACK, state: failing.state }),
    );
    await steps(c, 2000);
    const j = await c.settle(
      svcs[0]!.submit({
        run: { kind: 'handler', handler: 'fail', args: 1 },
        needs: { labels: ['flaky'] },
        restart: 'always',
        giveUp: { maxFailures: 3, windowMs: 10_000 },
      }),
    );
    await steps(c, 3000);
    for (const s of [...svcs, failing]) {
      const now = s.list().find((x) => x.id === j.id)!;
      assert.equal(now.state, 'failed', s.group.localId);
      assert.match(now.reason!, /gave up: 3 failures within 10 s/);
      assert.equal(now.restarts, 2);
    }
    // The registry lists the service with its jobs.
    const listed = servicesOf(node).find((s) => s.kind === 'jobs');
    assert.ok(listed);
    assert.equal((listed.status.summary as { failed: number }).failed, 1);
  });

  it('a handler job is told to stop through its signal (cancelled, cut off, leaving) and counts as running until it returns; one that ignores it is let go after graceMs', async () => {
    /** Each stop a handler heard: the job, why, and when it returned (it tidies up for 150 ms first). */
    const stops: { ep: string; id: string; code: string; why: string; returned: number | null }[] = [];
    const handlers = (ep: string, c: ToolCluster): Record<string, JobHandler> => ({
      tidy: (ctx: JobContext) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            const reason = ctx.signal.reason as { code: string; message: string };
            const s = { ep, id: ctx.id, code: reason.code, why: reason.message, returned: null as number | null };
            stops.push(s);
            c.nodes.get(ep)!.env.setTimer(150, () => {
              s.returned = c.world.now();
              resolve(0);
            });
          });
        }),
      deaf: () => new Promise(() => {}),
    });
    const { c, svcs } = jobsCluster(4, 44, { handlers, graceMs: 500 });
    const where = (id: string): JobsService => svcs.find((s) => s.runningHere().some((r) => r.id === id))!;
    const tidy = { run: { kind: 'handler' as const, handler: 'tidy', args: null }, restart: 'always' as const };

    // Cancelled: the signal aborts; the job counts as running (stopping) until the handler returns.
    const a = await c.settle(svcs[0]!.submit(tidy));
    await steps(c, 300);
    const runner = where(a.id);
    await c.settle(svcs[1]!.cancel(a.id));
    await steps(c, 50);
    assert.deepEqual(
      runner.runningHere().map((r) => [r.id, r.stopping]),
      [[a.id, true]],
    );
    await steps(c, 300);
    assert.deepEqual(runner.runningHere(), []);
    assert.equal(stops.length, 1);
    assert.equal(stops[0]!.code, 'ERR_NOT_HOLDER');
    assert.match(stops[0]!.why, /no longer its holder/);
    assert.ok(stops[0]!.returned !== null);

    // Cut off as a minority: it stops before the majority runs the job elsewhere.
    const b = await c.settle(svcs[0]!.submit(tidy));
    await steps(c, 300);
    const cut = where(b.id);
    const cutEp = cut.group.localId.split('/')[0]!;
    c.world.isolate(cutEp);
    await steps(c, 3000);
    const stopB = stops.find((s) => s.id === b.id)!;
    assert.match(stopB.why, /may no longer run jobs/);
    assert.ok(stopB.returned !== null, 'the cut-off handler returned');
    const elsewhere = svcs.find((s) => s !== cut && s.runningHere().some((r) => r.id === b.id));
    assert.ok(elsewhere, 'the majority runs it elsewhere');
    c.world.heal();
    await steps(c, 4000);

    // Leaving: close() resolves only once the handler has returned.
    const leaver = where(b.id);
    const leaverEp = leaver.group.localId.split('/')[0]!;
    let closed = false;
    const closing = leaver.close().then(() => (closed = true));
    await steps(c, 50);
    assert.equal(closed, false, 'close waits for the handler');
    await c.settle(closing);
    const stopLeave = stops.find((s) => s.ep === leaverEp && s.id === b.id && /service closed/.test(s.why));
    assert.ok(stopLeave?.returned !== null && stopLeave?.returned !== undefined, JSON.stringify(stops));

    // A handler that ignores its signal is let go graceMs after the abort.
    const live = svcs.filter((s) => s !== leaver && s !== cut);
    const d = await c.settle(live[0]!.submit({ run: { kind: 'handler', handler: 'deaf', args: null } }));
    await steps(c, 300);
    const deafRunner = where(d.id);
    await c.settle(live[0]!.cancel(d.id));
    await steps(c, 100);
    const deafHere = (): string[] => deafRunner.runningHere().flatMap((r) => (r.id === d.id ? [`${r.id} ${r.stopping ? 'stopping' : 'running'}`] : []));
    assert.deepEqual(deafHere(), [`${d.id} stopping`], 'still counted while within graceMs');
    await steps(c, 600);
    assert.deepEqual(deafHere(), []);
  });
});
