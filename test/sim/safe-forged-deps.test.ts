// An insider (a member with valid keys) forges the dependencies in its safe message's SAFE header:
// a sequence number of another member that member never sent. Receivers hold a safe message until
// what it names is stable, and everything behind it waits (safe delivery is in order), so without a
// bound one member's lie held every member's safe messages until the next view change. A member
// speaks only for itself: the member named is asked what it has sent, and the lie is capped there.
// The honest case beside it: a dependency the receiver has not received yet (in flight, or lost
// and fetched again) is still waited for, never dropped.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { FAST_STACK, joinRecording, SimCluster } from '../helpers/sim-cluster.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import type { Group } from '../../src/api/group.js';
import type { DownEvent } from '../../src/core/events.js';
import type { Message } from '../../src/core/message.js';
import type { NodeId } from '../../src/core/node-id.js';
import type { StackSpec } from '../../src/stack/stack.js';
import { Layer, type LayerContext } from '../../src/stack/layer.js';
import { layerDefinition, registerLayer } from '../../src/stack/registry.js';
import { SAFE_HEADER } from '../../src/layers/SAFE.js';

/** How the insider rewrites its safe messages' dependencies: from what it holds of each member (its digest). */
let forge: ((held: Map<NodeId, number>) => number[]) | null = null;
/** Messages from this member are lost on their way up at the member with the LOSE layer (NAK fetches them again later). */
let losing: NodeId | null = null;

/** Below SAFE at the insider: replaces the SAFE header its own SAFE computed by a forged one. */
class FORGE_SAFE extends Layer {
  readonly name = 'FORGE_SAFE';
  override down(msg: Message): void {
    if (forge !== null && msg.pop(SAFE_HEADER) !== undefined) {
      const q: DownEvent = { type: 'GET_DIGEST', digest: null };
      this.below.downEvent(q);
      msg.push(SAFE_HEADER, forge(q.digest ?? new Map()));
    }
    this.below.down(msg);
  }
}

/** Between NAK and FD: loses another member's traffic on its way up (heartbeats pass: nobody is suspected). */
class LOSE extends Layer {
  readonly name = 'LOSE';
  override up(msg: Message): void {
    if (msg.src !== losing) this.above.up(msg);
  }
  override upBatch(batch: Message[]): void {
    for (const m of batch) this.up(m);
  }
}

const noOptions = z.object({});
const register = (name: string, create: (ctx: LayerContext) => Layer): void => {
  try {
    layerDefinition(name);
  } catch {
    registerLayer({ name, provides: [], requires: [], options: noOptions, create: (ctx) => create(ctx) });
  }
};
register('FORGE_SAFE', (ctx) => new FORGE_SAFE(ctx));
register('LOSE', (ctx) => new LOSE(ctx));

const TOP: StackSpec = ['TOTAL', 'CAUSAL', 'SAFE'];
const STACK: StackSpec = [...TOP, ...FAST_STACK];
const INSIDER_STACK: StackSpec = [...TOP, 'FORGE_SAFE', ...FAST_STACK];
/** FAST_STACK with LOSE between NAK and FD. */
const LOSSY_STACK: StackSpec = [...TOP, ...FAST_STACK.slice(0, 5), 'LOSE', ...FAST_STACK.slice(5)];
const EPS = ['n1:1', 'n2:1', 'n3:1', 'n4:1'];

/** Dependencies a node's SAFE did not wait for, as forged (all its groups). */
const forgedAt = (c: SimCluster, e: string): number => c.nodes.get(e)!.metrics.snapshot().counters['horus_safe_forged_dependencies_total'] ?? 0;

/** Four members: n1 (place 0 in the view) and n2 honest, n3 the insider, n4 with the LOSE layer. */
function members(): { c: SimCluster; groups: Group[]; got: Map<string, string[]> } {
  forge = null;
  losing = null;
  const c = new SimCluster(7);
  const stacks = [STACK, STACK, INSIDER_STACK, LOSSY_STACK];
  const { groups, got } = joinRecording(c, EPS, (i) => stacks[i]!);
  c.run(3000);
  assert.ok(
    groups.every((g) => g.view.members.length === 4 && g.view.members[0] === groups[0]!.view.members[0]),
    'four members in one view',
  );
  return { c, groups, got };
}

/**
 * n1 sends three plain messages; the insider n3 sends a safe message whose header names `forged`
 * for n1 (place 0), then n2 sends a safe one behind it, and n1 (with `n1Sends`) a safe abcast.
 * Within 600 ms (a few probe rounds; a view change takes longer and none may happen) every member
 * delivers all of them. Returns how many dependencies each member counted as forged.
 */
