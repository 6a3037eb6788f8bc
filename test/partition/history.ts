// Reading and merging the histories that member processes record (one JSON event a line, `at` in ms
// since the epoch); test/integration/vsync-real-processes.test.ts uses them too.
import { readFileSync } from 'node:fs';
import type { HistoryEvent } from '../../src/core/history.js';
import type { ViolationList } from '../../src/sim/checkers/violation.js';

/** One process's events in file order; a torn last line (a SIGKILL mid-write) is skipped. */
export function readHistory(file: string): HistoryEvent[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: HistoryEvent[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as HistoryEvent);
    } catch {
      // torn line
    }
  }
  return out;
}

/**
 * Every process's events as one history: each file keeps its own order, events are taken by time,
 * and a delivery waits until its send is taken (clocks of local processes agree only to about a
 * millisecond), so the order checker's happened-before relation reads them as they happened.
 */
export function mergeHistories(queues: HistoryEvent[][]): HistoryEvent[] {
  const sent = new Set<string>();
  const allSends = new Set(queues.flat().flatMap((e) => (e.k === 'send' ? [e.msg] : [])));
  const heads = queues.map(() => 0);
  const merged: HistoryEvent[] = [];
  for (;;) {
    let best = -1;
    for (let q = 0; q < queues.length; q++) {
      const e = queues[q]![heads[q]!];
      if (e === undefined) continue;
      // A delivery of a message whose send is in no file goes as it is: the checker reports it.
      if (e.k === 'deliver' && !sent.has(e.msg) && allSends.has(e.msg)) continue;
      if (best < 0 || e.at < queues[best]![heads[best]!]!.at) best = q;
    }
    if (best < 0) break;
    const e = queues[best]![heads[best]!++]!;
    if (e.k === 'send') sent.add(e.msg);
    merged.push(e);
  }
  const left = queues.reduce((n, q, i) => n + q.length - heads[i]!, 0);
  if (left > 0) throw new Error(`${left} events could not be merged (a delivery before its send in every order)`);
  return merged;
}

/**
 * The two-primaries checker compares instants stamped by different processes: it is only as sound as
 * their clocks' agreement. A message cannot be delivered before it was sent, so a delivery stamped
 * more than `toleranceMs` before its send (in another process's file) shows two clocks apart by at
 * least that much; reported, with the largest gap for each pair of files, as 'clock-skew'.
 */
export function checkClockAgreement(queues: HistoryEvent[][], out: ViolationList, toleranceMs = 0.5): void {
  const sentAt = new Map<string, { file: number; at: number }>();
  queues.forEach((q, file) => {
    for (const e of q) if (e.k === 'send') sentAt.set(e.msg, { file, at: e.at });
  });
  const worst = new Map<string, number>();
  queues.forEach((q, file) => {
    for (const e of q) {
      if (e.k !== 'deliver') continue;
      const s = sentAt.get(e.msg);
      if (s === undefined || s.file === file) continue;
      const ahead = s.at - e.at;
      const pair = `file ${s.file} -> file ${file}`;
      if (ahead > toleranceMs && ahead > (worst.get(pair) ?? 0)) worst.set(pair, ahead);
    }
  });
  for (const [pair, ms] of worst) {
    out.add('clock-skew', `${pair}: a delivery stamped ${ms.toFixed(2)} ms before its send (the clocks disagree; timing checks cannot be trusted)`);
  }
}
