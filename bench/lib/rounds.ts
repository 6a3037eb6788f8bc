// --rounds N: the case list run N times, one round after another. On this 2-core host one run of a
// case moves by a quarter between sittings minutes apart (docs/performance.md, session 25), so a
// ratio of two single runs says little; rounds give each case's spread and each ratio's, paired
// within a round (both sides measured in the same minutes).
import { deriveFigures, headline, type BenchResult, type DerivedFigure } from './results.js';
import { median, round as roundTo } from './stats.js';

/** One round: what ran and what failed. */
export interface Round {
  results: BenchResult[];
  failures: { id: string; error: string }[];
}

/** What a round measured, in brief (the document's `rounds`). */
export interface RoundSummary {
  /** Each case's headline figure in this round (see headline()). */
  headlines: Record<string, number>;
  derived: DerivedFigure[];
  failures: { id: string; error: string }[];
}

/** The rounds folded into one run's figures. */
export interface CombinedRounds {
  /** Per case, the result of the round whose headline is the median (nearest rank, as stats.median: the lower middle of an even count): a run that happened, not an average of runs. */
  results: BenchResult[];
  /** Per ratio, the median of its per-round values (each a ratio of two cases of one round), which are in `samples`. */
  derived: DerivedFigure[];
  rounds: RoundSummary[];
}

export function combineRounds(rounds: readonly Round[]): CombinedRounds {
  const results = [...byId(rounds.flatMap((r) => r.results)).values()].map((list) => {
    const sorted = [...list].sort((a, b) => headline(a).value - headline(b).value);
    return sorted[Math.floor((sorted.length - 1) / 2)]!;
  });
  const perRound = rounds.map((round) => deriveFigures(round.results));
  const derived = [...byId(perRound.flat()).values()].map((list) => {
    const samples = list.map((f) => f.value);
    const value = roundTo(median(samples), 3);
    const first = list[0]!;
    return { ...first, value, meetsAim: first.aim === null ? null : value >= first.aim, samples };
  });
  return {
    results,
    derived,
    rounds: rounds.map((round, i) => ({
      headlines: Object.fromEntries(round.results.map((r) => [r.id, headline(r).value])),
      derived: perRound[i]!,
      failures: round.failures,
    })),
  };
}

/** Items grouped by id, in the order each id first appears (node 20 has no Map.groupBy). */
function byId<T extends { id: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of items) {
    const list = out.get(x.id);
    if (list === undefined) out.set(x.id, [x]);
    else list.push(x);
  }
  return out;
}
