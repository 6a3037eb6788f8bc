import { HorusNode, type JoinOptions } from '../../src/api/node.js';
import type { Group, StateHandlers } from '../../src/api/group.js';
import type { Delivery } from '../../src/api/delivery.js';
import { MemoryHistory } from '../../src/core/history.js';
import { SimWorld, type SimWorldOptions } from '../../src/sim/sim-world.js';
import { FAST_STACK } from '../helpers/sim-cluster.js';
import '../../src/layers/index.js';

/** A member's replicated state for these tests: the payloads it delivered, in order (taken over by a joiner). */
export class LogState {
  entries: string[] = [];
  attach(g: Group): this {
    g.on('message', (d: Delivery) => this.entries.push(String(d.payload)));
    return this;
  }
  handlers(): StateHandlers {
    return {
      get: () => [...this.entries],
      set: (s) => {
        this.entries = [...(s as string[])];
      },
    };
  }
}

/**
 * Simulated nodes that all know each other as seeds and join one group through join() (the
 * name service), each keeping a LogState. Virtual time advances in small steps, with a real
 * microtask turn between steps so that join()'s promises run.
 */
export class NamesWorld {
  readonly world: SimWorld;
  readonly history = new MemoryHistory();
  readonly nodes = new Map<string, HorusNode>();
  readonly groups = new Map<string, Group>();
  readonly states = new Map<string, LogState>();
  readonly errors: unknown[] = [];

  constructor(
    seed: number,
    readonly endpoints: readonly string[],
    opts: SimWorldOptions = {},
  ) {
    this.world = new SimWorld(seed, opts);
  }

  /**
   * Start the node at `ep` (seeds: every other endpoint) and have it join `group`: through join()
   * (the name service), or with `contacts` straight through joinNow (none: found it).
   */
  start(ep: string, group = 'g', opts: JoinOptions & { contacts?: string[] } = {}): void {
    const node = new HorusNode(
      this.world.addNode(ep, '1').env,
      this.history,
      this.endpoints.filter((e) => e !== ep),
    );
    this.nodes.set(ep, node);
    const state = new LogState();
    this.states.set(ep, state);
    const all = { stack: FAST_STACK, state: state.handlers(), ...opts };
    (opts.contacts ? node.joinNow(group, all).ready : node.join(group, all))
      .then((g) => {
        this.groups.set(ep, g);
        state.attach(g);
      })
      .catch((err: unknown) => this.errors.push(err));
  }

  async run(ms: number): Promise<void> {
    const end = this.world.now() + ms;
    while (this.world.now() < end) {
      this.world.runFor(Math.min(10, end - this.world.now()));
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Run until `done()` holds (checked every 10 ms of virtual time), or `maxMs` passed. */
  async until(done: () => boolean, maxMs: number): Promise<boolean> {
    const end = this.world.now() + maxMs;
    while (this.world.now() < end) {
      if (done()) return true;
      await this.run(10);
    }
    return done();
  }

  /** Distinct views (id and members) the started members are in now. */
  views(): string[] {
    return [...new Set([...this.groups.values()].map((g) => `${g.view.id}:${g.view.members.join(',')}`))];
  }

  /** Every node started, joined, and all in one view of them all, none blocked. */
  oneGroup(): boolean {
    if (this.groups.size !== this.nodes.size) return false;
    const gs = [...this.groups.values()];
    const first = gs[0]!.view;
    return (
      first.members.length === this.nodes.size &&
      gs.every((g) => g.view.id === first.id && g.view.members.join() === first.members.join() && g.blockedReasons.length === 0)
    );
  }
}
