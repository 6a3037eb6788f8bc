import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import '../../../src/layers/index.js';
import { CRYPT, CRYPT_HEADER } from '../../../src/layers/CRYPT.js';
import { GMS_HEADER, G } from '../../../src/layers/gms/messages.js';
import type { Env } from '../../../src/core/env.js';
import type { DownEvent, UpEvent } from '../../../src/core/events.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message, MsgFlag } from '../../../src/core/message.js';
import { SeededRng } from '../../../src/core/rng.js';
import type { View } from '../../../src/core/view.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';
import { attachViewKey } from '../../../src/security/group-key.js';
import type { LayerLink } from '../../../src/stack/layer.js';
import { defineHeader } from '../../../src/codec/header-registry.js';

/** A header of the layers above CRYPT, to see it sealed and restored. */
const TOP = defineHeader<number>(
  201,
  'TEST_TOP',
  (w, v) => w.uvar(v),
  (r) => r.uvar(),
);

const GROUP = 'g';

/** A stub neighbour that records the messages it is handed. */
class Recorder {
  up: Message[] = [];
  down: Message[] = [];
  readonly link: LayerLink = {
    down: (m) => this.down.push(m),
    up: (m) => this.up.push(m),
    downEvent: (_ev: DownEvent) => {},
    upEvent: (_ev: UpEvent) => {},
    upBatch: (b) => this.up.push(...b),
    downBatch: (b) => this.down.push(...b),
  };
}

interface Member {
  id: string;
  layer: CRYPT;
  top: Recorder;
  bottom: Recorder;
  metrics: MemoryMetrics;
  runDeferred(): void;
}

function member(id: string): Member {
  const deferred: (() => void)[] = [];
  const env = {
    now: () => 0,
    setTimer: () => ({ cancel() {} }),
    defer: (fn: () => void) => deferred.push(fn),
    rng: new SeededRng(1),
    log: silentLogger,
    transport: { localId: id } as Env['transport'],
  } as Env;
  const metrics = new MemoryMetrics();
  const layer = new CRYPT(
    { env, group: GROUP, localId: id, log: silentLogger, metrics },
    { keepViews: 3, maxHeldMessages: 16, maxHeldBytes: 1 << 20, maxBundleBytes: 32 * 1024, replayWindow: 64 },
  );
  const top = new Recorder();
  const bottom = new Recorder();
  layer.above = top.link;
  layer.below = bottom.link;
  return {
    id,
    layer,
    top,
    bottom,
    metrics,
    runDeferred: () => {
      while (deferred.length > 0) deferred.shift()!();
    },
  };
}

function install(ms: Member[], id: number, members: string[], key: Buffer): void {
  for (const m of ms) {
    const view: View = { group: GROUP, id, members };
    attachViewKey(view, key);
    m.layer.downEvent({ type: 'VIEW', view });
  }
}

/** What `from` sends down, as it reaches `to` off the wire: a fresh object, source set, NAK's number on ordered ones. */
function wire(from: Member, m: Message, seq = 0): Message {
  from.layer.down(m);
  from.runDeferred(); // reliable multicasts are sealed at the end of the burst
  const out = from.bottom.down.pop()!;
  const copy = new Message(out.dest, Buffer.from(out.payload), out.flags, out.htypes.slice(0, out.htop), out.hvalues.slice(0, out.htop));
  copy.src = from.id;
  copy.seq = seq;
  return copy;
}

function dropped(m: Member): number {
  return m.metrics.snapshot().counters['horus_crypt_dropped_total'] ?? 0;
}

function app(text: string, dest: string | null = null, flags?: number): Message {
  const m = new Message(dest, Buffer.from(text), flags);
  m.push(TOP, 7);
  return m;
}

