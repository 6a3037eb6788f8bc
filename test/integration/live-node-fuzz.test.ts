// A live member under hostile input: while three real processes exchange fbcast traffic, raw TCP
// connections throw random bytes, broken handshakes, truncated and oversized frames, and well-formed
// frames from a stranger at one member. That member must stay up and keep delivering to and from its
// peers, and every message must still reach everyone, in order, once.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { FrameBuilder } from '../../src/codec/frame.js';
import { HeaderIds } from '../../src/codec/header-registry.js';
import { Message, MsgFlag, type HeaderType } from '../../src/core/message.js';
import { FRAME_HEADER_BYTES, DEFAULT_MAX_FRAME_SIZE, encodeFrames } from '../../src/transport/frame-decoder.js';
import { HELLO_ACCEPT, HELLO_CONNECT, MAX_HELLO_FRAME, encodeHello } from '../../src/transport/tcp-transport.js';
import { Cluster } from '../helpers/cluster.js';
import type { Summary } from '../helpers/member-process.js';

const MEMBERS = 3;
const GROUP = 'g';
const RUNS = 200;
/** Messages per member while the fuzzer runs (paced so traffic overlaps it), then at full speed after. */
const DURING = 15_000;
const AFTER = 10_000;
const SIZE = 64;

// --- what the fuzzer sends -------------------------------------------------------------------------

/** A stranger's id: low ports where nothing listens, so replies the node sends it fail fast. */
const strangerId = fc
  .record({ port: fc.integer({ min: 1, max: 8 }), inc: fc.stringMatching(/^[a-z0-9]{1,8}$/) })
  .map(({ port, inc }) => `127.0.0.1:${port}/${inc}`);

const helloOf = (id: string): Buffer => encodeFrames([encodeHello(HELLO_CONNECT, id)]);

function lengthPrefix(n: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/**
 * A header written as raw bytes under a real layer's id, so the layer's own decoder reads it. Raw
 * bodies keep the test independent of each layer's header layout, which changes as layers grow.
 */
const rawHeaders = new Map<number, HeaderType<Uint8Array>>();
function rawHeader(id: number): HeaderType<Uint8Array> {
  let t = rawHeaders.get(id);
  if (t === undefined) {
    t = { id, name: `raw-${id}`, encode: (w, b) => w.bytes(b), decode: (r) => r.rest() };
    rawHeaders.set(id, t);
  }
  return t;
}

/** Header bodies that often parse: a small type byte, then short varints and strings. */
const headerBody = fc.oneof(
  // Tiny values: type tags, view ids and sequence numbers a layer will take for its own.
  fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 2, maxLength: 6 }).map((b) => Uint8Array.from(b)),
  fc.array(fc.integer({ min: 0, max: 0x7f }), { minLength: 1, maxLength: 8 }).map((b) => Uint8Array.from(b)),
  fc
    .record({ t: fc.integer({ min: 0, max: 5 }), origin: strangerId, nums: fc.array(fc.integer({ min: 0, max: 0x7f }), { maxLength: 4 }) })
    .map(({ t, origin, nums }) => {
      const id = Buffer.from(origin);
      return Uint8Array.from([t, ...nums.slice(0, 1), id.length, ...id, ...nums.slice(1)]);
    }),
  fc.uint8Array({ maxLength: 24 }),
);

const LAYER_IDS = Object.values(HeaderIds);

/** A message with headers under real layer ids (or any id) and arbitrary bodies. */
const layerMessage = fc
  .record({
    headers: fc.array(fc.record({ id: fc.oneof(fc.constantFrom(...LAYER_IDS), fc.integer({ min: 0, max: 255 })), body: headerBody }), { maxLength: 4 }),
    payload: fc.uint8Array({ maxLength: 300 }),
    unicastTo: fc.option(fc.oneof(strangerId, fc.string({ maxLength: 40 })), { nil: undefined }),
  })
  .map(({ headers, payload, unicastTo }) => {
    const m = new Message(unicastTo ?? null, Buffer.from(payload), unicastTo === undefined ? MsgFlag.Multicast : 0);
    for (const h of headers) m.push(rawHeader(h.id), h.body);
    return m;
  });

