/**
 * The monitor's promises, read from a recorded history (src/sim/scenario-monitor.ts records it):
 * - agreement: every live member ends with the same firing history (rule, episode, time, value,
 *   executor, attempt, outcome);
 * - once per episode: a rule fires at most once per condition episode. The workload makes episodes
 *   visible: in phase p the driving sensor reports the value `100 + p` (high) and then 0 (low), so a
 *   firing's value names its phase; two firings of one rule with one phase value are a double fire;
 * - liveness: every phase run once the faults are over fires each rule exactly once, and every
 *   firing has an ok outcome by the end;
 * - the action's effect: an action writes its effect into a store keyed by the firing's key
 *   (`rule#episode`); every firing of the final history has its key in the store, and the store holds
 *   no key that no firing has (the effect is observed once per episode);
 * - no double run: an attempt of a firing runs on at most one member, and a firing runs again
 *   (attempt k + 1) only after the member that ran attempt k left a view (crashed, cut off or
 *   suspected), after that run began.
 */
import type { Firing } from '../../services/monitor/monitor-table.js';
import type { ViolationList } from './violation.js';

/** A firing as a member's history holds it at the end (`ok`: its outcome's, null while not done). */
export type FiringRecord = Omit<Firing, 'outcome'> & { ok: boolean | null };

export type MonitorEvent =
  /** The driver starts phase `phase` (its high half); `calm`: the faults are over. */
  | { k: 'phase'; at: number; phase: number; calm: boolean }
  /** A member starts an action (attempt `attempt` of the firing keyed `key`). */
  | { k: 'invoke'; at: number; member: string; key: string; attempt: number }
  /** An action writes its effect (the store keeps the first write of a key). */
  | { k: 'effect'; at: number; member: string; key: string; attempt: number }
  /** A member saw a view without `member`, which was in its previous view. */
  | { k: 'gone'; at: number; member: string }
  /** A live member's firing history at the end. */
  | { k: 'final'; at: number; member: string; history: FiringRecord[] }
  /** The rules (by their normalised text) whose episodes follow the phases exactly. */
  | { k: 'rules'; at: number; exact: string[]; all: string[] };

export const firingKey = (rule: string, episode: number): string => `${rule}#${episode}`;

const phaseOf = (value: number): number => Math.round(value - 100);

export function checkMonitor(events: readonly MonitorEvent[], v: ViolationList): void {
  const finals = events.filter((e): e is Extract<MonitorEvent, { k: 'final' }> => e.k === 'final');
  const rules = events.find((e): e is Extract<MonitorEvent, { k: 'rules' }> => e.k === 'rules');
  if (finals.length === 0) {
    v.add('monitor-liveness', 'no live member at the end');
    return;
  }
  // Agreement.
  const ref = finals[0]!;
  const refText = JSON.stringify(ref.history);
  for (const f of finals.slice(1))
    if (JSON.stringify(f.history) !== refText)
      v.add('monitor-agreement', `${f.member} ends with ${JSON.stringify(f.history).slice(0, 400)}; ${ref.member} with ${refText.slice(0, 400)}`);
  const history = ref.history;

  // Episodes: numbered 1, 2, ... per rule; at most one firing per phase for the exact rules.
  const byRule = new Map<string, FiringRecord[]>();
  for (const f of history) byRule.set(f.rule, [...(byRule.get(f.rule) ?? []), f]);
  for (const [rule, fs] of byRule)
    fs.forEach((f, i) => {
      if (f.episode !== i + 1) v.add('monitor-episodes', `${rule}: firing ${i + 1} is episode ${f.episode}`);
    });
  const phases = events.filter((e): e is Extract<MonitorEvent, { k: 'phase' }> => e.k === 'phase');
  const calmPhases = phases.filter((p) => p.calm).map((p) => p.phase);
  for (const rule of rules?.exact ?? []) {
    const seen = new Map<number, number>();
    for (const f of byRule.get(rule) ?? []) {
      const p = phaseOf(f.value);
      if (!phases.some((x) => x.phase === p)) v.add('monitor-spurious-firing', `${rule} fired with value ${f.value}, of no phase`);
      seen.set(p, (seen.get(p) ?? 0) + 1);
    }
    for (const [p, n] of seen) if (n > 1) v.add('monitor-double-fire', `${rule} fired ${n} times in the one episode of phase ${p}`);
  }
  // Liveness: every phase after the faults fires every rule exactly once; every firing is done, and ok.
  for (const rule of rules?.all ?? []) {
    const fs = byRule.get(rule) ?? [];
    for (const p of calmPhases) {
      const n = fs.filter((f) => phaseOf(f.value) === p).length;
      if (n !== 1) v.add(n === 0 ? 'monitor-liveness' : 'monitor-double-fire', `${rule} fired ${n} times in phase ${p}, after the faults`);
    }
  }
  for (const f of history)
    if (f.ok !== true)
      v.add('monitor-liveness', `${firingKey(f.rule, f.episode)} ends ${f.ok === null ? 'not done' : 'failed'} (executor ${f.executor}, attempt ${f.attempt})`);

  // Effects: one key per firing, none for what did not fire.
  const keys = new Set(history.map((f) => firingKey(f.rule, f.episode)));
  const stored = new Set<string>();
  for (const e of events) if (e.k === 'effect') stored.add(e.key);
  for (const k of keys) if (!stored.has(k)) v.add('monitor-effect-lost', `no effect for ${k}`);
  for (const k of stored) if (!keys.has(k)) v.add('monitor-effect-spurious', `an effect for ${k}, which no member's history has`);

  // Runs: one member per attempt; a next attempt only after a fault of the previous run's node.
  const invokes = events.filter((e): e is Extract<MonitorEvent, { k: 'invoke' }> => e.k === 'invoke');
  const gone = events.filter((e): e is Extract<MonitorEvent, { k: 'gone' }> => e.k === 'gone');
  const byKey = new Map<string, Extract<MonitorEvent, { k: 'invoke' }>[]>();
  for (const e of invokes) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  for (const [key, runs] of byKey) {
    const final = history.find((f) => firingKey(f.rule, f.episode) === key);
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i]!;
      const twin = runs.slice(0, i).find((x) => x.attempt === r.attempt);
      if (twin) {
        v.add('monitor-double-run', `${key} attempt ${r.attempt} ran on ${twin.member} and on ${r.member}`);
        continue;
      }
      const before = runs.slice(0, i).filter((x) => x.attempt < r.attempt);
      const prev = before.at(-1);
      if (prev && !gone.some((g) => g.member === prev.member && g.at >= prev.at && g.at <= r.at))
        v.add(
          'monitor-double-run',
          `${key} ran again (attempt ${r.attempt} on ${r.member}) though ${prev.member}, which ran attempt ${prev.attempt}, stayed in the view`,
        );
      if (final && r.attempt > final.attempt) v.add('monitor-double-run', `${key} attempt ${r.attempt} ran, but the history ends at attempt ${final.attempt}`);
    }
  }
}
