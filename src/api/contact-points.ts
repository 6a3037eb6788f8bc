import type { Discovery } from '../discovery/discovery.js';
import type { Env, Timer } from '../core/env.js';
import { endpointOf } from '../core/node-id.js';

export interface BootstrapOptions {
  /** Found a group only once this many distinct contact points (this node included) are known... */
  expectedContacts: number;
  /** ...and the list has not changed for this long (ms), so that every node decides on the same list. */
  stableMs: number;
}

/**
 * The nodes a node asks about groups: its static seeds plus what a discovery source (DNS, a file,
 * Kubernetes) says now, re-read every `intervalMs`. A source that fails keeps the last good answer
 * and logs once per failure streak. Runs on the node's env timers.
 */
export class ContactPoints {
  private discovered: string[] = [];
  private timer: Timer | null = null;
  private failing = false;
  private stopped = false;
  /** When the list last changed (env time). */
  private changedAt: number;

  constructor(
    private readonly env: Env,
    private readonly fixed: readonly string[],
    /** This node's own endpoint: it counts as a contact point once, whether the list names it or not. */
    private readonly self: string,
  ) {
    this.changedAt = env.now();
  }

  get list(): readonly string[] {
    return this.discovered.length === 0 ? this.fixed : [...new Set([...this.fixed, ...this.discovered])];
  }

  /** Read `source` now and then every `intervalMs`; resolves after the first read (failed or not). */
  async follow(source: Discovery, intervalMs: number): Promise<void> {
    await this.read(source);
    const again = (): void => {
      if (this.stopped) return;
      this.timer = this.env.setTimer(intervalMs, () => {
        void this.read(source).then(again);
      });
    };
    again();
  }

  private async read(source: Discovery): Promise<void> {
    try {
      const next = await source.contacts();
      if (this.stopped) return;
      if (this.failing) this.env.log.info('discovery answers again', { source: source.description, contacts: next.length });
      this.failing = false;
      if (next.length !== this.discovered.length || next.some((c, i) => c !== this.discovered[i])) {
        this.discovered = next;
        this.changedAt = this.env.now();
      }
    } catch (err) {
      if (!this.failing) this.env.log.warn('discovery failed; keeping the last contact points', { source: source.description, error: (err as Error).message });
      this.failing = true;
    }
  }

  /**
   * Resolves once the list holds at least `expectedContacts` and has been stable for `stableMs`
   * (both sides of a simultaneous start then see the same list and the same smallest id).
   */
  whenBootstrapped(opts: BootstrapOptions, isClosed: () => boolean): Promise<void> {
    let told = false;
    return new Promise((resolve) => {
      const check = (): void => {
        if (isClosed() || this.stopped) return resolve();
        const known = new Set([...this.list.map((c) => endpointOf(c)), this.self]).size;
        const enough = known >= opts.expectedContacts;
        if (!enough && !told) {
          told = true;
          this.env.log.info('waiting for contact points before founding a group', { expected: opts.expectedContacts, known });
        }
        const stableFor = this.env.now() - this.changedAt;
        if (enough && stableFor >= opts.stableMs) return resolve();
        this.env.setTimer(enough ? opts.stableMs - stableFor : Math.max(50, opts.stableMs / 4), check);
      };
      check();
    });
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }
}
