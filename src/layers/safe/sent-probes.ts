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
  /** By the member's place in the view: the one question we wait on from each. */
  private readonly asks = new Map<number, Ask>();
  private readonly told = new Map<number, Told>();

  /**
   * The question to send the member at `place` about arrival `arrival` (the held head), now that
   * `arrivals` have arrived: the one we wait on if it covers that arrival (sent again, under the
   * same nonce, so an answer slower than the retry interval still counts), else a new one covering
   * all arrivals so far (the old one covered only messages no longer held).
   */
  question(place: number, arrival: number, arrivals: number): number {
    const waiting = this.asks.get(place);
    if (waiting !== undefined && arrival <= waiting.at) return waiting.nonce;
    const nonce = this.nextNonce++;
    this.asks.set(place, { nonce, at: arrivals });
    return nonce;
  }

  /** Whether we ever sent a question with this nonce (in this view). */
  wasAsked(nonce: number): boolean {
    return nonce > 0 && nonce < this.nextNonce;
  }

  /** The member at `place` answers question `nonce`: true if it is the one we wait on from it, false for anything else. */
  answer(place: number, nonce: number, sent: number): boolean {
    const waiting = this.asks.get(place);
    if (waiting === undefined || waiting.nonce !== nonce) return false;
    this.asks.delete(place);
    this.know(place, sent, waiting.at);
    return true;
  }

  /** What we know ourselves, as if the member at `place` (we) had answered a question asked after the first `at` arrivals. */
  know(place: number, sent: number, at: number): void {
    // The answer that covers the most arrivals bounds them all (a member's stream only grows).
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
