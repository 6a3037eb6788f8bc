import type { Readable } from 'node:stream';

/** How one peer's connections are read: freely, paused on request, or freely again for a while after a long pause. */
type HoldState = 'reading' | 'paused' | 'free';

interface PeerHold {
  readonly endpoint: string;
  /** Who asked (Transport.holdReads); reading pauses while any still asks. */
  readonly holders: Set<object>;
  state: HoldState;
  /** The streams paused, to resume exactly those (a connection that opened meanwhile was never paused). */
  paused: Readable[];
  /** Ends a pause after maxHoldMs, or a free spell after as long. */
  timer: NodeJS.Timeout | null;
}

/** What the transport counts of read holds. */
export interface ReadHoldCounters {
  /** Times a peer's connections were paused. */
  readHolds: number;
  /** Of those, pauses that lasted maxHoldMs and were ended by the transport, whatever was asked. */
  readHoldsCut: number;
}

/**
 * Reading a peer's connections paused while protocol code asks for it (Transport.holdReads).
 *
 * Why: a member reads each socket greedily (libuv reads up to 32 × 64 KiB from one socket before it
 * turns to the next), so with every member sending, one sender's whole window can be read before
 * another's. CAUSAL must then hold the first sender's messages until what they depend on comes
 * through the other connection: 18-25% of all cbcast deliveries were held first at 3 and 5 members,
 * thousands at a time, living long enough to be promoted by the collector. Asked to read no more of
 * a sender while its messages wait, the transport reads the other connections first, and what
 * waits stays in the kernel's socket buffer instead of the heap.
 *
 * A pause never lasts longer than `maxHoldMs`: then the peer's connections are read again for as
 * long, whatever is asked, before a hold still asked for pauses them again. So a hold can delay a
 * peer's frames, never stop them: what a held message waits for may come through that very peer (a
 * flush forwarding a crashed member's messages, a retransmission), and its control traffic (acks,
 * heartbeats, credit) is late by at most `maxHoldMs`, far inside the transport's and the failure
 * detector's timeouts.
 */
export class ReadHolds {
  private readonly peers = new Map<string, PeerHold>();

  constructor(
    private readonly maxHoldMs: number,
    /** The streams that carry a peer's frames to us: its open inbound connections. */
    private readonly sourcesOf: (endpoint: string) => Readable[],
    private readonly counters: ReadHoldCounters,
  ) {}

  /** `holder` asks (`hold`) or stops asking that `endpoint` be read no more. Idempotent per holder. */
  set(endpoint: string, holder: object, hold: boolean): void {
    let p = this.peers.get(endpoint);
    if (hold) {
      if (p === undefined) {
        p = { endpoint, holders: new Set(), state: 'reading', paused: [], timer: null };
        this.peers.set(endpoint, p);
      }
      p.holders.add(holder);
      if (p.state === 'reading') this.pause(p);
      return;
    }
    if (p === undefined || !p.holders.delete(holder) || p.holders.size > 0) return;
    if (p.timer !== null) clearTimeout(p.timer);
    this.resume(p);
    this.peers.delete(endpoint);
  }

  /** Resumes everything and forgets every hold (the transport is closing). */
  clear(): void {
    for (const p of this.peers.values()) {
      if (p.timer !== null) clearTimeout(p.timer);
      this.resume(p);
    }
    this.peers.clear();
  }

  private pause(p: PeerHold): void {
    const sources = this.sourcesOf(p.endpoint).filter((s) => !s.destroyed && !s.isPaused());
    if (sources.length === 0) return; // nothing to pause: stays 'reading', paused by the next request
    for (const s of sources) s.pause();
    p.paused = sources;
    p.state = 'paused';
    this.counters.readHolds++;
    p.timer = setTimeout(() => {
      // Paused for maxHoldMs: read it again for as long, whatever is asked meanwhile.
      this.counters.readHoldsCut++;
      this.resume(p);
      p.state = 'free';
      p.timer = setTimeout(() => {
        p.timer = null;
        p.state = 'reading';
        if (p.holders.size > 0) this.pause(p);
      }, this.maxHoldMs);
      p.timer.unref();
    }, this.maxHoldMs);
    p.timer.unref();
  }

  private resume(p: PeerHold): void {
    for (const s of p.paused) if (!s.destroyed) s.resume();
    p.paused = [];
    p.state = 'reading';
    p.timer = null;
  }
}