describe('CRYPT', () => {
  const ab = ['a', 'b'];

  it('seals the payload and the headers above it, and restores both at a member of the view', () => {
    const [a, b] = [member('a'), member('b')];
    install([a, b], 1, ab, randomBytes(32));
    const m = wire(a, app('secret payload'), 1);
    assert.equal(m.payload.includes(Buffer.from('secret payload')), false, 'the payload is not on the wire in clear');
    assert.equal(m.htop, 1, 'only CRYPT header travels in clear');
    assert.equal(m.htypes[0], CRYPT_HEADER);
    b.layer.up(m);
    const got = b.top.up.pop()!;
    assert.equal(got.payload.toString(), 'secret payload');
    assert.equal(got.pop(TOP), 7);
    assert.equal(got.src, 'a');
  });

  it('drops tampered ciphertext and counts it', () => {
    const [a, b] = [member('a'), member('b')];
    install([a, b], 1, ab, randomBytes(32));
    const m = wire(a, app('hello'), 1);
    m.payload[3]! ^= 0x01;
    b.layer.up(m);
    assert.equal(b.top.up.length, 0);
    assert.equal(dropped(b), 1);
  });

  it('drops a replayed unordered frame, and a reliable multicast whose sequence number was changed', () => {
    const [a, b] = [member('a'), member('b')];
    install([a, b], 1, ab, randomBytes(32));
    const uni = wire(a, app('to b', 'b', MsgFlag.Unreliable));
    const copy = new Message(uni.dest, Buffer.from(uni.payload), uni.flags, uni.htypes.slice(), uni.hvalues.slice());
    copy.src = 'a';
    b.layer.up(uni);
    b.layer.up(copy);
    assert.equal(b.top.up.length, 1, 'the replay is not delivered');
    // "Copy the message and increment the seqno": NAK's number is the counter, bound into the nonce and associated data.
    const mc = wire(a, app('multicast'), 1);
    mc.seq = 2;
    b.layer.up(mc);
    assert.equal(b.top.up.length, 1);
    assert.equal(dropped(b), 2);
  });

  it('cannot be opened with another view key, and a view key does not open a copy moved to another sender', () => {
    const [a, b, c] = [member('a'), member('b'), member('c')];
    install([a, c], 1, ['a', 'b', 'c'], randomBytes(32));
    install([b], 1, ['a', 'b', 'c'], randomBytes(32));
    b.layer.up(wire(a, app('x'), 1));
    assert.equal(b.top.up.length, 0, 'wrong key');
    const moved = wire(a, app('y'), 2);
    moved.src = 'b';
    moved.seq = 1;
    c.layer.up(moved);
    assert.equal(c.top.up.length, 0, 'sender is associated data');
    assert.equal(dropped(b) + dropped(c), 2);
  });

  it("drops an expelled member's frames after the view that left it out, even sealed with the key it still holds", () => {
    const [a, b, c] = [member('a'), member('b'), member('c')];
    const k1 = randomBytes(32);
    install([a, b, c], 1, ['a', 'b', 'c'], k1);
    // c is excluded: a and b go on in view 2 with a key c never had.
    install([a, b], 2, ab, randomBytes(32));
    b.layer.up(wire(c, app('from the expelled member', 'b', MsgFlag.Unreliable)));
    b.layer.up(wire(c, app('multicast in its old view'), 1));
    assert.equal(b.top.up.length, 0);
    // And c cannot read view 2.
    c.layer.up(wire(a, app('view 2 traffic'), 1));
    assert.equal(c.top.up.length, 0);
    assert.ok(dropped(b) >= 2);
  });

  it('keeps the previous view key at a rotation: a late control message of the old view still opens; one of a newer view waits for its key', () => {
    const [a, b] = [member('a'), member('b')];
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    install([a, b], 1, ab, k1);
    const late = wire(a, app('sent in view 1', 'b', MsgFlag.Unreliable));
    install([b], 2, ab, k2);
    b.layer.up(late);
    assert.deepEqual(
      b.top.up.map((m) => m.payload.toString()),
      ['sent in view 1'],
    );
    // a is in view 3 already; b is not: held until b installs view 3, then heard.
    const k3 = randomBytes(32);
    install([a], 2, ab, k2);
    install([a], 3, ab, k3);
    b.layer.up(wire(a, app('sent in view 3', 'b', MsgFlag.Unreliable)));
    assert.equal(b.top.up.length, 1);
    install([b], 3, ab, k3);
    b.runDeferred();
    assert.deepEqual(
      b.top.up.map((m) => m.payload.toString()),
      ['sent in view 1', 'sent in view 3'],
    );
  });

  it('hears messages sealed with the key an Install brings in the same batch once the batch is through, not a loop turn later', () => {
    const [a, b] = [member('a'), member('b')];
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    install([a], 1, ab, k1);
    install([a], 2, ab, k2);
    // The coordinator's Install travels in clear to a joiner; what it sends next is sealed with the new key.
    const ins = new Message('b', Buffer.from('install'), MsgFlag.Unreliable);
    ins.push(GMS_HEADER, G.Install);
    const insWire = wire(a, ins);
    const chunk = wire(a, app('state chunk', 'b', MsgFlag.Unreliable));
    const heard: string[] = [];
    let installing = false;
    b.layer.above = {
      ...b.top.link,
      up: (m) => heard.push(m.payload.toString()),
      upBatch: (batch) => {
        for (const m of batch) {
          heard.push(m.payload.toString());
          if (m.payload.toString() === 'install') {
            // GMS installs the view (and its key) while handling the batch: nothing is heard from inside that.
            installing = true;
            install([b], 2, ab, k2);
            assert.deepEqual(heard, ['install'], 'nothing heard while the view is being installed');
            installing = false;
          }
        }
      },
    };
    b.layer.upBatch([insWire, chunk]);
    assert.equal(installing, false);
    assert.deepEqual(heard, ['install', 'state chunk'], 'heard as the batch ends, no deferred turn needed');
    b.runDeferred();
    assert.deepEqual(heard, ['install', 'state chunk'], 'and not twice');
  });

  it('sends only membership talk in clear, and hears nothing else in clear', () => {
    const [a, b] = [member('a'), member('b')];
    // No key yet (a joiner): its join request goes in clear; data does not go at all.
    const join = new Message('b', Buffer.from([0x80]), MsgFlag.Unreliable);
    join.push(GMS_HEADER, G.JoinReq);
    a.layer.down(join);
    assert.equal(a.bottom.down.length, 1);
    assert.equal(a.bottom.down[0]!.peek(GMS_HEADER), G.JoinReq);
    a.layer.down(app('data before any key'));
    assert.equal(a.bottom.down.length, 1);
    install([b], 1, ab, randomBytes(32));
    const forgedData = app('forged', null);
    forgedData.src = 'a';
    b.layer.up(forgedData);
    const gbcast = new Message('b', Buffer.from([0x80]), MsgFlag.Unreliable);
    gbcast.push(GMS_HEADER, G.Gbcast);
    gbcast.src = 'a';
    b.layer.up(gbcast);
    assert.equal(b.top.up.length, 0);
    assert.equal(dropped(b), 2);
  });

  it('hands our own looped-back multicast up without opening it', () => {
    const a = member('a');
    install([a], 1, ['a'], randomBytes(32));
    const original = app('mine');
    a.layer.down(original);
    a.runDeferred();
    const looped = a.bottom.down.pop()!;
    // COM loops the same object back; NAK numbers it.
    looped.src = 'a';
    looped.seq = 1;
    a.layer.up(looped);
    assert.equal(a.top.up[0], original);
    assert.equal(a.metrics.snapshot().counters['horus_crypt_opened_total'] ?? 0, 0);
  });

  it("seals a burst's reliable multicasts as one bundle under one NAK number, and opens it into the messages in order", () => {
    const [a, b] = [member('a'), member('b')];
    install([a, b], 1, ab, randomBytes(32));
    for (let i = 0; i < 5; i++) a.layer.down(app(`m${i}`));
    assert.equal(a.bottom.down.length, 0, 'held until the end of the burst');
    a.layer.down(app('to b', 'b', MsgFlag.Unreliable));
    assert.equal(a.bottom.down.length, 2, 'a unicast first sends the bundle before it, in order');
    const [bundle, uni] = a.bottom.down.map((m) => {
      const c = new Message(m.dest, Buffer.from(m.payload), m.flags, m.htypes.slice(0, m.htop), m.hvalues.slice(0, m.htop));
      c.src = 'a';
      return c;
    });
    bundle!.seq = 1;
    b.layer.up(bundle!);
    b.layer.up(uni!);
    assert.deepEqual(
      b.top.up.map((m) => m.payload.toString()),
      ['m0', 'm1', 'm2', 'm3', 'm4', 'to b'],
    );
    assert.ok(b.top.up.slice(0, 5).every((m) => m.seq === 1 && m.pop(TOP) === 7));
    assert.equal(a.metrics.snapshot().counters['horus_crypt_sealed_total'], 6);
  });

  it('keeps the causal flag of each message of a bundle, under a header count that still has its limit', () => {
    const [a, b] = [member('a'), member('b')];
    install([a, b], 1, ab, randomBytes(32));
    a.layer.down(app('causal', null, MsgFlag.Multicast | MsgFlag.Causal));
    a.layer.down(app('fifo'));
    const bundle = wire(a, app('causal too', null, MsgFlag.Multicast | MsgFlag.Causal), 1);
    assert.equal(bundle.flags, MsgFlag.Multicast, 'the bundle itself is a plain reliable multicast');
    b.layer.up(bundle);
    assert.deepEqual(
      b.top.up.map((m) => [m.payload.toString(), m.flags]),
      [
        ['causal', MsgFlag.Multicast | MsgFlag.Causal],
        ['fifo', MsgFlag.Multicast],
        ['causal too', MsgFlag.Multicast | MsgFlag.Causal],
      ],
    );
  });

  it('seals what is gathered before an event goes down: a flush digest counts it', () => {
    const a = member('a');
    install([a], 1, ['a'], randomBytes(32));
    a.layer.down(app('before the flush'));
    a.layer.downEvent({ type: 'FLUSH_FREEZE', digest: null });
    assert.equal(a.bottom.down.length, 1);
  });
});
