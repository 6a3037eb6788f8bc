/** Questions kept per member: a later answer to an earlier one still counts (round trips may outlast the retry interval). */
const ASKS_KEPT = 4;

interface Ask {
  nonce: number;
  /** Safe messages with dependencies that had arrived when it was asked. */
  at: number;
}

interface Told {
  /** The member's highest sequence number, by its own word... */
  sent: number;
  /** ...given after the first `at` safe messages with dependencies had arrived here. */
  at: number;
}

/**
 * What this member asked others about their own streams in one view, and what they answered.
 *
 * Why an answer bounds a dependency: an honest sender names (q, s) only after it received q's
 * message s, so q had sent s before the safe message was sent; that was before it arrived here,
 * before we asked q, and before q answered. An answer to a question asked after a message arrived
 * is therefore at least every honest dependency of that message on q; anything above it is forged.
 * An answer given before the message arrived (a stale one, or one q volunteered) proves nothing,
 * hence `at`: each answer covers only the messages that had arrived when its question was asked.
 */
export class SentProbes {
  private nextNonce = 1;
  /** By the member's place in the view. */
  private readonly asks = new Map<number, Ask[]>();
  private readonly told = new Map<number, Told>();

  /** A question to the member at `place`, covering the first `at` arrivals: its nonce. */
  ask(place: number, at: number): number {
    const nonce = this.nextNonce++;
    let list = this.asks.get(place);
    if (list === undefined) this.asks.set(place, (list = []));
    if (list.length >= ASKS_KEPT) list.shift();
    list.push({ nonce, at });
    return nonce;
  }

  /** Whether we ever sent a question with this nonce (in this view). */
  wasAsked(nonce: number): boolean {
    return nonce > 0 && nonce < this.nextNonce;
  }

  /**
   * The member at `place` answers question `nonce`: true if that question is one we still wait on
   * (it and any earlier ones to that member are done), false for anything else.
   */
  answer(place: number, nonce: number, sent: number): boolean {
    const list = this.asks.get(place);
    const i = list === undefined ? -1 : list.findIndex((a) => a.nonce === nonce);
    if (i < 0) return false;
    const { at } = list![i]!;
    list!.splice(0, i + 1);
    // The latest question's answer covers the most arrivals, and (q's stream only grows) bounds them all.
    this.know(place, sent, at);
    return true;
  }

  /** What we know ourselves, as if the member at `place` (we) had answered a question asked after the first `at` arrivals. */
  know(place: number, sent: number, at: number): void {
    const before = this.told.get(place);
    if (before === undefined || at >= before.at) this.told.set(place, { sent, at });
  }

  /** What the member at `place` said it had sent, if said after arrival `arrival` came: else Infinity (no bound yet). */
  boundOf(place: number, arrival: number): number {
    const t = this.told.get(place);
    return t !== undefined && arrival <= t.at ? t.sent : Infinity;
  }

  /** A new view: sequence numbers, places and questions start afresh. */
  clear(): void {
    this.asks.clear();
    this.told.clear();
  }
}
