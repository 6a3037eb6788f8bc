import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkMonitor, firingKey, type FiringRecord, type MonitorEvent } from '../../../src/sim/checkers/monitor.js';
import { ViolationList } from '../../../src/sim/checkers/violation.js';
import { runMonitorScenarioAsync } from '../../../src/sim/scenario-monitor.js';

const RULE = 'when last(x) > 50 then act';
const firing = (episode: number, phase: number, extra: Partial<FiringRecord> = {}): FiringRecord => ({
  rule: RULE,
  episode,
  at: 1000 * phase,
  value: 100 + phase,
  executor: 'a/1',
  attempt: 1,
  ok: true,
  ...extra,
});
const base = (history: FiringRecord[]): MonitorEvent[] => [
  { k: 'rules', at: 0, exact: [RULE], all: [RULE] },
  { k: 'phase', at: 1000, phase: 1, calm: false },
  { k: 'phase', at: 2000, phase: 2, calm: true },
  ...history.map((f): MonitorEvent => ({ k: 'effect', at: f.at + 10, member: 'a/1', key: firingKey(f.rule, f.episode), attempt: 1 })),
  { k: 'final', at: 9000, member: 'a/1', history },
  { k: 'final', at: 9000, member: 'b/1', history },
];
const check = (ev: MonitorEvent[]): string[] => {
  const v = new ViolationList();
  checkMonitor(ev, v);
  return v.items.map((x) => x.property);
};

describe('the monitor checker', () => {
  it('accepts one firing per phase, each done with its effect, and a re-run after its runner left', () => {
    const h = [firing(1, 1, { attempt: 2, executor: 'b/1' }), firing(2, 2)];
    const key = firingKey(RULE, 1);
    const runs: MonitorEvent[] = [
      { k: 'invoke', at: 1100, member: 'a/1', key, attempt: 1 },
      { k: 'gone', at: 1200, member: 'a/1' },
      { k: 'invoke', at: 1300, member: 'b/1', key, attempt: 2 },
    ];
    assert.deepEqual(check([...base(h), ...runs]), []);
  });

  it('finds a double fire, a lost run, a lost or spurious effect, and disagreement', () => {
    assert.deepEqual(check(base([firing(1, 1), firing(2, 1), firing(3, 2)])), ['monitor-double-fire']);
    assert.deepEqual(check(base([firing(1, 1), firing(2, 2, { ok: null })])), ['monitor-liveness']);
    assert.deepEqual(check(base([firing(1, 1)])), ['monitor-liveness'], 'the calm phase did not fire');
    const noEffect = base([firing(1, 1), firing(2, 2)]).filter((e) => !(e.k === 'effect' && e.key === firingKey(RULE, 2)));
    assert.deepEqual(check(noEffect), ['monitor-effect-lost']);
    const extra: MonitorEvent = { k: 'effect', at: 5, member: 'a/1', key: firingKey(RULE, 9), attempt: 1 };
    assert.deepEqual(check([...base([firing(1, 1), firing(2, 2)]), extra]), ['monitor-effect-spurious']);
    const split = base([firing(1, 1), firing(2, 2)]).map((e) => (e.k === 'final' && e.member === 'b/1' ? { ...e, history: [firing(1, 1)] } : e));
    assert.ok(check(split).includes('monitor-agreement'));
  });

  it('finds an attempt run twice, and a re-run while the first runner stayed in the view', () => {
    const h = [firing(1, 1, { attempt: 2 }), firing(2, 2)];
    const key = firingKey(RULE, 1);
    const twice: MonitorEvent[] = [
      { k: 'invoke', at: 1100, member: 'a/1', key, attempt: 1 },
      { k: 'invoke', at: 1150, member: 'b/1', key, attempt: 1 },
    ];
    assert.deepEqual(check([...base(h), ...twice]), ['monitor-double-run']);
    const rerun: MonitorEvent[] = [
      { k: 'invoke', at: 1100, member: 'a/1', key, attempt: 1 },
      { k: 'gone', at: 1200, member: 'c/1' },
      { k: 'invoke', at: 1300, member: 'a/1', key, attempt: 2 },
    ];
    assert.deepEqual(check([...base(h), ...rerun]), ['monitor-double-run']);
  });
});

describe('the monitor scenario', () => {
  it('runs clean with the executor crashed mid-action, and finds a monitor that never re-runs and one that re-runs at every view', async () => {
    const ok = await runMonitorScenarioAsync({ seed: 4 });
    assert.equal(ok.violationCount, 0, JSON.stringify(ok.violations));
    assert.ok(ok.takenOver > 0, 'an executor was crashed or cut off mid-action, and another member took the firing over');
    const again = await runMonitorScenarioAsync({ seed: 4 });
    assert.equal(again.historyHash, ok.historyHash, 'a seed replays exactly');
    const noRerun = await runMonitorScenarioAsync({ seed: 4, broken: 'no-rerun' });
    assert.ok(
      noRerun.violations.some((v) => v.property === 'monitor-liveness'),
      JSON.stringify(noRerun.violations),
    );
    const everyView = await runMonitorScenarioAsync({ seed: 4, broken: 'rerun-every-view' });
    assert.ok(
      everyView.violations.some((v) => v.property === 'monitor-double-run'),
      JSON.stringify(everyView.violations),
    );
  });
});
