import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Delivery } from '../../src/api/delivery.js';
import type { Group, StreamingStateHandlers } from '../../src/api/group.js';
import type { HorusNode } from '../../src/api/node.js';
import { FAST_STACK, SimCluster } from '../helpers/sim-cluster.js';
import type { StackSpec } from '../../src/stack/stack.js';

const BLOB_BYTES = 6 * 1024 * 1024;

function counter(node: HorusNode, name: string): number {
  return node.metrics.snapshot().counters[name] ?? 0;
}

/**
 * A member whose state is a large blob plus the number of messages it has delivered: streamed
 * out as views of its segments, streamed in chunk by chunk. A joiner's count plus what it delivers
 * afterwards must equal every other member's count: the state holds exactly the messages
 * delivered before the joiner's first view, and the joiner delivers every one after it.
 */
class Member {
  blob: Buffer;
  delivered = 0;
  /** What the joiner's application saw, in order. */
  readonly log: string[] = [];
  received: Buffer[] = [];
  aborts = 0;
  group: Group | null = null;
  constructor(blob: Buffer | null) {
    this.blob = blob ?? Buffer.alloc(0);
  }
  handlers(): StreamingStateHandlers {
    return {
      getChunks: () => {
        const count = Buffer.alloc(8);
        count.writeUInt32BE(this.delivered, 0);
        // Views of the blob (immutable here) and a fresh count: nothing is copied.
        const parts = [this.blob.subarray(0, BLOB_BYTES / 2), this.blob.subarray(BLOB_BYTES / 2), count];
        return { size: this.blob.length + 8, chunks: () => parts };
      },
      receiveChunk: (chunk, at) => {
        if (at.offset === 0) this.received = [];
        this.received.push(Buffer.from(chunk));
        this.log.push('chunk');
      },
      finish: () => {
        const all = Buffer.concat(this.received);
        this.received = [];
        this.blob = all.subarray(0, all.length - 8);
        this.delivered = all.readUInt32BE(all.length - 8);
        this.log.push('finish');
      },
      abort: () => {
        this.aborts++;
        this.received = [];
        this.log.push('abort');
      },
    };
  }
  attach(g: Group): Group {
    this.group = g;
    g.on('message', (_d: Delivery) => {
      this.delivered++;
      this.log.push('message');
    });
    g.on('view', () => this.log.push('view'));
    return g;
  }
}

function blob(): Buffer {
  const b = Buffer.allocUnsafe(BLOB_BYTES);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32BE((i * 2654435761) >>> 0, i);
  return b;
}