/** A group frame as COM builds it, optionally with one byte changed. */
const groupFrame = (groupName: fc.Arbitrary<string>): fc.Arbitrary<Buffer> =>
  fc
    .record({
      name: groupName,
      msgs: fc.array(layerMessage, { minLength: 0, maxLength: 6 }),
      flip: fc.option(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { nil: undefined }),
    })
    .map(({ name, msgs, flip }) => {
      const b = new FrameBuilder(name);
      for (const m of msgs) b.add(m);
      const frame = Buffer.from(b.finish());
      if (flip !== undefined && frame.length > 0) frame[flip.at % frame.length] = flip.value;
      return frame;
    });

interface Attack {
  name: string;
  bytes: Buffer;
  /** Where to split the writes, so frames straddle TCP reads. */
  cuts: number[];
}

const attack: fc.Arbitrary<Omit<Attack, 'cuts'>> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((b) => ({ name: 'random bytes', bytes: Buffer.from(b) })),
  fc
    .record({ id: strangerId, at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom(HELLO_CONNECT, HELLO_ACCEPT, 0, 3) })
    .map(({ id, at, value, kind }) => {
      const body = encodeHello(HELLO_CONNECT, id);
      body[5] = kind;
      body[at % body.length] = value;
      return { name: 'corrupted HELLO', bytes: encodeFrames([body]) };
    }),
  fc
    .record({
      hello: fc.option(strangerId, { nil: undefined }),
      declared: fc.integer({ min: 2, max: 100_000 }),
      frac: fc.double({ min: 0, max: 0.99, noNaN: true }),
    })
    .map(({ hello, declared, frac }) => {
      const limit = hello === undefined ? MAX_HELLO_FRAME : declared;
      const n = Math.min(declared, limit);
      const body = Buffer.alloc(Math.floor(n * frac), 0x5a);
      return { name: 'truncated frame', bytes: Buffer.concat([hello !== undefined ? helloOf(hello) : Buffer.alloc(0), lengthPrefix(n), body]) };
    }),
  fc.record({ hello: fc.option(strangerId, { nil: undefined }), over: fc.nat({ max: 0xffff_ffff }) }).map(({ hello, over }) => {
    const limit = hello === undefined ? MAX_HELLO_FRAME : DEFAULT_MAX_FRAME_SIZE;
    const n = limit + 1 + (over % (0xffff_ffff - limit));
    return { name: 'oversized length', bytes: Buffer.concat([hello !== undefined ? helloOf(hello) : Buffer.alloc(0), lengthPrefix(n), Buffer.alloc(16, 1)]) };
  }),
  fc
    .record({ id: strangerId, frames: fc.array(fc.uint8Array({ maxLength: 512 }), { minLength: 1, maxLength: 8 }) })
    .map(({ id, frames }) => ({ name: 'HELLO then garbage frames', bytes: Buffer.concat([helloOf(id), encodeFrames(frames)]) })),
  fc
    .record({
      id: strangerId,
      frames: fc.array(groupFrame(fc.string({ minLength: 1, maxLength: 60 }).filter((s) => s !== GROUP)), { minLength: 1, maxLength: 6 }),
    })
    .map(({ id, frames }) => ({ name: 'frames for unknown groups', bytes: Buffer.concat([helloOf(id), encodeFrames(frames)]) })),
  fc
    .record({ id: strangerId, frames: fc.array(groupFrame(fc.constant(GROUP)), { minLength: 1, maxLength: 6 }) })
    .map(({ id, frames }) => ({ name: "stranger's frames for the live group", bytes: Buffer.concat([helloOf(id), encodeFrames(frames)]) })),
);

const attacks: fc.Arbitrary<Attack> = fc
  .record({ a: attack, cuts: fc.array(fc.nat(), { maxLength: 3 }) })
  .map(({ a, cuts }) => ({ ...a, cuts: [...new Set(cuts.map((c) => c % a.bytes.length))].sort((x, y) => x - y) }));

/** One connection: write the attack in pieces, half-close, and wait (briefly) for the node to hang up. */
async function throwAt(port: number, a: Attack): Promise<void> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {}); // the node resets us on bad input: expected
  s.resume(); // swallow its HELLO_ACCEPT
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    let from = 0;
    for (const cut of [...a.cuts, a.bytes.length]) {
      if (cut <= from) continue;
      if (s.destroyed) break;
      const piece = a.bytes.subarray(from, cut);
      await new Promise<void>((resolve) => s.write(piece, () => resolve()));
      from = cut;
    }
    s.end();
    await Promise.race([new Promise<void>((resolve) => s.once('close', () => resolve())), sleep(300)]);
  } finally {
    s.destroy();
  }
}