function forgedRun(forged: (sentByN1: number) => number, n1Sends: boolean): number[] {
  const { c, groups, got } = members();
  for (const x of ['a', 'b', 'c']) void groups[0]!.fbcast(x);
  c.run(200);
  const n1 = groups[0]!.view.members[0]!;
  forge = (held) => [0, forged(held.get(n1) ?? 0)];
  const viewBefore = groups.map((g) => g.view.id);
  void groups[2]!.fbcast('forged', { safe: true });
  c.run(5);
  void groups[1]!.fbcast('behind', { safe: true });
  if (n1Sends) void groups[0]!.abcast('ordered', { safe: true });
  c.run(600);
  assert.deepEqual(
    groups.map((g) => g.view.id),
    viewBefore,
    'no view change released them',
  );
  for (const e of EPS)
    assert.deepEqual(
      got
        .get(e)!
        .filter((x) => x !== 'a' && x !== 'b' && x !== 'c')
        .sort(),
      n1Sends ? ['behind', 'forged', 'ordered'] : ['behind', 'forged'],
      `${e} delivered every safe message, the forged one's too`,
    );
  assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g').items, []);
  return EPS.map((e) => forgedAt(c, e));
}

describe('a safe message whose sender forged a dependency on another member', () => {
  it('far beyond anything that member sent: capped at what it says it sent, and nobody waits for a view change', () => {
    const forged = forgedRun(() => 4_000_000_000, true);
    assert.ok(
      forged.every((n) => n > 0),
      `every member counted it (n1 and the insider know their own streams): ${forged}`,
    );
  });

  it('one past what that member sent, which it never sends: capped likewise', () => {
    const forged = forgedRun((sent) => sent + 1, false);
    assert.ok(
      forged.every((n) => n > 0),
      `${forged}`,
    );
  });

  it('one past what that member sent, which it sends next: then a real dependency, waited for (not counted)', () => {
    assert.deepEqual(
      forgedRun((sent) => sent + 1, true),
      [0, 0, 0, 0],
    );
  });

  it('a stream of them is delayed by a few probe rounds, not held: each question covers everything that arrived before it', () => {
    const { c, groups, got } = members();
    forge = () => [0, 4_000_000_000];
    const viewBefore = groups.map((g) => g.view.id);
    for (let i = 0; i < 20; i++) {
      void groups[2]!.fbcast(`f${i}`, { safe: true });
      void groups[1]!.fbcast(`h${i}`, { safe: true });
      c.run(10);
    }
    c.run(250);
    assert.deepEqual(
      groups.map((g) => g.view.id),
      viewBefore,
    );
    for (const e of EPS) assert.equal(got.get(e)!.length, 40, `${e} delivered all 40 within 250 ms of the last`);
  });

  it('on the sender itself: ignored (its own number says all of its own past)', () => {
    const { c, groups, got } = members();
    forge = () => [2, 4_000_000_000];
    void groups[2]!.fbcast('forged', { safe: true });
    void groups[1]!.fbcast('behind', { safe: true });
    c.run(600);
    for (const e of EPS) assert.deepEqual(got.get(e)!.slice().sort(), ['behind', 'forged'], e);
  });
});

describe('an honest dependency the receiver does not hold yet', () => {
  it('is waited for (the member named says it sent it), and the safe message goes up only after what it depends on', () => {
    const { c, groups, got } = members();
    // n4 loses n1's messages for a while: n1's x reaches the others, n2 delivers it and sends the
    // safe m, which names x. n4 gets m at once and x only once the loss ends and NAK fetched it.
    losing = groups[0]!.view.members[0]!;
    void groups[0]!.cbcast('x');
    for (let t = 0; t < 200 && !got.get('n2:1')!.includes('x'); t++) c.run(1);
    assert.ok(got.get('n2:1')!.includes('x'), 'n2 delivered x');
    void groups[1]!.cbcast('m', { safe: true });
    c.run(250);
    assert.deepEqual(got.get('n4:1')!, [], "n4 holds m: x is in flight, n1 says so, and it is not n4's to drop");
    losing = null;
    c.run(500);
    for (const e of EPS) assert.deepEqual(got.get(e)!, ['x', 'm'], e);
    assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g').items, []);
    assert.deepEqual(
      EPS.map((e) => forgedAt(c, e)),
      [0, 0, 0, 0],
      'nothing honest was called forged',
    );
  });
});
