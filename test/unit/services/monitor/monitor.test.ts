import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TOOL_STACK, ToolCluster } from '../../../helpers/tools-cluster.js';
import { MonitorService, type ActionContext } from '../../../../src/services/monitor/monitor-service.js';
import { MonitorTable } from '../../../../src/services/monitor/monitor-table.js';
import { parseRule } from '../../../../src/services/monitor/rule.js';

async function steps(c: ToolCluster, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    c.run(10);
    await new Promise((r) => setImmediate(r));
  }
}

/** n members of a monitor group; `act` is every member's `act` action. */
async function monitorCluster(
  n: number,
  seed: number,
  act: (member: string, ctx: ActionContext) => unknown,
): Promise<{ c: ToolCluster; mons: MonitorService[]; eps: string[] }> {
  const c = new ToolCluster(seed, 'monitor');
  const mons: MonitorService[] = [];
  const eps: string[] = [];
  for (let i = 0; i < n; i++) {
    const ep = `m${i + 1}:1`;
    eps.push(ep);
    const m = new MonitorService({ actions: { act: (ctx) => act(ep, ctx) }, wallClock: () => c.world.now(), tickMs: 200 });
    c.start(ep);
    const g = c.nodes.get(ep)!.joinNow('monitor', { contacts: eps.slice(0, i), stack: TOOL_STACK, state: m.state });
    m.attach(c.nodes.get(ep)!, g);
    mons.push(m);
    await steps(c, 200);
  }
  await steps(c, 1500);
  return { c, mons, eps };
}

describe('monitor rules', () => {
  it('parses rules and refuses what is not one', () => {
    const r = parseRule('when avg(queue_len) > 100 for 10s then page oncall');
    assert.deepEqual([r.agg, r.metric, r.op, r.threshold, r.forMs, r.action, r.args], ['avg', 'queue_len', '>', 100, 10_000, 'page', ['oncall']]);
    assert.equal(parseRule('WHEN last(members) < 3 THEN log').forMs, 0);
    for (const bad of ['', 'avg(x) > 1', 'when avg(x) > then log', 'when median(x) > 1 then log', 'when avg(x) > 1 for 10h then log', 'x'.repeat(2000), 42])
      assert.throws(() => parseRule(bad), { code: 'ERR_INVALID_ARGUMENT' }, String(bad).slice(0, 40));
  });

  it('refuses bad samples and snapshots', () => {
    const t = new MonitorTable();
    assert.throws(() => t.sample('a', 'x', Number.NaN, 1), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.sample('a', 'bad name', 1, 1), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.sample('a', 'members', 1, 1), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => t.sample('a', 'x', 1, 'now'), { code: 'ERR_MALFORMED' });
    assert.throws(() => t.restore({ v: 9 }), { code: 'ERR_STATE_TRANSFER' });
  });

  it('an episode fires once (after its duration), ends when the condition stops holding, and the next fires again', () => {
    const t = new MonitorTable();
    t.viewChanged(['a', 'b']);
    t.addRule('when avg(load) > 10 for 1s then log');
    t.sample('a', 'load', 20, 1000);
    t.sample('b', 'load', 30, 1500);
    assert.equal(t.history().length, 0, 'not for 1 s yet');
    t.tick(2000);
    t.sample('a', 'load', 25, 2100);
    t.tick(3000);
    assert.equal(t.history().length, 1);
    assert.deepEqual([t.history()[0]!.episode, t.history()[0]!.executor], [1, 'a']);
    t.sample('a', 'load', 0, 3100);
    t.sample('b', 'load', 0, 3200);
    t.sample('a', 'load', 50, 3300);
    assert.equal(t.history().length, 1, 'avg 25 again, but not for 1 s');
    t.tick(4400);
    assert.equal(t.history().length, 2);
    assert.equal(t.history()[1]!.episode, 2);
  });

  it('a firing carries the time of a stamped operation in the order, never 0 (the clock starts with the first stamp)', () => {
    const t = new MonitorTable();
    t.viewChanged(['a']);
    const at = Date.UTC(2026, 11, 2, 16, 0, 0);
    // A client's rule carries no time: nothing fires before the group's clock has started...
    t.addRule('when last(members) < 3 then log');
    assert.equal(t.history().length, 0);
    // ...and the first tick fires it at that tick's time.
    t.tick(at);
    assert.deepEqual(
      t.history().map((f) => f.at),
      [at],
    );
    // A member's rule carries its wall clock, which the firing takes.
    const u = new MonitorTable();
    u.viewChanged(['a']);
    u.addRule('when last(members) < 3 for 1s then log', at + 5);
    assert.equal(u.history().length, 0, 'the duration runs from the rule, not from 0');
    u.tick(at + 1005);
    assert.deepEqual(
      u.history().map((f) => f.at),
      [at + 1005],
    );
    assert.throws(() => u.addRule('when last(members) < 1 then log', 'now'), { code: 'ERR_MALFORMED' });
  });
});