function assertAllDelivered(summaries: Summary[], memberIds: readonly string[], perSender: number): void {
  const sentHash = new Map(summaries.map((s) => [s.memberId, s.sentHash]));
  for (const s of summaries) {
    assert.deepEqual(s.violations, [], `${s.endpoint} saw violations`);
    assert.deepEqual(s.senders.map((x) => x.src).sort(), [...memberIds].sort(), `${s.endpoint} delivered from exactly the members`);
    for (const x of s.senders) {
      assert.equal(x.count, perSender, `${s.endpoint} from ${x.src}: count`);
      assert.equal(x.lastId, perSender, `${s.endpoint} from ${x.src}: last id`);
      assert.equal(x.gaps + x.duplicates + x.corrupt, 0, `${s.endpoint} from ${x.src}: gaps/duplicates/corrupt`);
      assert.equal(x.hash, sentHash.get(x.src), `${s.endpoint} from ${x.src}: payload hash`);
    }
  }
}

describe('a live member under hostile input', () => {
  it(`stays up and keeps delivering through ${RUNS} fuzzed connections`, { timeout: 120_000 }, async (t) => {
    const t0 = performance.now();
    // Warnings about bad input are expected by the hundred here: keep the output to real errors.
    const cluster = await Cluster.start({ size: MEMBERS, group: GROUP, verify: true, logLevel: 'error' });
    try {
      const target = cluster.members[0]!;
      const port = Number(target.endpoint.slice(target.endpoint.lastIndexOf(':') + 1));

      // Paced traffic, so the fuzzing overlaps it.
      const during = cluster.phase({ count: DURING, size: SIZE, burst: 100, intervalMs: 15, timeoutMs: 60_000 });
      let trafficRunning = true;
      during.then(
        () => (trafficRunning = false),
        () => (trafficRunning = false), // awaited below; a fuzz failure first must not make this an unhandled rejection
      );
      let overlapping = 0;
      const kinds = new Map<string, number>();
      const tf = performance.now();
      await fc.assert(
        fc.asyncProperty(attacks, async (a) => {
          kinds.set(a.name, (kinds.get(a.name) ?? 0) + 1);
          if (trafficRunning) overlapping++;
          await throwAt(port, a);
          assert.ok(target.alive, `the target exited (${target.fatal.join('; ')})`);
        }),
        { numRuns: RUNS },
      );
      const fuzzMs = performance.now() - tf;
      await during;
      assert.ok(overlapping > 0, 'no fuzzed connection while traffic was flowing');

      // After the fuzzing: full speed, through the same member.
      await cluster.phase({ count: AFTER, size: SIZE, timeoutMs: 60_000 });
      const summaries = await cluster.summaries();
      assert.ok(
        cluster.members.every((m) => m.alive && m.fatal.length === 0),
        'every member is still running',
      );
      assertAllDelivered(summaries, cluster.memberIds, DURING + AFTER);

      // The fuzz reached the layers it aimed at, and was dropped there.
      const ts = summaries[0]!.transport!;
      const counters = summaries[0]!.metrics.counters;
      assert.ok(ts.malformed > 0, 'no connection was closed for bad input');
      assert.ok((counters['horus_node_unknown_group_frames_total'] ?? 0) > 0, 'no frame for an unknown group was seen');
      assert.ok((counters['horus_com_malformed_total'] ?? 0) + (counters['horus_node_malformed_frames_total'] ?? 0) > 0, 'no malformed group frame was seen');
      // Fuzz connections do not linger: only the two peers' connections stay open.
      for (let i = 0; ; i++) {
        const open = (await target.summary()).transport!.openInbound;
        if (open === MEMBERS - 1) break;
        assert.ok(i < 40, `${open} inbound connections still open at the target`);
        await sleep(50);
      }
      t.diagnostic(
        `fuzz ${(fuzzMs / 1000).toFixed(1)} s (${overlapping} of ${RUNS} connections during traffic), whole test ${((performance.now() - t0) / 1000).toFixed(1)} s; ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`,
      );
      t.diagnostic(
        `target: ${ts.malformed} connections closed for bad input, unknown-group frames ${counters['horus_node_unknown_group_frames_total'] ?? 0}, ` +
          `malformed group frames ${(counters['horus_com_malformed_total'] ?? 0) + (counters['horus_node_malformed_frames_total'] ?? 0)}, handler errors ${ts.handlerErrors}, RSS ${(summaries[0]!.rss / 2 ** 20).toFixed(0)} MiB`,
      );
    } finally {
      await cluster.close();
    }
  });
});
