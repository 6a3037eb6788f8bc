import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Message, MsgFlag } from '../../../src/core/message.js';
import { ProtocolError } from '../../../src/core/errors.js';
import { messageFromBytes, messageToBytes } from '../../../src/codec/message-codec.js';
import { FrameBuilder, frameMessageRoom, readFrameGroup, readFrameMembership, readFrameMessages } from '../../../src/codec/frame.js';
import { NAK_HEADER } from '../../../src/layers/NAK.js';
import { FRAG_HEADER } from '../../../src/layers/FRAG.js';
import { APP_HEADER, appEncoding, appId, appKind, appOrder, AppKind } from '../../../src/api/app-header.js';
import '../../../src/layers/index.js';

function sample(payload: Buffer, seq: number, dest: string | null): Message {
  const m = new Message(dest, payload);
  m.push(APP_HEADER, { order: 0, encoding: 0, id: seq + 1 });
  m.push(FRAG_HEADER, { id: seq, index: 0, count: 1 });
  m.push(NAK_HEADER, { t: 1, view: 3, seq });
  return m;
}

describe('message codec', () => {
  it('round-trips payload, flags, destination and the header stack', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.nat({ max: 2 ** 40 }),
        fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: null }),
        (bytes, seq, dest) => {
          const m = sample(Buffer.from(bytes), seq, dest);
          const back = messageFromBytes(messageToBytes(m));
          assert.equal(back.dest, dest);
          assert.equal(back.flags, dest === null ? MsgFlag.Multicast : 0);
          assert.deepEqual(Buffer.from(back.payload), Buffer.from(bytes));
          // A data header decodes to its view's shared record; its number goes to the message.
          assert.deepEqual(back.pop(NAK_HEADER), { t: 1, view: 3 });
          assert.equal(back.seq, seq);
          assert.deepEqual(back.pop(FRAG_HEADER), { id: seq, index: 0, count: 1 });
          const app = back.pop(APP_HEADER)!;
          assert.deepEqual([appOrder(app), appEncoding(app), appId(app), appKind(app)], [0, 0, seq + 1, AppKind.Plain]);
          assert.equal(back.headerCount, 0);
        },
      ),
    );
  });

  it('reports truncated messages as ProtocolError, never anything else', () => {
    const whole = messageToBytes(sample(Buffer.alloc(10, 7), 12345, 'x:1/2'));
    for (let cut = 0; cut < whole.length - 10; cut++) {
      assert.throws(() => messageFromBytes(whole.subarray(0, cut)), ProtocolError, `cut at ${cut}`);
    }
  });

  it('batches messages into a frame that names its group', () => {
    const b = new FrameBuilder('trading');
    for (let i = 1; i <= 100; i++) b.add(sample(Buffer.from(`m${i}`), i, null));
    const frame = Buffer.from(b.finish());
    const { group, offset: at } = readFrameGroup(frame);
    assert.equal(group, 'trading');
    const { membership, offset } = readFrameMembership(frame, at);
    assert.equal(membership, 1, "a builder's frames are the first membership's unless it is told");
    const seqs: number[] = [];
    readFrameMessages(frame, offset, (m) => seqs.push(m.take(NAK_HEADER).t === 1 ? Number(m.payload.toString().slice(1)) : -1));
    assert.deepEqual(
      seqs,
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
  });

  it("names the sender's membership (node~n) in every frame, and refuses a frame that claims none", () => {
    const b = new FrameBuilder('g', 7);
    b.add(sample(Buffer.from('x'), 1, null));
    const frame = Buffer.from(b.finish());
    const { offset } = readFrameGroup(frame);
    assert.equal(readFrameMembership(frame, offset).membership, 7);
    const zero = Buffer.from(frame);
    zero[offset] = 0;
    assert.throws(() => readFrameMembership(zero, offset), ProtocolError);
    assert.throws(() => new FrameBuilder('g', 0), RangeError);
  });

  it('skips a malformed message inside an intact frame, reading none of its neighbours, when asked to', () => {
    const b = new FrameBuilder('g');
    b.add(sample(Buffer.from('first'), 1, null));
    // A message whose NAK header claims a 40-byte origin id but is 2 bytes long: its decoder must
    // stop at the message's end, not read on into the next message.
    const at = b.w.reserveU32();
    b.w.u8(MsgFlag.Multicast);
    b.w.u8(1);
    b.w.u8(NAK_HEADER.id);
    b.w.u8(2);
    b.w.uvar(1);
    b.w.uvar(40);
    b.w.bytes(Buffer.from('ab'));
    b.w.patchU32(at, b.w.pos - at - 4);
    b.count++;
    b.add(sample(Buffer.from('third'), 3, null));
    const frame = Buffer.from(b.finish());
    const { offset } = readFrameMembership(frame, readFrameGroup(frame).offset);
    const good: string[] = [];
    const bad: number[] = [];
    readFrameMessages(
      frame,
      offset,
      (m) => good.push(m.payload.toString()),
      (err, i) => {
        assert.ok(err instanceof ProtocolError);
        assert.match(err.message, /truncated/);
        bad.push(i);
      },
    );
    assert.deepEqual(good, ['first', 'third']);
    assert.deepEqual(bad, [1]);
    assert.throws(() => readFrameMessages(frame, offset, () => {}), ProtocolError, 'without onBad the first bad message still throws');
  });

  it('throws only ProtocolError on random or mutated frames (fuzz)', () => {
    const b = new FrameBuilder('g');
    for (let i = 0; i < 5; i++) b.add(sample(Buffer.from('payload'), i, i % 2 ? null : 'a:1/x'));
    const good = Buffer.from(b.finish());
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
          fc.tuple(fc.nat({ max: good.length - 1 }), fc.nat({ max: 255 })).map(([i, v]) => {
            const c = Buffer.from(good);
            c[i] = v;
            return c;
          }),
          fc.nat({ max: good.length }).map((n) => good.subarray(0, n)),
        ),
        (frame) => {
          try {
            const { offset } = readFrameMembership(frame, readFrameGroup(frame).offset);
            readFrameMessages(frame, offset, () => {});
          } catch (err) {
            assert.ok(err instanceof ProtocolError, `unexpected ${(err as Error).name}: ${(err as Error).message}`);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
  it("decodes a view's data headers to one shared record, each message's number in its seq", () => {
    const b = new FrameBuilder('g');
    for (const seq of [7, 8, 9]) b.add(sample(Buffer.from(`m${seq}`), seq, null));
    const frame = b.finish();
    const got: Message[] = [];
    readFrameMessages(frame, readFrameMembership(frame, readFrameGroup(frame).offset).offset, (m) => got.push(m));
    assert.deepEqual(
      got.map((m) => m.seq),
      [7, 8, 9],
    );
    const headers = got.map((m) => m.peek(NAK_HEADER));
    assert.equal(headers[0], headers[1], 'one record for the view');
    assert.equal(headers[1], headers[2]);
    // Encoded again (NAK keeps a message's bytes, or re-encodes one that came in no frame), the number comes from seq.
    const again = messageFromBytes(messageToBytes(got[1]!));
    assert.equal(again.seq, 8);
    assert.deepEqual(again.peek(NAK_HEADER), { t: 1, view: 3 });
  });

  it('shares one array of header types among decoded messages with the same types, and copies it before a push writes', () => {
    const a = messageFromBytes(messageToBytes(sample(Buffer.from('a'), 1, null)));
    const b = messageFromBytes(messageToBytes(sample(Buffer.from('b'), 2, null)));
    assert.equal(a.htypes, b.htypes, 'one array for both');
    // What NAK does to retransmit a kept message: cut at its header, push another.
    a.htop = 2;
    a.push(NAK_HEADER, { t: 2, view: 3, origin: 'x', seq: 1 });
    a.push(APP_HEADER, { order: 0, encoding: 0, id: 9 });
    assert.notEqual(a.htypes, b.htypes);
    assert.deepEqual(
      b.htypes.slice(0, b.htop).map((t) => t.name),
      ['APP', 'FRAG', 'NAK'],
      "the other message's types are untouched",
    );
    assert.deepEqual(
      a.htypes.slice(0, a.htop).map((t) => t.name),
      ['APP', 'FRAG', 'NAK', 'APP'],
    );
    const c = messageFromBytes(messageToBytes(sample(Buffer.from('c'), 3, null)));
    assert.deepEqual(c.peek(NAK_HEADER), { t: 1, view: 3 });
    assert.equal(c.seq, 3);
    assert.deepEqual(
      c.htypes.map((t) => t.name),
      ['APP', 'FRAG', 'NAK'],
    );
    // A message with other types of the same count gets an array of its own.
    const other = new Message(null, Buffer.from('d'));
    other.push(APP_HEADER, { order: 0, encoding: 0, id: 1 });
    other.push(NAK_HEADER, { t: 1, view: 3, seq: 4 });
    other.push(FRAG_HEADER, { id: 4, index: 0, count: 1 });
    const d = messageFromBytes(messageToBytes(other));
    assert.deepEqual(
      d.htypes.map((t) => t.name),
      ['APP', 'NAK', 'FRAG'],
    );
    assert.deepEqual(
      c.htypes.map((t) => t.name),
      ['APP', 'FRAG', 'NAK'],
    );
    const none = messageFromBytes(messageToBytes(new Message(null, Buffer.from('e'))));
    assert.equal(none.htop, 0);
    none.push(APP_HEADER, { order: 0, encoding: 0, id: 2 });
    assert.equal(messageFromBytes(messageToBytes(new Message(null, Buffer.from('f')))).htypes.length, 0, 'the shared empty array stays empty');
  });
  it("a frame's room for messages is the count it claims, but never more than its bytes can hold", () => {
    const b = new FrameBuilder('g');
    for (const seq of [1, 2, 3]) b.add(sample(Buffer.from(`m${seq}`), seq, null));
    const frame = b.finish();
    const at = readFrameMembership(frame, readFrameGroup(frame).offset).offset;
    assert.equal(frameMessageRoom(frame, at), 3);
    // A hostile count over a short frame sizes nothing large.
    const forged = Buffer.from(frame);
    forged.writeUInt32BE(65536, at);
    assert.ok(frameMessageRoom(forged, at) <= Math.floor((forged.length - at - 4) / 6));
    assert.throws(() => frameMessageRoom(frame, frame.length - 2), ProtocolError);
  });
});