describe('MonitorService', () => {
  it('runs the action once per episode on one member; when that member crashes mid-action the next one finishes it, with the same key', {}, async () => {
    const calls: { member: string; key: string; attempt: number }[] = [];
    const { c, mons, eps } = await monitorCluster(3, 51, (member, ctx) => {
      calls.push({ member, key: ctx.key, attempt: ctx.attempt });
      // The first attempt never finishes: its member is about to crash.
      return ctx.attempt === 1 ? new Promise(() => {}) : 'paged';
    });
    await c.settle(mons[1]!.addRule('when max(queue_len) > 100 for 500ms then act'));
    await c.settle(mons[2]!.report('queue_len', 150));
    await steps(c, 1500);
    assert.equal(calls.length, 1, JSON.stringify(calls));
    const executor = calls[0]!.member;
    assert.equal(executor, eps[0], 'the oldest member runs it');
    c.world.crash(executor);
    await steps(c, 3000);
    const live = mons.filter((_, i) => eps[i] !== executor);
    assert.equal(calls.length, 2, JSON.stringify(calls));
    assert.equal(calls[1]!.key, calls[0]!.key);
    assert.equal(calls[1]!.attempt, 2);
    for (const m of live) {
      const h = m.history();
      assert.equal(h.length, 1, 'one firing for the episode');
      assert.deepEqual(h[0]!.outcome && [h[0]!.outcome.ok, h[0]!.outcome.detail], [true, 'paged']);
    }
    // The condition keeps holding: no second firing; it ends, holds again: episode 2, once.
    await c.settle(live[1]!.report('queue_len', 0));
    await steps(c, 800);
    await c.settle(live[1]!.report('queue_len', 500));
    await steps(c, 1500);
    assert.equal(calls.length, 3);
    for (const m of live)
      assert.deepEqual(
        m.history().map((f) => f.episode),
        [1, 2],
      );
  });

  it('a joiner gets rules and firings by state transfer; the view size is the members metric', async () => {
    const fired: string[] = [];
    const { c, mons } = await monitorCluster(3, 52, (member) => void fired.push(member));
    await c.settle(mons[0]!.addRule('when last(members) < 3 then act'));
    await steps(c, 500);
    c.world.crash('m3:1');
    await steps(c, 2000);
    assert.deepEqual(fired, ['m1:1']);
    const joiner = new MonitorService({ wallClock: () => c.world.now() });
    c.start('m4:1');
    joiner.attach(c.nodes.get('m4:1')!, c.nodes.get('m4:1')!.joinNow('monitor', { contacts: ['m1:1'], stack: TOOL_STACK, state: joiner.state }));
    await steps(c, 2000);
    assert.deepEqual(
      joiner.history().map((f) => f.rule),
      ['when last(members) < 3 then act'],
    );
    assert.equal(joiner.table.ruleStates()[0]!.state, 'ok', 'three members again: the episode is over');
  });
});