describe('state transfer as a stream (simulated)', () => {
  it('streams a large state into the joiner while the group keeps delivering, atomically with its first view', async () => {
    const c = new SimCluster(11);
    const state = blob();
    const members: Member[] = [];
    for (let i = 1; i <= 3; i++) {
      c.start(`n${i}:1`);
      const m = new Member(state);
      m.attach(c.join(`n${i}:1`, 'g', i === 1 ? [] : ['n1:1'], m.handlers()));
      members.push(m);
      c.run(1500);
    }
    // Traffic from every member throughout the join: a few multicasts each per simulated 5 ms.
    c.start('n4:1');
    const joiner = new Member(null);
    const jg = joiner.attach(c.join('n4:1', 'g', ['n1:1'], joiner.handlers()));
    let ready = false;
    jg.ready.then(
      () => (ready = true),
      () => {},
    );
    let k = 0;
    const busy = async (ms: number, until: () => boolean): Promise<void> => {
      for (let t = 0; t < ms && !until(); t += 5) {
        for (const m of members) for (let i = 0; i < 3; i++) m.group!.fbcast(Buffer.from(`m${k++}`)).catch(() => {});
        c.run(5);
        await new Promise((r) => setImmediate(r));
      }
    };
    const before = members[0]!.delivered;
    await busy(20_000, () => ready);
    assert.ok(ready, 'the joiner got in');
    assert.ok(members[0]!.delivered - before > 10, `the group delivered during the transfer (${members[0]!.delivered - before})`);
    await busy(500, () => false);
    c.run(3000);
    assert.ok(joiner.blob.equals(state), 'the blob arrived whole');
    const first = joiner.log.indexOf('finish');
    assert.ok(first > 0 && joiner.log.slice(0, first).every((e) => e === 'chunk'), 'nothing but chunks before finish()');
    assert.equal(joiner.log[first + 1], 'view', 'the first view comes right after finish(), before any message');
    const counts = [...members, joiner].map((m) => m.delivered);
    assert.ok(
      counts.every((n) => n === counts[0]),
      `every member delivered the same count, the joiner's state included: ${counts.join(' ')}`,
    );
    const n4 = c.nodes.get('n4:1')!;
    const received = counter(n4, 'horus_gms_state_bytes_received_total');
    assert.equal(received, BLOB_BYTES + 8 + 1, 'the state and its encoding byte, each byte once');
  });

  it('completes over a lossy network, resending what was lost', async () => {
    const c = new SimCluster(12, { loss: 0.03 });
    const state = blob();
    const members: Member[] = [];
    for (let i = 1; i <= 2; i++) {
      c.start(`n${i}:1`);
      const m = new Member(state);
      m.attach(c.join(`n${i}:1`, 'g', i === 1 ? [] : ['n1:1'], m.handlers()));
      members.push(m);
      c.run(1500);
    }
    c.start('n3:1');
    const joiner = new Member(null);
    const jg = joiner.attach(c.join('n3:1', 'g', ['n1:1'], joiner.handlers()));
    await c.settle(jg.ready, 60_000);
    assert.ok(joiner.blob.equals(state), 'the blob arrived whole');
    const resent = counter(c.nodes.get('n1:1')!, 'horus_gms_state_chunks_resent_total') + counter(c.nodes.get('n2:1')!, 'horus_gms_state_chunks_resent_total');
    assert.ok(resent > 0, 'some chunks were lost and sent again');
  });

  it('a joiner whose provider crashes mid-transfer aborts and gets its state from another member', async () => {
    const c = new SimCluster(13);
    const state = blob();
    const members: Member[] = [];
    for (let i = 1; i <= 3; i++) {
      c.start(`n${i}:1`);
      const m = new Member(state);
      m.attach(c.join(`n${i}:1`, 'g', i === 1 ? [] : ['n1:1'], m.handlers()));
      members.push(m);
      c.run(1500);
    }
    c.start('n4:1', ['n1:1', 'n2:1', 'n3:1']);
    const joiner = new Member(null);
    const jg = joiner.attach(c.join('n4:1', 'g', ['n1:1', 'n2:1', 'n3:1'], joiner.handlers()));
    const n4 = c.nodes.get('n4:1')!;
    // Crash the provider (the most senior member) once some of the state has arrived.
    for (let t = 0; t < 10_000 && counter(n4, 'horus_gms_state_bytes_received_total') === 0; t++) c.run(1);
    assert.ok(counter(n4, 'horus_gms_state_bytes_received_total') > 0, 'the transfer began');
    assert.ok(counter(n4, 'horus_gms_state_bytes_received_total') < BLOB_BYTES, 'and had not finished');
    c.world.crash('n1:1/1');
    await c.settle(jg.ready, 60_000).catch(() => {});
    c.run(15_000);
    assert.ok(joiner.aborts >= 1, 'the first transfer was aborted');
    assert.ok(joiner.blob.equals(state), 'the blob arrived whole from another member');
    const view = members[1]!.group!.view;
    assert.equal(view.members.length, 3, `n2, n3 and the joiner: ${view.members.join(' ')}`);
    assert.ok(
      view.members.some((m) => m.startsWith('n4:1')),
      'the joiner is in',
    );
  });
  it('a joiner with set() takes a streamed state as one buffer; a streaming joiner refuses a packed value', async () => {
    const c = new SimCluster(14);
    const state = blob();
    c.start('n1:1');
    const provider = new Member(state);
    provider.attach(c.join('n1:1', 'g', [], provider.handlers()));
    c.run(1500);
    c.start('n2:1');
    let got: unknown = null;
    const g2 = c.join('n2:1', 'g', ['n1:1'], { get: () => null, set: (s) => (got = s) });
    await c.settle(g2.ready, 20_000);
    assert.ok(Buffer.isBuffer(got) && got.subarray(0, BLOB_BYTES).equals(state), 'set() got the streamed bytes as one buffer');
    assert.equal((got as Buffer).length, BLOB_BYTES + 8);

    const d = new SimCluster(15);
    d.start('n1:1');
    d.join('n1:1', 'g', [], { get: () => ({ packed: [1, 2, 3] }), set: () => {} });
    d.run(1500);
    d.start('n2:1');
    const joiner = new Member(null);
    const g = joiner.attach(d.join('n2:1', 'g', ['n1:1'], joiner.handlers()));
    await assert.rejects(
      d.settle(g.ready, 20_000),
      (e: { code?: string; message?: string }) => e.code === 'ERR_STATE_TRANSFER' && /packed value/.test(e.message ?? ''),
    );
  });
  it('streams through the ordering layers above GMS too (they pass the sink request on)', async () => {
    const c = new SimCluster(16);
    const stack: StackSpec = ['TOTAL', 'CAUSAL', 'SAFE', ...(FAST_STACK as readonly (string | { name: string })[])] as StackSpec;
    const state = blob();
    const provider = new Member(state);
    provider.attach(c.start('n1:1').joinNow('g', { contacts: [], stack, state: provider.handlers() }));
    c.run(1500);
    const joiner = new Member(null);
    const g = joiner.attach(c.start('n2:1').joinNow('g', { contacts: ['n1:1'], stack, state: joiner.handlers() }));
    await c.settle(g.ready, 20_000);
    assert.ok(joiner.blob.equals(state));
    assert.ok(joiner.log.includes('chunk'), 'the streaming receiver took the chunks');
  });
});
